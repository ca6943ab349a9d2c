package api

import (
	"net/http"

	"github.com/latchkeyhq/latchkey"
)

// UI is the login page (package ui), served under /ui/ when set. Its
// answers, and the errors under /ui/, carry its headers: the
// Content-Security-Policy and the like.
type UI interface {
	// Header sets on h the headers of every answer under /ui/.
	Header(h http.Header)
	// File returns the handler of the file named name ("index.html" for
	// /ui/ itself), or nil when there is no such file.
	File(name string) http.Handler
}

// handleUI serves the file that the {file} of the path names, or the
// index for /ui/; 404 without a UI.
func (s *server) handleUI(index bool) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if s.opt.UI == nil {
			s.writeError(w, r, latchkey.ErrNotFound)
			return
		}
		s.opt.UI.Header(w.Header())
		name := "index.html"
		if !index {
			name = r.PathValue("file")
		}
		h := s.opt.UI.File(name)
		if h == nil {
			s.writeError(w, r, latchkey.ErrNotFound)
			return
		}
		h.ServeHTTP(w, r)
	})
}
