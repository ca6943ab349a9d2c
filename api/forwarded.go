package api

import (
	"net/http"
	"net/url"
	"strings"
	"unicode"
	"unicode/utf8"
)

// forwardedRequest is what a proxy asking /v1/forward-auth says of the
// request it checks: its method, host and path. It is read only from a
// trusted proxy (ClientIP.FromTrustedProxy), and only for the log line of
// a refusal: nothing is decided on it.
type forwardedRequest struct {
	method, host, uri string
}

// Bounds of what a refusal's log line carries of a forwarded request.
const (
	maxForwardedMethod = 32
	maxForwardedHost   = 255
	maxForwardedURI    = 1024
)

// parseForwardedRequest reads the headers proxies send to a forward-auth
// endpoint: X-Forwarded-Method, X-Forwarded-Host and X-Forwarded-Uri
// (Traefik, Caddy, and nginx configured so), else X-Original-Method and
// X-Original-URL (ingress-nginx's names; the URL absolute, or a path as
// IIS sends it). Of a header sent several times, the last line counts,
// the one the nearest proxy set; of a comma-separated X-Forwarded-Host,
// the last host.
//
// What comes out is fit for a log line: a method that is not an HTTP
// token is dropped; the host and the path are valid UTF-8 without
// control characters (each such byte or character becomes U+FFFD) and
// bounded; the query string is left out, since it may carry another
// application's secrets (a reset code, an OAuth code, a token).
func parseForwardedRequest(h http.Header) forwardedRequest {
	var f forwardedRequest
	method := lastLine(h, "X-Forwarded-Method")
	if method == "" {
		method = lastLine(h, "X-Original-Method")
	}
	if isToken(method) && len(method) <= maxForwardedMethod {
		f.method = method
	}
	host, uri := lastLine(h, "X-Forwarded-Host"), lastLine(h, "X-Forwarded-Uri")
	if host == "" || uri == "" {
		oh, ou := originalURL(lastLine(h, "X-Original-Url"))
		if host == "" {
			host = oh
		}
		if uri == "" {
			uri = ou
		}
	}
	if i := strings.LastIndexByte(host, ','); i >= 0 {
		host = host[i+1:]
	}
	f.host = logSafe(strings.Trim(host, " \t"), maxForwardedHost)
	uri, _, _ = strings.Cut(uri, "?")
	uri, _, _ = strings.Cut(uri, "#")
	f.uri = logSafe(uri, maxForwardedURI)
	return f
}

// lastLine returns the last line of the header key, in canonical form
// (X-Original-Url), trimmed.
func lastLine(h http.Header, key string) string {
	v := h[key]
	if len(v) == 0 {
		return ""
	}
	return strings.Trim(v[len(v)-1], " \t")
}

// originalURL splits an X-Original-URL into its host and its path (with
// the query, which the caller drops). A path alone has no host.
func originalURL(s string) (host, uri string) {
	if s == "" {
		return "", ""
	}
	if s[0] == '/' {
		return "", s
	}
	u, err := url.Parse(s)
	if err != nil || u.Host == "" {
		return "", ""
	}
	return u.Host, u.EscapedPath()
}

// isToken reports whether s is a non-empty RFC 9110 token.
func isToken(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if !isTokenChar(s[i]) {
			return false
		}
	}
	return true
}

// logSafe returns cleanText(s) cut between two characters to at most
// max bytes.
func logSafe(s string, max int) string {
	s = cleanText(s)
	if len(s) > max {
		i := max
		for i > 0 && !utf8.RuneStart(s[i]) {
			i--
		}
		s = s[:i]
	}
	return s
}

// cleanText returns s as valid UTF-8 without control characters: each
// run of invalid bytes and each control character (C0, DEL, C1) becomes
// U+FFFD.
func cleanText(s string) string {
	s = strings.ToValidUTF8(s, "\uFFFD")
	return strings.Map(func(r rune) rune {
		if unicode.IsControl(r) {
			return utf8.RuneError
		}
		return r
	}, s)
}
