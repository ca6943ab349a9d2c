package api

import (
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/latchkeyhq/latchkey"
)

// handleForwardAuth answers a reverse proxy's subrequest (nginx's
// auth_request, Caddy's forward_auth, Traefik's ForwardAuth) for any
// method, its body unread: 200 with the principal's identity in headers
// that the proxy copies onto the request it lets through, or the error
// /v1/me would give (401 with WWW-Authenticate, 503 with Retry-After),
// which every such proxy treats as a refusal. The check is Authenticate,
// as for every other route, and costs what /v1/me costs on a cache hit.
func (s *server) handleForwardAuth() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		tok, err := s.forwardAuthToken(r)
		var p latchkey.Principal
		if err == nil {
			p, err = s.auth.Authenticate(r.Context(), tok)
		}
		if err != nil {
			s.logRefusal(r, err)
			s.writeError(w, r, err)
			return
		}
		h := w.Header()
		setNoStore(h)
		s.idents.of(p, newIdentity).set(h)
		w.WriteHeader(http.StatusOK)
	})
}

// forwardAuthToken reads the token from the Authorization header, as
// every route does, and, when the header holds none of ours and a cookie
// is configured (Options.ForwardAuthCookie), from that cookie.
func (s *server) forwardAuthToken(r *http.Request) (string, error) {
	tok, err := token(r)
	if err == latchkey.ErrNotAuthenticated && s.opt.ForwardAuthCookie != "" {
		return cookieToken(r.Header["Cookie"], s.opt.ForwardAuthCookie)
	}
	return tok, err
}

// logRefusal logs a refused forward-auth check: at info when a token was
// sent and refused, at debug when there was none (an anonymous visitor,
// on every page load). With the client's address and, when a trusted
// proxy asked, the method, host and path it said it checked. Never the
// token. A check that could not run is logged by writeError.
func (s *server) logRefusal(r *http.Request, err error) {
	e := latchkey.AsError(err)
	if e.Kind != latchkey.KindUnauthenticated {
		return
	}
	level := slog.LevelInfo
	if e.Code == latchkey.CodeNotAuthenticated {
		level = slog.LevelDebug
	}
	ctx := r.Context()
	if !s.log.Enabled(ctx, level) {
		return
	}
	attrs := []slog.Attr{slog.String("code", e.Code), slog.String("ip", s.opt.ClientIP.Of(r).String())}
	if s.opt.ClientIP.fromTrustedProxy(r) {
		f := parseForwardedRequest(r.Header)
		attrs = append(attrs, slog.String("method", f.method), slog.String("host", f.host), slog.String("uri", f.uri))
	}
	s.log.LogAttrs(ctx, level, "forward-auth refused", attrs...)
}

// The identity headers of a forward-auth answer, in canonical form: ours,
// Authelia's (Remote-*) and oauth2-proxy's (X-Auth-Request-*), so that an
// application written for either reads them unchanged.
const (
	headerUserID    = "X-Latchkey-User-Id"
	headerUsername  = "X-Latchkey-Username"
	headerEmail     = "X-Latchkey-Email"
	headerSessionID = "X-Latchkey-Session-Id"
	headerExpiresAt = "X-Latchkey-Expires-At"
	headerRemoteUsr = "Remote-User"
	headerRemoteEml = "Remote-Email"
	headerRemoteNam = "Remote-Name"
	headerAuthUser  = "X-Auth-Request-User"
	headerAuthEmail = "X-Auth-Request-Email"
)

// identity is a principal's identity headers, formatted once. Its values
// are one-element slices that net/http only reads, so one identity serves
// every answer to its principal without an allocation. It is never
// changed once made.
type identity struct {
	// What the values were made of.
	userID                                  int64
	username, email, first, last, sessionID string
	expiresAt                               time.Time

	userIDv, usernamev, emailv, sessionv, expiresv, namev []string
	vals                                                  [6]string
}

// newIdentity formats p's identity headers. Every one is present, empty
// when its field is: a proxy that copies only the headers it finds must
// still overwrite a copy the client sent. Values are safe in a header:
// see headerSafe.
func newIdentity(p latchkey.Principal) *identity {
	u := ownText(p.User)
	p.Session.SessionID = strings.Clone(p.Session.SessionID)
	id := &identity{
		userID: u.ID, username: u.Username, email: u.Email, first: u.FirstName, last: u.LastName,
		sessionID: p.Session.SessionID, expiresAt: p.Session.ExpiresAt,
	}
	name := u.FirstName
	switch {
	case u.FirstName == "":
		name = u.LastName
	case u.LastName != "":
		name = u.FirstName + " " + u.LastName
	}
	id.vals = [6]string{
		strconv.FormatInt(u.ID, 10),
		headerSafe(u.Username),
		headerSafe(u.Email),
		headerSafe(p.Session.SessionID),
		p.Session.ExpiresAt.UTC().Format(time.RFC3339),
		headerSafe(name),
	}
	for i, dst := range []*[]string{&id.userIDv, &id.usernamev, &id.emailv, &id.sessionv, &id.expiresv, &id.namev} {
		*dst = id.vals[i : i+1 : i+1]
	}
	return id
}

// is reports whether id was made of p's identity as it is now.
func (id *identity) is(p latchkey.Principal) bool {
	u := &p.User
	return id.userID == u.ID && id.sessionID == p.Session.SessionID && id.expiresAt.Equal(p.Session.ExpiresAt) &&
		id.username == u.Username && id.email == u.Email && id.first == u.FirstName && id.last == u.LastName
}

// set writes the identity headers into h, replacing whatever was there.
func (id *identity) set(h http.Header) {
	h[headerUserID] = id.userIDv
	h[headerUsername] = id.usernamev
	h[headerEmail] = id.emailv
	h[headerSessionID] = id.sessionv
	h[headerExpiresAt] = id.expiresv
	h[headerRemoteUsr] = id.usernamev
	h[headerRemoteEml] = id.emailv
	h[headerRemoteNam] = id.namev
	h[headerAuthUser] = id.usernamev
	h[headerAuthEmail] = id.emailv
}

// headerSafe returns s fit for a header value: valid UTF-8 without
// control characters, CR, LF and NUL included (cleanText). Usernames are already clean
// (latchkey refuses control characters in them); emails and names
// imported from Django may not be, and a name with a line feed in it
// must not split the header, nor be dropped silently into another value:
// replaced, it can never equal a clean value. Clean ASCII, nearly every
// value, is returned as is.
func headerSafe(s string) string {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c >= 0x7f {
			return cleanHeaderValue(s)
		}
	}
	return s
}

func cleanHeaderValue(s string) string {
	if utf8.ValidString(s) {
		clean := true
		for _, r := range s {
			if unicode.IsControl(r) {
				clean = false
				break
			}
		}
		if clean {
			return s
		}
	}
	return cleanText(s)
}
