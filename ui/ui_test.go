package ui_test

import (
	"encoding/json"
	"fmt"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/latchkeyhq/latchkey/ui"
)

const strictPolicy = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; frame-src 'none'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"

func TestPolicy(t *testing.T) {
	for _, tc := range []struct {
		provider string
		want     []string // in script-src, frame-src and connect-src
	}{
		{"none", nil},
		{"pow", nil},
		{"recaptcha", []string{"https://www.google.com/recaptcha/", "https://www.gstatic.com/recaptcha/"}},
		{"hcaptcha", []string{"https://hcaptcha.com", "https://*.hcaptcha.com"}},
		{"turnstile", []string{"https://challenges.cloudflare.com"}},
	} {
		t.Run(tc.provider, func(t *testing.T) {
			got := ui.Policy(tc.provider)
			if tc.want == nil {
				if got != strictPolicy {
					t.Fatalf("policy\n got %s\nwant %s", got, strictPolicy)
				}
				return
			}
			directives := map[string]string{}
			for _, d := range strings.Split(got, "; ") {
				name, value, _ := strings.Cut(d, " ")
				directives[name] = value
			}
			for _, d := range []string{"script-src", "frame-src", "connect-src"} {
				for _, h := range tc.want {
					if !strings.Contains(" "+directives[d]+" ", " "+h+" ") {
						t.Errorf("%s lacks %s: %s", d, h, got)
					}
				}
			}
			for _, d := range []string{"default-src 'none'", "img-src 'self' data:", "form-action 'self'", "frame-ancestors 'none'", "base-uri 'none'"} {
				if !strings.Contains(got, d) {
					t.Errorf("policy lacks %q: %s", d, got)
				}
			}
			if strings.Contains(got, "unsafe-") {
				t.Errorf("policy allows unsafe sources: %s", got)
			}
		})
	}
}

func TestNeedsSiteKey(t *testing.T) {
	for _, p := range []string{"recaptcha", "hcaptcha", "turnstile"} {
		if _, err := ui.New(ui.Options{Captcha: ui.Captcha{Provider: p}}); err == nil {
			t.Errorf("%s without a site key: no error", p)
		}
	}
	for _, p := range []string{"none", "pow"} {
		if _, err := ui.New(ui.Options{Captcha: ui.Captcha{Provider: p}}); err != nil {
			t.Errorf("%s: %v", p, err)
		}
	}
}

// TestFiles: every file answers with the policy, the other security
// headers, its type, and an ETag that a conditional request meets.
func TestFiles(t *testing.T) {
	p, err := ui.New(ui.Options{Captcha: ui.Captcha{Provider: "pow", Always: true}})
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{
		"Content-Security-Policy": strictPolicy,
		"X-Content-Type-Options":  "nosniff",
		"Referrer-Policy":         "no-referrer",
		"X-Frame-Options":         "DENY",
		"Cache-Control":           "no-cache",
	}
	names := p.Names()
	for _, n := range []string{"index.html", "account.html", "style.css", "login.js", "account.js", "common.js", "captcha.js", "config.json"} {
		if p.File(n) == nil {
			t.Errorf("no %s among %v", n, names)
		}
	}
	if p.File("nothing.html") != nil || p.File("") != nil {
		t.Error("a file that does not exist has a handler")
	}
	for _, n := range names {
		t.Run(n, func(t *testing.T) {
			rec := httptest.NewRecorder()
			p.Header(rec.Header())
			p.File(n).ServeHTTP(rec, httptest.NewRequest("GET", "/ui/"+n, nil))
			if rec.Code != 200 {
				t.Fatalf("status %d", rec.Code)
			}
			for k, v := range want {
				if got := rec.Header().Get(k); got != v {
					t.Errorf("%s: %q, want %q", k, got, v)
				}
			}
			if ct := rec.Header().Get("Content-Type"); ct == "" || strings.HasPrefix(ct, "text/plain") {
				t.Errorf("Content-Type %q", ct)
			}
			etag := rec.Header().Get("ETag")
			if etag == "" {
				t.Fatal("no ETag")
			}
			req := httptest.NewRequest("GET", "/ui/"+n, nil)
			req.Header.Set("If-None-Match", etag)
			rec = httptest.NewRecorder()
			p.Header(rec.Header())
			p.File(n).ServeHTTP(rec, req)
			if rec.Code != http.StatusNotModified {
				t.Errorf("If-None-Match: status %d, want 304", rec.Code)
			}
			if rec.Header().Get("Content-Security-Policy") != strictPolicy {
				t.Error("304 without the policy")
			}
		})
	}
}

var (
	tagRe        = regexp.MustCompile(`(?is)<([a-z][a-z0-9-]*)\b([^>]*)>`)
	attrRe       = regexp.MustCompile(`(?is)\s([a-z_:][-a-z0-9_:.]*)\s*(=\s*("[^"]*"|'[^']*'|[^\s"'>]+))?`)
	scriptBodyRe = regexp.MustCompile(`(?is)<script\b[^>]*>(.*?)</script\s*>`)
)

// TestNoInlineCode holds the embedded pages to what the policy allows,
// so that a page does not break in the browser alone: no script without
// src or with a body, no <style>, no style= attribute, no on*= handler,
// no javascript: URL; and keeps the scripts from innerHTML, eval and
// their kind.
func TestNoInlineCode(t *testing.T) {
	dir := "static"
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		src := string(b)
		switch filepath.Ext(path) {
		case ".html":
			for _, b := range inlineCode(src) {
				t.Errorf("%s: %s", path, b)
			}
		case ".js":
			for _, bad := range []string{"innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "eval(", "new Function", "setAttribute('style'", "setAttribute('on", "javascript:"} {
				if strings.Contains(src, bad) {
					t.Errorf("%s uses %s", path, bad)
				}
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// inlineCode lists what in the HTML src the policy would block.
func inlineCode(src string) []string {
	var bad []string
	for _, m := range scriptBodyRe.FindAllStringSubmatch(src, -1) {
		if strings.TrimSpace(m[1]) != "" {
			bad = append(bad, fmt.Sprintf("an inline script: %.60q", m[1]))
		}
	}
	for _, m := range tagRe.FindAllStringSubmatch(src, -1) {
		tag := strings.ToLower(m[1])
		attrs := map[string]string{}
		for _, a := range attrRe.FindAllStringSubmatch(m[2], -1) {
			attrs[strings.ToLower(a[1])] = strings.Trim(a[3], `"'`)
		}
		if tag == "style" {
			bad = append(bad, "a <style> element")
		}
		if tag == "script" && attrs["src"] == "" {
			bad = append(bad, "a <script> without src: "+m[0])
		}
		for name, v := range attrs {
			switch {
			case name == "style":
				bad = append(bad, "a style attribute: "+m[0])
			case strings.HasPrefix(name, "on"):
				bad = append(bad, "an event handler attribute: "+m[0])
			case strings.HasPrefix(strings.ToLower(strings.TrimSpace(v)), "javascript:"):
				bad = append(bad, "a javascript: URL: "+m[0])
			case (name == "src" || name == "href") && strings.Contains(v, "//"):
				bad = append(bad, "a file from another origin: "+m[0])
			}
		}
	}
	return bad
}

// TestChecksCatchInlineCode: the checks above see what they look for.
func TestChecksCatchInlineCode(t *testing.T) {
	for _, bad := range []string{
		`<script>alert(1)</script>`,
		`<script src="a.js">alert(1)</script>`,
		`<style>p{}</style>`,
		`<p style="color:red">x</p>`,
		`<button onclick="go()">x</button>`,
		`<img src=x ONERROR=go()>`,
		`<a href="javascript:go()">x</a>`,
		`<script src="https://cdn.example.com/x.js"></script>`,
	} {
		if len(inlineCode(bad)) == 0 {
			t.Errorf("%s passes the checks", bad)
		}
	}
	if got := inlineCode(`<script type="module" src="login.js"></script><p class="x" hidden>y</p>`); len(got) != 0 {
		t.Errorf("a good page fails the checks: %v", got)
	}
}

// TestConfigPasskeys: config.json tells the login page whether passkeys
// are on, so that it asks for no options to find out.
func TestConfigPasskeys(t *testing.T) {
	for _, on := range []bool{false, true} {
		p, err := ui.New(ui.Options{Captcha: ui.Captcha{Provider: "none"}, Passkeys: on})
		if err != nil {
			t.Fatal(err)
		}
		rec := httptest.NewRecorder()
		p.File("config.json").ServeHTTP(rec, httptest.NewRequest("GET", "/ui/config.json", nil))
		var cfg struct{ Passkeys *bool }
		if err := json.Unmarshal(rec.Body.Bytes(), &cfg); err != nil || cfg.Passkeys == nil || *cfg.Passkeys != on {
			t.Errorf("passkeys %v: config.json %s (%v)", on, rec.Body.Bytes(), err)
		}
	}
	// The login page asks for passkey options only when its button is
	// pressed: never while it loads.
	b, err := os.ReadFile(filepath.Join("static", "login.js"))
	if err != nil {
		t.Fatal(err)
	}
	js := string(b)
	if strings.Count(js, "/v1/login/webauthn/options") != 1 {
		t.Errorf("login.js asks for passkey options %d times, want once (on the button)", strings.Count(js, "/v1/login/webauthn/options"))
	}
}
