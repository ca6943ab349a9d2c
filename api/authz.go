package api

import (
	"net/http"
	"strings"

	"github.com/latchkeyhq/latchkey"
)

// errBadHeader is an Authorization header naming our scheme with no usable token.
var errBadHeader = &latchkey.Error{Kind: latchkey.KindUnauthenticated, Code: latchkey.CodeInvalidToken, Detail: "Invalid token header."}

// bearerToken extracts the token from the Authorization header values:
// "Bearer <token>" or Django REST Framework's "Token <token>", scheme
// case-insensitive. Tokens are never read from a query string or cookie.
// No header, or another scheme, is ErrNotAuthenticated; a malformed one,
// or several headers, is an invalid_token error.
func bearerToken(values []string) (string, error) {
	switch len(values) {
	case 0:
		return "", latchkey.ErrNotAuthenticated
	case 1:
	default:
		return "", errBadHeader
	}
	h := strings.TrimLeft(values[0], " \t")
	scheme, rest, _ := strings.Cut(h, " ")
	if !strings.EqualFold(scheme, "Bearer") && !strings.EqualFold(scheme, "Token") {
		// Another scheme (Basic, say) is not ours to judge: no credentials.
		return "", latchkey.ErrNotAuthenticated
	}
	tok := strings.Trim(rest, " \t")
	if !latchkey.ValidTokenSyntax(tok) {
		return "", errBadHeader
	}
	return tok, nil
}

// token reads the request's bearer token.
func token(r *http.Request) (string, error) {
	return bearerToken(r.Header["Authorization"])
}

// BearerToken reads the request's token as every route of the API does:
// from the Authorization header alone, "Bearer <token>" or "Token
// <token>". No header, or another scheme, is latchkey.ErrNotAuthenticated;
// a malformed header, or several, is an invalid_token error. Package
// verify's middleware reads tokens with it, so that a service accepts
// exactly the headers the API does.
func BearerToken(r *http.Request) (string, error) { return token(r) }

// errBadCookie is a token cookie that holds no usable token, or that the
// request carries more than once.
var errBadCookie = &latchkey.Error{Kind: latchkey.KindUnauthenticated, Code: latchkey.CodeInvalidToken, Detail: "Invalid token cookie."}

// cookieToken extracts the token from the cookie named name in the Cookie
// header lines: its value, unquoted, when it has the token's syntax. No
// such cookie is ErrNotAuthenticated. A cookie of that name sent twice is
// an invalid_token error, not a choice: a browser sends two when a page
// on a sibling domain set one of its own for the parent domain (cookie
// tossing), and taking either could log the user in as someone else.
// It reads the lines in place, without allocating.
func cookieToken(lines []string, name string) (string, error) {
	var (
		tok   string
		found bool
	)
	for _, line := range lines {
		for line != "" {
			var part string
			part, line, _ = strings.Cut(line, ";")
			k, v, ok := strings.Cut(part, "=")
			if !ok || strings.Trim(k, " \t") != name {
				continue
			}
			if found {
				return "", errBadCookie
			}
			found = true
			v = strings.Trim(v, " \t")
			if len(v) >= 2 && v[0] == '"' && v[len(v)-1] == '"' {
				v = v[1 : len(v)-1]
			}
			tok = v
		}
	}
	if !found {
		return "", latchkey.ErrNotAuthenticated
	}
	if !latchkey.ValidTokenSyntax(tok) {
		return "", errBadCookie
	}
	return tok, nil
}
