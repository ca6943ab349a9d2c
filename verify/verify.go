// Package verify checks latchkey tokens for a Go service: whose a
// request is, and whether its token is still good.
//
// A Verifier (Open) checks tokens in the service's own process, from the
// servers' database and cache, given the servers' settings
// (LATCHKEY_DATABASE_URL, LATCHKEY_CACHE_URL and the others FromEnv
// reads): a cached token costs what it costs a server, a fraction of a
// microsecond and no allocation, and a token revoked on any server is
// refused as soon as the servers refuse it, from the same change feed and
// the same Redis messages. It only reads: it logs nobody in and revokes
// nothing, and writes to the database only what a token check must (see
// Verifier).
//
// A Remote (NewRemote) is for a service that cannot reach the database: it
// asks a latchkey server, over /v1/forward-auth or /v1/introspect, on
// every check, unless allowed to use a positive answer again for a bounded
// time (RemoteConfig.MaxCache, off by default).
//
// Both give Middleware, which reads the token from the Authorization
// header as the API does, answers a request it refuses as the API does
// (401 with WWW-Authenticate, 503 with Retry-After when the check cannot
// run: it fails closed), and hands a request it lets through on with its
// Identity in the context (FromContext).
//
// Their Verify methods return latchkey's own errors, to compare with
// errors.Is: a token that is malformed, unknown, revoked or of a disabled
// user is latchkey.ErrInvalidToken; one past its expiry or idle timeout,
// latchkey.ErrTokenExpired (a Remote in Introspect mode cannot tell the
// two apart, and says the first). A check that could not run is an error
// of kind latchkey.KindUnavailable (latchkey.ErrorKind): refuse the
// request, as the middleware does, never let it through.
package verify

import (
	"context"
	"log/slog"
	"net/http"
	"time"

	"github.com/latchkeyhq/latchkey/api"
)

// Identity is whose a valid token is.
type Identity struct {
	UserID   int64
	Username string
	Email    string
	// SessionID names the token's session, as GET /v1/sessions and
	// introspection (jti) do.
	SessionID string
	// ExpiresAt is the token's absolute expiry: a logout, a password
	// change, a disabled user or the idle timeout end it sooner.
	ExpiresAt time.Time
}

// middleware reads a request's token, checks it with check, and either
// refuses the request as the API would (log receives what the API logs)
// or hands it to next with its Identity in the context.
func middleware(check func(ctx context.Context, token string) (Identity, error), log *slog.Logger, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		tok, err := api.BearerToken(r)
		var id Identity
		if err == nil {
			id, err = check(r.Context(), tok)
		}
		if err != nil {
			api.WriteError(w, r, log, err)
			return
		}
		next.ServeHTTP(w, r.WithContext(NewContext(r.Context(), id)))
	})
}

// identityKey is the context key of an Identity.
type identityKey struct{}

// identityContext is a context that carries an Identity: one allocation
// for both, where context.WithValue would take two.
type identityContext struct {
	context.Context
	id Identity
}

func (c *identityContext) Value(key any) any {
	if key == (identityKey{}) {
		return &c.id
	}
	return c.Context.Value(key)
}

// NewContext returns a copy of ctx that carries id, as the middleware
// hands requests on; tests of handlers behind it use it too.
func NewContext(ctx context.Context, id Identity) context.Context {
	return &identityContext{Context: ctx, id: id}
}

// FromContext returns the Identity of a request that the middleware let
// through.
func FromContext(ctx context.Context) (Identity, bool) {
	id, ok := ctx.Value(identityKey{}).(*Identity)
	if !ok {
		return Identity{}, false
	}
	return *id, true
}
