package api_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/latchkeyhq/latchkey/api"
	"github.com/latchkeyhq/latchkey/ui"
)

// TestUI: with the login page on, every answer under /ui/ (the files, a
// 304, a 404 for a file that does not exist) carries its policy; with it
// off, /ui/ is not found.
func TestUI(t *testing.T) {
	pages, err := ui.New(ui.Options{Captcha: ui.Captcha{Provider: "pow", Always: true}})
	if err != nil {
		t.Fatal(err)
	}
	policy := ui.Policy("pow")
	e := newEnv(t, envOptions{api: api.Options{UI: pages}})
	noRedirect := *e.srv.Client()
	noRedirect.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }

	get := func(t *testing.T, path string, header ...string) response {
		t.Helper()
		req, err := http.NewRequest("GET", e.srv.URL+path, nil)
		if err != nil {
			t.Fatal(err)
		}
		for i := 0; i+1 < len(header); i += 2 {
			req.Header.Set(header[i], header[i+1])
		}
		res, err := noRedirect.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		return response{status: res.StatusCode, header: res.Header}
	}

	index := get(t, "/ui/")
	for _, tc := range []struct {
		name, path string
		header     []string
		status     int
		ctype      string
	}{
		{"index", "/ui/", nil, 200, "text/html; charset=utf-8"},
		{"account", "/ui/account.html", nil, 200, "text/html; charset=utf-8"},
		{"script", "/ui/login.js", nil, 200, "text/javascript; charset=utf-8"},
		{"stylesheet", "/ui/style.css", nil, 200, "text/css; charset=utf-8"},
		{"config", "/ui/config.json", nil, 200, "application/json"},
		{"not modified", "/ui/", []string{"If-None-Match", index.header.Get("ETag")}, 304, ""},
		{"no such file", "/ui/nothing.js", nil, 404, "application/json"},
		{"no file below", "/ui/a/b.js", nil, 404, "application/json"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := get(t, tc.path, tc.header...)
			if r.status != tc.status {
				t.Fatalf("status %d, want %d", r.status, tc.status)
			}
			if tc.ctype != "" && r.header.Get("Content-Type") != tc.ctype {
				t.Errorf("Content-Type %q, want %q", r.header.Get("Content-Type"), tc.ctype)
			}
			if tc.path == "/ui/a/b.js" {
				return // routed nowhere: the API's 404
			}
			if got := r.header.Get("Content-Security-Policy"); got != policy {
				t.Errorf("Content-Security-Policy %q, want %q", got, policy)
			}
			if r.header.Get("X-Content-Type-Options") != "nosniff" || r.header.Get("Referrer-Policy") != "no-referrer" {
				t.Errorf("headers %v", r.header)
			}
		})
	}

	if r := e.do(t, "POST", "/ui/", "", "", nil); r.status != http.StatusMethodNotAllowed {
		t.Errorf("POST /ui/: %d", r.status)
	}
	if r := e.do(t, "GET", "/ui/", "", "", nil); !strings.Contains(string(r.body), `src="login.js"`) {
		t.Errorf("GET /ui/: %.200s", r.body)
	}
}

func TestUIOff(t *testing.T) {
	e := newEnv(t, envOptions{})
	for _, path := range []string{"/ui", "/ui/", "/ui/login.js"} {
		r := e.do(t, "GET", path, "", "", nil)
		if r.status != http.StatusNotFound || r.json(t)["code"] != "not_found" {
			t.Errorf("GET %s: %d %s", path, r.status, r.body)
		}
		if r.header.Get("Content-Security-Policy") != "" {
			t.Errorf("GET %s: a policy without the page", path)
		}
	}
}
