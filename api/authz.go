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
