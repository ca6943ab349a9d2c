package verify

import (
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/latchkeyhq/latchkey"
)

// FuzzRemoteAnswer holds the readers of a server's answers, forward
// auth's and introspection's, to their contract, whatever the server
// sends: an identity only from a 200 that names a user and a session, a
// refusal only from a 401 (forward auth) or an inactive token
// (introspection), unavailable for anything else.
func FuzzRemoteAnswer(f *testing.F) {
	f.Add(200, "7", "alice", "s1", "2026-12-08T12:00:00Z", ``)
	f.Add(200, "", "", "", "", `{"active":true,"token_type":"Bearer","sub":"7","username":"alice","email":"a@example.com","exp":1767312000,"iat":1767225600,"jti":"s1"}`)
	f.Add(200, "", "", "", "", `{"active":false}`)
	f.Add(401, "", "", "", "", `{"code":"token_expired","detail":"Token has expired."}`)
	f.Add(401, "", "", "", "", `{"code":"invalid_client","detail":"Client authentication failed."}`)
	f.Add(503, "", "", "", "", `{"code":"unavailable","detail":"A dependency is unavailable; retry shortly."}`)
	f.Add(200, "x", "alice", "s1", "tomorrow", `{"active":true,"sub":"x","username":"alice","exp":1,"jti":"s1"}`)
	f.Fuzz(func(t *testing.T, status int, userID, username, session, expires, body string) {
		if status < 100 || status > 999 {
			return
		}
		for _, mode := range []Mode{ForwardAuth, Introspect} {
			r, err := NewRemote(RemoteConfig{URL: "http://auth", Mode: mode, ClientID: "billing", ClientSecret: "lkc_x"})
			if err != nil {
				t.Fatal(err)
			}
			h := http.Header{}
			h.Set(headerUserID, userID)
			h.Set(headerUsername, username)
			h.Set(headerSessionID, session)
			h.Set(headerExpiresAt, expires)
			res := &http.Response{StatusCode: status, Status: http.StatusText(status), Header: h, Body: io.NopCloser(strings.NewReader(body))}
			var id Identity
			if mode == Introspect {
				id, err = r.introspection(res)
			} else {
				id, err = r.forwardAuth(res)
			}
			switch {
			case err == nil:
				if status != 200 || id.Username == "" || id.SessionID == "" || id.ExpiresAt.IsZero() {
					t.Fatalf("%v %d: identity %+v", mode, status, id)
				}
			case errors.Is(err, latchkey.ErrInvalidToken), errors.Is(err, latchkey.ErrTokenExpired):
				if mode == ForwardAuth && status != 401 || mode == Introspect && status != 200 {
					t.Fatalf("%v %d: refused, %v", mode, status, err)
				}
				if id != (Identity{}) {
					t.Fatalf("%v %d: refused with an identity %+v", mode, status, id)
				}
			default:
				if latchkey.ErrorKind(err) != latchkey.KindUnavailable {
					t.Fatalf("%v %d: %v, neither a refusal nor unavailable", mode, status, err)
				}
			}
		}
	})
}
