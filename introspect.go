package latchkey

import (
	"context"
	"crypto/subtle"
	"errors"
	"fmt"
	"log/slog"
)

// IntrospectRequest is a service client's question about a token (RFC
// 7662): is it active, and whose is it?
type IntrospectRequest struct {
	// ClientName and ClientSecret are the credentials of the service
	// client asking; both empty when it sent none.
	ClientName   string
	ClientSecret ClientSecret
	// Token is the token asked about.
	Token string
	// Client is where the request came from: failed authentications of
	// service clients are counted by its address.
	Client Client
}

// Introspection is the answer to an IntrospectRequest.
type Introspection struct {
	Active bool
	// Principal is the token's identity when Active, else the zero
	// Principal: an inactive token's answer says nothing more about it.
	Principal Principal
}

// CodeInvalidClient is the code of a service client that failed to
// authenticate (RFC 6749's invalid_client), part of the public API
// contract.
const CodeInvalidClient = "invalid_client"

// ErrInvalidClient refuses a request whose service client sent no
// credentials, or wrong ones: unknown name or wrong secret, one identical
// answer.
var ErrInvalidClient = &Error{Kind: KindUnauthenticated, Code: CodeInvalidClient, Detail: "Client authentication failed."}

// Introspect answers a service client's question about a token. In
// order:
//
//   - the service client is authenticated: an unknown name costs what a
//     wrong secret costs (one store query, then a constant-time
//     comparison of digests), and both get ErrInvalidClient;
//     ServiceClientThrottle is asked before the comparison, so that an
//     address that failed too often is refused (ErrThrottled, with
//     RetryAfter) whatever it sends, and only failures are counted;
//   - the token is checked by Authenticate, as any request's: a cached
//     token costs no store query, and its use is recorded.
//
// A token that is unknown, malformed, revoked, expired or whose user is
// disabled is no error: the answer is not Active. A check that could not
// run (the store or the throttle not answering) is an Unavailable error,
// never an inactive token. Refused credentials are logged, in one line
// each, without any secret, and with the client's name only when it
// exists; a request without credentials is refused without a line.
func (a *Authenticator) Introspect(ctx context.Context, req IntrospectRequest) (Introspection, error) {
	if err := a.authenticateServiceClient(ctx, req); err != nil {
		return Introspection{}, err
	}
	p, err := a.Authenticate(ctx, req.Token)
	switch {
	case err == nil:
		return Introspection{Active: true, Principal: p}, nil
	case errors.Is(err, ErrInvalidToken), errors.Is(err, ErrTokenExpired):
		return Introspection{}, nil
	}
	return Introspection{}, err
}

// authenticateServiceClient checks the credentials of req's service
// client; see Introspect.
func (a *Authenticator) authenticateServiceClient(ctx context.Context, req IntrospectRequest) error {
	if req.ClientName == "" && req.ClientSecret == "" {
		// No credentials: no guess to count, nor to log.
		return ErrInvalidClient
	}
	// A name no client can have is compared as an unknown one, without
	// the query that could not find it.
	var c ServiceClient
	if CheckServiceClientName(req.ClientName) == nil {
		found, err := a.store.ServiceClientByName(ctx, req.ClientName)
		switch {
		case err == nil:
			c = found
		case !errors.Is(err, ErrNotFound):
			return Unavailable(fmt.Errorf("introspect: find service client: %w", err))
		}
	}
	t := a.opt.ServiceClientThrottle
	if t != nil {
		if err := t.CheckServiceClient(ctx, req.Client.Addr); err != nil {
			a.logClientRefused(ctx, c.Name, req.Client, err)
			return err
		}
	}
	// An unknown client is compared with the zero digest, which no
	// secret has: the same work as a wrong secret.
	d := req.ClientSecret.Digest()
	ok := subtle.ConstantTimeCompare(d[:], c.Digest[:]) == 1 && c.Name != ""
	o := OutcomeFailure
	if ok {
		o = OutcomeSuccess
	}
	if t != nil {
		if err := t.RecordServiceClient(ctx, req.Client.Addr, o); err != nil {
			a.opt.Logger.Warn("throttle: service client authentication not recorded", "err", err)
		}
	}
	if !ok {
		a.logClientRefused(ctx, c.Name, req.Client, ErrInvalidClient)
		return ErrInvalidClient
	}
	return nil
}

// logClientRefused logs a refused service client authentication: its
// outcome (the error's code), the client's name when it exists (a name
// that is no client's may be a secret sent in the wrong place), the
// address, and the throttle limit that refused it, if one did.
func (a *Authenticator) logClientRefused(ctx context.Context, known string, c Client, err error) {
	attrs := make([]slog.Attr, 0, 4)
	attrs = append(attrs, slog.String("outcome", AsError(err).Code))
	if known != "" {
		attrs = append(attrs, slog.String("client", known))
	}
	attrs = append(attrs, slog.String("ip", c.IP()), slog.String("reason", ThrottleReason(err)))
	a.opt.Logger.LogAttrs(ctx, slog.LevelInfo, "introspect: client refused", attrs...)
}
