package api

import (
	"encoding/json"
	"net/http"
	"slices"
	"strings"
	"testing"
)

// patterns records the patterns routes registers.
type patterns []string

func (p *patterns) Handle(pattern string, _ http.Handler) { *p = append(*p, pattern) }

// openapiMethods are the methods an OpenAPI 3.0 path item can name.
var openapiMethods = []string{"GET", "PUT", "POST", "DELETE", "OPTIONS", "HEAD", "PATCH", "TRACE"}

// TestOpenAPICoversRoutes holds the routes registered in routes.go and
// the document's operations to each other, both ways: a route missing
// from the document, or an operation the mux lacks, fails. A pattern
// without a method (any method) must be a path item marked
// x-any-method that lists every method. A pattern ending in {$} (that
// path exactly) is the document's path without it; a pattern ending in
// a slash matches a whole subtree, which no OpenAPI path describes, and
// fails.
func TestOpenAPICoversRoutes(t *testing.T) {
	var registered patterns
	(&server{}).routes(&registered)

	var doc struct {
		Paths map[string]map[string]json.RawMessage `json:"paths"`
	}
	if err := json.Unmarshal(openapiDoc, &doc); err != nil {
		t.Fatalf("the document is not JSON: %v", err)
	}
	documented := map[string]bool{}
	for path, item := range doc.Paths {
		for key := range item {
			if m := strings.ToUpper(key); slices.Contains(openapiMethods, m) {
				documented[m+" "+path] = true
			}
		}
	}

	routed := map[string]bool{}
	for _, p := range registered {
		method, path, ok := strings.Cut(p, " ")
		if !ok {
			path = method
		}
		if strings.HasSuffix(path, "/") {
			t.Errorf("%q matches every path below it, which the document cannot list: end it in {$}, or name a path segment", p)
		}
		path = strings.TrimSuffix(path, "{$}")
		if !ok {
			if string(doc.Paths[path]["x-any-method"]) != "true" {
				t.Errorf("%q takes any method; the document's %s is not marked x-any-method", p, path)
			}
			for _, m := range openapiMethods {
				routed[m+" "+path] = true
			}
			continue
		}
		routed[method+" "+path] = true
	}

	for op := range routed {
		if !documented[op] {
			t.Errorf("%s is routed (routes.go) but not in the document", op)
		}
	}
	for op := range documented {
		if !routed[op] {
			t.Errorf("%s is in the document but routed nowhere (routes.go)", op)
		}
	}
}

// OpenAPIDocument is the embedded document, for the API tests to hold
// every answer to.
var OpenAPIDocument = openapiDoc
