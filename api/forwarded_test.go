package api

import (
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"
	"unicode"
	"unicode/utf8"
	"unsafe"

	"github.com/latchkeyhq/latchkey"
)

// forwardedCases are the table of TestParseForwardedRequest and the seeds
// of FuzzForwardedRequest: header lines, by name, and what is read.
var forwardedCases = []struct {
	name string
	h    map[string][]string
	want forwardedRequest
}{
	{"none", nil, forwardedRequest{}},
	{"traefik", map[string][]string{"X-Forwarded-Method": {"POST"}, "X-Forwarded-Host": {"app.example.com"}, "X-Forwarded-Uri": {"/admin/users?page=2"}},
		forwardedRequest{"POST", "app.example.com", "/admin/users"}},
	{"ingress-nginx", map[string][]string{"X-Original-Method": {"DELETE"}, "X-Original-Url": {"https://app.example.com:8443/a/b?token=lk_x#f"}},
		forwardedRequest{"DELETE", "app.example.com:8443", "/a/b"}},
	{"iis path", map[string][]string{"X-Original-Url": {"/only/a/path?x=1"}}, forwardedRequest{"", "", "/only/a/path"}},
	{"forwarded beats original", map[string][]string{"X-Forwarded-Method": {"GET"}, "X-Original-Method": {"PUT"}, "X-Forwarded-Uri": {"/x"}, "X-Original-Url": {"http://o.example/y"}},
		forwardedRequest{"GET", "o.example", "/x"}},
	{"last line, last host", map[string][]string{"X-Forwarded-Host": {"forged.example", "a.example, b.example "}, "X-Forwarded-Method": {"PUT", "GET"}},
		forwardedRequest{"GET", "b.example", ""}},
	{"method not a token", map[string][]string{"X-Forwarded-Method": {"GET /x"}}, forwardedRequest{}},
	{"method too long", map[string][]string{"X-Forwarded-Method": {strings.Repeat("A", maxForwardedMethod+1)}}, forwardedRequest{}},
	{"control characters", map[string][]string{"X-Forwarded-Uri": {"/a\r\nlevel=ERROR\x00b"}, "X-Forwarded-Host": {"h\x1b[31m"}},
		forwardedRequest{"", "h\uFFFD[31m", "/a\uFFFD\uFFFDlevel=ERROR\uFFFDb"}},
	{"not UTF-8", map[string][]string{"X-Forwarded-Uri": {"/caf\xe9/\xff\xfe"}}, forwardedRequest{"", "", "/caf\uFFFD/\uFFFD"}},
	{"long path", map[string][]string{"X-Forwarded-Uri": {"/" + strings.Repeat("é", maxForwardedURI)}}, forwardedRequest{"", "", "/" + strings.Repeat("é", (maxForwardedURI-1)/2)}},
	{"unparsable original", map[string][]string{"X-Original-Url": {"http://[::1/x"}}, forwardedRequest{}},
	{"relative original", map[string][]string{"X-Original-Url": {"example.com/x"}}, forwardedRequest{}},
}

func TestParseForwardedRequest(t *testing.T) {
	for _, tc := range forwardedCases {
		t.Run(tc.name, func(t *testing.T) {
			if got := parseForwardedRequest(http.Header(tc.h)); got != tc.want {
				t.Fatalf("got %+v, want %+v", got, tc.want)
			}
		})
	}
}

func FuzzForwardedRequest(f *testing.F) {
	get := func(h map[string][]string, k string) string { return strings.Join(h[k], "\n") }
	for _, tc := range forwardedCases {
		f.Add(get(tc.h, "X-Forwarded-Method"), get(tc.h, "X-Forwarded-Host"), get(tc.h, "X-Forwarded-Uri"), get(tc.h, "X-Original-Method"), get(tc.h, "X-Original-Url"))
	}
	f.Fuzz(func(t *testing.T, method, host, uri, omethod, ourl string) {
		h := http.Header{}
		for k, v := range map[string]string{"X-Forwarded-Method": method, "X-Forwarded-Host": host, "X-Forwarded-Uri": uri, "X-Original-Method": omethod, "X-Original-Url": ourl} {
			if v != "" {
				h[k] = strings.Split(v, "\n")
			}
		}
		got := parseForwardedRequest(h)
		if got.method != "" && (!isToken(got.method) || len(got.method) > maxForwardedMethod) {
			t.Fatalf("method %q", got.method)
		}
		for _, v := range []struct {
			s   string
			max int
		}{{got.host, maxForwardedHost}, {got.uri, maxForwardedURI}} {
			if len(v.s) > v.max || !utf8.ValidString(v.s) || strings.ContainsFunc(v.s, unicode.IsControl) {
				t.Fatalf("unsafe value %q (at most %d bytes)", v.s, v.max)
			}
		}
		if strings.ContainsAny(got.uri, "?#") {
			t.Fatalf("uri %q keeps its query or fragment", got.uri)
		}
	})
}

const cookieTok = "lk_" + "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"

// cookieCases are the table of TestCookieToken and the seeds of
// FuzzCookieToken, for a cookie named lk.
var cookieCases = []struct {
	name  string
	lines []string
	want  string
	err   error
}{
	{"none", nil, "", latchkey.ErrNotAuthenticated},
	{"alone", []string{"lk=" + cookieTok}, cookieTok, nil},
	{"among others", []string{"a=1; lk=" + cookieTok + "; b=2"}, cookieTok, nil},
	{"quoted", []string{`lk="` + cookieTok + `"`}, cookieTok, nil},
	{"spaces", []string{"a=1;  lk = " + cookieTok + " ;b"}, cookieTok, nil},
	{"one line per cookie (HTTP/2)", []string{"a=1", "lk=" + cookieTok}, cookieTok, nil},
	{"another name", []string{"lkx=" + cookieTok + "; xlk=" + cookieTok}, "", latchkey.ErrNotAuthenticated},
	{"case matters", []string{"LK=" + cookieTok}, "", latchkey.ErrNotAuthenticated},
	{"no value", []string{"lk"}, "", latchkey.ErrNotAuthenticated},
	{"empty", []string{"lk="}, "", latchkey.ErrInvalidToken},
	{"not a token", []string{"lk=lk_a,b"}, "", latchkey.ErrInvalidToken},
	{"twice, one line", []string{"lk=" + cookieTok + "; lk=" + cookieTok}, "", latchkey.ErrInvalidToken},
	{"twice, two lines", []string{"lk=" + cookieTok, "lk=lk_other"}, "", latchkey.ErrInvalidToken},
	{"half quoted", []string{`lk="` + cookieTok}, "", latchkey.ErrInvalidToken},
}

func TestCookieToken(t *testing.T) {
	for _, tc := range cookieCases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := cookieToken(tc.lines, "lk")
			if got != tc.want || !errors.Is(err, tc.err) && !(err == nil && tc.err == nil) {
				t.Fatalf("cookieToken(%q) = %q, %v; want %q, %v", tc.lines, got, err, tc.want, tc.err)
			}
		})
	}
}

func FuzzCookieToken(f *testing.F) {
	for _, tc := range cookieCases {
		f.Add(strings.Join(tc.lines, "\n"))
	}
	f.Fuzz(func(t *testing.T, lines string) {
		tok, err := cookieToken(strings.Split(lines, "\n"), "lk")
		if err != nil {
			if tok != "" || latchkey.ErrorKind(err) != latchkey.KindUnauthenticated {
				t.Fatalf("%q, %v", tok, err)
			}
			return
		}
		if !latchkey.ValidTokenSyntax(tok) || !strings.Contains(lines, tok) || strings.Count(lines, "lk") < 1 {
			t.Fatalf("token %q from %q", tok, lines)
		}
	})
}

func TestHeaderSafe(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"", ""},
		{"alice@example.com", "alice@example.com"},
		{"José Ünïcode 李", "José Ünïcode 李"},
		{"eve@example.com\r\nX-Admin: 1", "eve@example.com\uFFFD\uFFFDX-Admin: 1"},
		{"tab\there", "tab\uFFFDhere"},
		{"nul\x00", "nul\uFFFD"},
		{"del\x7f", "del\uFFFD"},
		{"c1\u0085", "c1\uFFFD"},
		{"latin-1 caf\xe9", "latin-1 caf\uFFFD"},
	} {
		if got := headerSafe(tc.in); got != tc.want {
			t.Errorf("headerSafe(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

// TestIdentityHeaderNames: the names are canonical, since they are set
// straight into the header map.
func TestIdentityHeaderNames(t *testing.T) {
	h := http.Header{}
	newIdentity(latchkey.Principal{}).set(h)
	if len(h) != 10 {
		t.Fatalf("%d headers, want 10", len(h))
	}
	for k := range h {
		if http.CanonicalHeaderKey(k) != k {
			t.Errorf("%q is not canonical", k)
		}
	}
}

// TestIdentities: an identity is reused for exactly the principal it was
// made of; any change is formatted anew.
func TestIdentities(t *testing.T) {
	var ids recent[identity, *identity]
	exp := time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
	p := latchkey.Principal{
		Digest:  latchkey.Token(cookieTok).Digest(),
		Session: latchkey.CachedSession{SessionID: "s1", UserID: 7, ExpiresAt: exp},
		User:    latchkey.User{ID: 7, Username: "alice", Email: "a@example.com", FirstName: "Alice", LastName: "Liddell"},
	}
	first := ids.of(p, newIdentity)
	if unsafe.StringData(first.username) == unsafe.StringData(p.User.Username) ||
		unsafe.StringData(first.vals[2]) == unsafe.StringData(p.User.Email) ||
		unsafe.StringData(first.sessionID) == unsafe.StringData(p.Session.SessionID) {
		t.Error("the identity keeps the cache's strings, and the cache's buffers with them")
	}
	if ids.of(p, newIdentity) != first {
		t.Fatal("the same principal was formatted twice")
	}
	h := http.Header{}
	first.set(h)
	want := map[string]string{
		"X-Latchkey-User-Id": "7", "X-Latchkey-Username": "alice", "X-Latchkey-Email": "a@example.com",
		"X-Latchkey-Session-Id": "s1", "X-Latchkey-Expires-At": "2030-01-02T03:04:05Z",
		"Remote-User": "alice", "Remote-Email": "a@example.com", "Remote-Name": "Alice Liddell",
		"X-Auth-Request-User": "alice", "X-Auth-Request-Email": "a@example.com",
	}
	for k, v := range want {
		if got := h[k]; len(got) != 1 || got[0] != v {
			t.Errorf("%s = %q, want %q", k, got, v)
		}
	}
	for name, change := range map[string]func(p *latchkey.Principal){
		"email":      func(p *latchkey.Principal) { p.User.Email = "new@example.com" },
		"first name": func(p *latchkey.Principal) { p.User.FirstName = "Al" },
		"last name":  func(p *latchkey.Principal) { p.User.LastName = "" },
		"username":   func(p *latchkey.Principal) { p.User.Username = "alicia" },
		"user id":    func(p *latchkey.Principal) { p.User.ID = 8 },
		"session":    func(p *latchkey.Principal) { p.Session.SessionID = "s2" },
		"expiry":     func(p *latchkey.Principal) { p.Session.ExpiresAt = exp.Add(time.Second) },
	} {
		q := p
		change(&q)
		if id := ids.of(q, newIdentity); id == first || !id.is(q) || id.is(p) {
			t.Errorf("after a change of %s, the old identity was reused", name)
		}
		ids.of(p, newIdentity) // back in its slot
	}
	for _, tc := range []struct{ first, last, want string }{{"", "", ""}, {"Ann", "", "Ann"}, {"", "Lee", "Lee"}, {"Ann", "Lee", "Ann Lee"}} {
		q := p
		q.User.FirstName, q.User.LastName = tc.first, tc.last
		if got := ids.of(q, newIdentity).namev[0]; got != tc.want {
			t.Errorf("Remote-Name of %q %q = %q, want %q", tc.first, tc.last, got, tc.want)
		}
	}
}
