package api_test

import (
	"bytes"
	"encoding/json"
	"testing"
)

// TestOpenAPIServed fetches the document under both names: the same
// bytes, a JSON object, each with its content type.
func TestOpenAPIServed(t *testing.T) {
	e := newEnv(t, envOptions{})
	var bodies [][]byte
	for _, tc := range []struct{ path, contentType string }{
		{"/v1/openapi.json", "application/json"},
		{"/v1/openapi.yaml", "application/yaml"},
	} {
		t.Run(tc.path, func(t *testing.T) {
			r := e.do(t, "GET", tc.path, "", "", nil)
			if r.status != 200 {
				t.Fatalf("status %d", r.status)
			}
			if ct := r.header.Get("Content-Type"); ct != tc.contentType {
				t.Errorf("Content-Type %q, want %q", ct, tc.contentType)
			}
			var doc struct {
				OpenAPI string         `json:"openapi"`
				Paths   map[string]any `json:"paths"`
			}
			if err := json.Unmarshal(r.body, &doc); err != nil {
				t.Fatalf("not JSON: %v", err)
			}
			if doc.OpenAPI != "3.0.3" || len(doc.Paths) == 0 {
				t.Errorf("openapi %q with %d paths", doc.OpenAPI, len(doc.Paths))
			}
			bodies = append(bodies, r.body)
		})
	}
	if len(bodies) == 2 && !bytes.Equal(bodies[0], bodies[1]) {
		t.Error("the JSON and YAML documents differ")
	}
}
