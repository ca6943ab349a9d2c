// Package ui is latchkey's login page: plain HTML, CSS and JavaScript
// embedded in the binary, served under /ui/ by package api when
// LATCHKEY_UI=on. The pages call the JSON API from the browser, keep the
// token in sessionStorage (never in a cookie), and run under a strict
// Content-Security-Policy that allows no inline script or style, and no
// other origin but the configured captcha provider's.
package ui

import (
	"bytes"
	"crypto/sha256"
	"embed"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io/fs"
	"maps"
	"net/http"
	"path"
	"slices"
	"strings"
	"time"
)

//go:embed static
var static embed.FS

// Captcha is the login's captcha, as the page shows it.
type Captcha struct {
	// Provider is none, recaptcha, hcaptcha, turnstile or pow.
	Provider string
	// SiteKey is the widget's site key (recaptcha, hcaptcha, turnstile).
	SiteKey string
	// Always is true when every login needs a captcha; false when only
	// those the API asks for (after-failures:N).
	Always bool
}

// Pages are the login page's files. They are read once, at New, and
// never change: each has its ETag.
type Pages struct {
	files  map[string]file
	header http.Header
}

type file struct {
	body        []byte
	contentType string
	etag        string
}

// providerHosts are the origins each captcha widget loads its script and
// frames from, allowed by the policy only when that provider is set.
var providerHosts = map[string][]string{
	"recaptcha": {"https://www.google.com/recaptcha/", "https://www.gstatic.com/recaptcha/", "https://recaptcha.google.com/recaptcha/"},
	"hcaptcha":  {"https://hcaptcha.com", "https://*.hcaptcha.com"},
	"turnstile": {"https://challenges.cloudflare.com"},
}

// Options are what the pages offer besides the password.
type Options struct {
	Captcha Captcha
	// Passkeys says whether the server has a relying party, so that the
	// login page offers "sign in with a passkey" without asking for
	// options (which would keep a challenge and spend the address's
	// allowance of them) on every load.
	Passkeys bool
}

// New reads the embedded files and builds the pages for opt.
func New(opt Options) (*Pages, error) {
	c := opt.Captcha
	if _, ok := providerHosts[c.Provider]; ok && c.SiteKey == "" {
		return nil, fmt.Errorf("ui: the %s widget needs a site key", c.Provider)
	}
	p := &Pages{files: map[string]file{}, header: http.Header{}}
	err := fs.WalkDir(static, "static", func(name string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := static.ReadFile(name)
		if err != nil {
			return err
		}
		p.add(path.Base(name), b)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("ui: %w", err)
	}
	cfg, err := json.Marshal(map[string]any{
		"captcha":  map[string]any{"provider": c.Provider, "site_key": c.SiteKey, "always": c.Always},
		"passkeys": opt.Passkeys,
	})
	if err != nil {
		return nil, fmt.Errorf("ui: %w", err)
	}
	p.add("config.json", cfg)

	h := p.header
	h.Set("Content-Security-Policy", Policy(c.Provider))
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("X-Frame-Options", "DENY")
	h.Set("Cross-Origin-Opener-Policy", "same-origin")
	return p, nil
}

// Policy is the Content-Security-Policy of every answer under /ui/ with
// the captcha provider: the page's own files only, and the provider's
// hosts for its widget's script, frames and calls.
func Policy(provider string) string {
	hosts := ""
	if hs := providerHosts[provider]; len(hs) > 0 {
		hosts = " " + strings.Join(hs, " ")
	}
	return "default-src 'none'" +
		"; script-src 'self'" + hosts +
		"; style-src 'self'" + hosts +
		"; img-src 'self' data:" +
		"; connect-src 'self'" + hosts +
		"; frame-src" + or(hosts, " 'none'") +
		"; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
}

func or(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

var contentTypes = map[string]string{
	".html": "text/html; charset=utf-8",
	".css":  "text/css; charset=utf-8",
	".js":   "text/javascript; charset=utf-8",
	".json": "application/json",
	".svg":  "image/svg+xml",
	".png":  "image/png",
}

func (p *Pages) add(name string, b []byte) {
	sum := sha256.Sum256(b)
	p.files[name] = file{
		body:        b,
		contentType: contentTypes[path.Ext(name)],
		etag:        `"` + base64.RawURLEncoding.EncodeToString(sum[:12]) + `"`,
	}
}

// Header sets on h the headers that every answer under /ui/ carries, an
// error's too: the Content-Security-Policy and the like.
func (p *Pages) Header(h http.Header) {
	for k, v := range p.header {
		h[k] = v
	}
}

// File returns the handler of the file named name ("index.html" for
// /ui/), or nil when there is no such file. Its answers may be cached but
// are checked again each time (Cache-Control: no-cache, with an ETag), so
// that a new version of latchkey is seen at once.
func (p *Pages) File(name string) http.Handler {
	f, ok := p.files[name]
	if !ok || f.contentType == "" {
		return nil
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Content-Type", f.contentType)
		h.Set("Cache-Control", "no-cache")
		h.Set("ETag", f.etag)
		http.ServeContent(w, r, name, time.Time{}, bytes.NewReader(f.body))
	})
}

// Names lists the files, sorted.
func (p *Pages) Names() []string {
	return slices.Sorted(maps.Keys(p.files))
}
