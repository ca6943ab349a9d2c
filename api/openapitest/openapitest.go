// Package openapitest holds HTTP answers to latchkey's OpenAPI document
// (GET /v1/openapi.json), for the tests of the API and of the binary.
// Only tests import it, so that the validator stays out of the binary.
package openapitest

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/legacy"
)

// Document is a loaded, valid OpenAPI document. It is safe for
// concurrent use.
type Document struct {
	router routers.Router
	// errorSchema is the shape of the answers no route gives (404, 405).
	errorSchema *openapi3.Schema
}

// Parse loads the document in data and checks that it is valid OpenAPI.
func Parse(data []byte) (*Document, error) {
	doc, err := openapi3.NewLoader().LoadFromData(data)
	if err != nil {
		return nil, fmt.Errorf("openapitest: load: %w", err)
	}
	router, err := legacy.NewRouter(doc) // validates the document
	if err != nil {
		return nil, fmt.Errorf("openapitest: %w", err)
	}
	d := &Document{router: router}
	if ref := doc.Components.Schemas["Error"]; ref != nil {
		d.errorSchema = ref.Value
	}
	if d.errorSchema == nil {
		return nil, errors.New("openapitest: the document has no Error schema")
	}
	return d, nil
}

// Validate reports where the answer (status, header, body) to req breaks
// the document: a status the operation does not list, a header it
// requires missing or malformed, a body not of its schema. An answer to
// a path or method the document lacks must be a 404 or 405 with an Error
// body. HEAD answers are not checked.
func (d *Document) Validate(req *http.Request, status int, header http.Header, body []byte) error {
	route, params, err := d.router.FindRoute(req)
	if err != nil {
		return d.validateUnrouted(req, status, header, body)
	}
	in := &openapi3filter.ResponseValidationInput{
		RequestValidationInput: &openapi3filter.RequestValidationInput{Request: req, PathParams: params, Route: route},
		Status:                 status,
		Header:                 header,
		Body:                   io.NopCloser(bytes.NewReader(body)),
		Options:                &openapi3filter.Options{IncludeResponseStatus: true, MultiError: true},
	}
	if err := openapi3filter.ValidateResponse(context.Background(), in); err != nil {
		return fmt.Errorf("%s %s: %d %s: %w", req.Method, req.URL.Path, status, body, err)
	}
	return nil
}

func (d *Document) validateUnrouted(req *http.Request, status int, header http.Header, body []byte) error {
	if req.Method == http.MethodHead {
		return nil
	}
	if status != http.StatusNotFound && status != http.StatusMethodNotAllowed {
		return fmt.Errorf("%s %s: %d, the document has no such operation", req.Method, req.URL.Path, status)
	}
	if ct := header.Get("Content-Type"); ct != "application/json" {
		return fmt.Errorf("%s %s: %d with Content-Type %q", req.Method, req.URL.Path, status, ct)
	}
	var v any
	if err := json.Unmarshal(body, &v); err != nil {
		return fmt.Errorf("%s %s: %d %s: %w", req.Method, req.URL.Path, status, body, err)
	}
	if err := d.errorSchema.VisitJSON(v, openapi3.VisitAsResponse()); err != nil {
		return fmt.Errorf("%s %s: %d %s: not an Error: %w", req.Method, req.URL.Path, status, body, err)
	}
	return nil
}

// Check is Validate reported with tb.Errorf, which any goroutine may call.
func (d *Document) Check(tb testing.TB, req *http.Request, status int, header http.Header, body []byte) {
	tb.Helper()
	if err := d.Validate(req, status, header, body); err != nil {
		tb.Errorf("the answer breaks the OpenAPI document: %v", err)
	}
}
