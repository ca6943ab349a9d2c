package api

import (
	_ "embed"
	"net/http"
)

// openapiDoc is the OpenAPI 3.0 document of every route, written by
// hand. It is JSON, which is also YAML 1.2, so that the same bytes serve
// both names without a YAML encoder in the binary. A test holds it to
// the routes registered in routes.go, and the API tests hold every
// answer they receive to it.
//
//go:embed openapi.json
var openapiDoc []byte

var contentTypeYAML = []string{"application/yaml"}

// handleOpenAPI answers with the document, its Content-Type ct
// (contentTypeJSON or contentTypeYAML).
func (s *server) handleOpenAPI(ct []string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h["Content-Type"] = ct
		h["X-Content-Type-Options"] = noSniff
		w.WriteHeader(http.StatusOK)
		w.Write(openapiDoc)
	})
}
