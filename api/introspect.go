package api

import (
	"encoding/base64"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/latchkeyhq/latchkey"
)

// maxBasicCredentials bounds the base64 of a Basic header: a name of 64
// characters and a secret of 47, each escaped whole, fit many times over.
const maxBasicCredentials = 1024

// basicCredentials reads a service client's credentials from the
// Authorization header values: "Basic base64(id:secret)", scheme
// case-insensitive, where id and secret are each form-urlencoded first,
// as RFC 6749 §2.3.1 has clients do (RFC 7662 §2.1). ok is false when
// there are none that can be read: no header, another scheme, several
// headers, or a value that is not such base64 or escapes; id and secret
// are then empty.
func basicCredentials(values []string) (id, secret string, ok bool) {
	if len(values) != 1 {
		return "", "", false
	}
	scheme, rest, _ := strings.Cut(strings.TrimLeft(values[0], " \t"), " ")
	rest = strings.Trim(rest, " \t")
	if !strings.EqualFold(scheme, "Basic") || len(rest) > maxBasicCredentials {
		return "", "", false
	}
	// The decoder skips CR and LF, even strict; a header value cannot
	// hold them, and credentials with them are not read.
	if strings.ContainsAny(rest, "\r\n") {
		return "", "", false
	}
	b, err := base64.StdEncoding.Strict().DecodeString(rest)
	if err != nil {
		return "", "", false
	}
	rawID, rawSecret, found := strings.Cut(string(b), ":")
	if !found {
		return "", "", false
	}
	id, err1 := url.QueryUnescape(rawID)
	secret, err2 := url.QueryUnescape(rawSecret)
	if err1 != nil || err2 != nil {
		return "", "", false
	}
	return id, secret, true
}

// introspectionJSON is the answer about an active token (RFC 7662 §2.2).
type introspectionJSON struct {
	Active    bool   `json:"active"`
	TokenType string `json:"token_type"`
	Sub       string `json:"sub"`
	Username  string `json:"username"`
	Email     string `json:"email"`
	Exp       int64  `json:"exp"`
	Iat       int64  `json:"iat"`
	Jti       string `json:"jti"`
}

// inactiveBody is the whole answer about a token that is not active.
var inactiveBody = []byte(`{"active":false}` + "\n")

// handleIntrospect answers POST /v1/introspect (RFC 7662) for a service
// client that authenticates with HTTP Basic. Every answer, errors
// included, is kept out of caches: it is about a token, or about the
// client's own credentials.
func (s *server) handleIntrospect() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		setNoStore(w.Header())
		f, err := decode(w, r)
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		// token_type_hint is accepted and ignored: latchkey issues one
		// type of token.
		v, err := f.require("token")
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		id, secret, _ := basicCredentials(r.Header["Authorization"])
		in, err := s.auth.Introspect(r.Context(), latchkey.IntrospectRequest{
			ClientName:   id,
			ClientSecret: latchkey.ClientSecret(secret),
			Token:        v[0],
			Client:       s.clientOf(r),
		})
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		if !in.Active {
			writeBody(w, http.StatusOK, inactiveBody)
			return
		}
		p := in.Principal
		writeJSON(w, http.StatusOK, introspectionJSON{
			Active:    true,
			TokenType: "Bearer",
			Sub:       strconv.FormatInt(p.User.ID, 10),
			Username:  p.User.Username,
			Email:     p.User.Email,
			Exp:       p.Session.ExpiresAt.Unix(),
			Iat:       p.Session.CreatedAt.Unix(),
			Jti:       p.Session.SessionID,
		})
	})
}
