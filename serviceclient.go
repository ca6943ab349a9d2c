package latchkey

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"time"
)

// ServiceClient is a service registered to ask latchkey about tokens
// (POST /v1/introspect): a resource server that a user's token is shown
// to. It authenticates by its Name and its secret; only the secret's
// Digest is kept.
type ServiceClient struct {
	Name      string
	Digest    Digest // of its ClientSecret
	CreatedAt time.Time
}

// ServiceClientStore keeps service clients (sqlite, postgres). Names are
// compared exactly. Errors are *Error values of kind NotFound, Conflict
// or Internal. Service clients are no part of the change feed: no cache
// holds them, so a removal counts from its commit on every process.
type ServiceClientStore interface {
	// CreateServiceClient records c; ErrConflict when its name is taken.
	CreateServiceClient(ctx context.Context, c ServiceClient) error
	// ServiceClientByName returns the client named name, or ErrNotFound.
	ServiceClientByName(ctx context.Context, name string) (ServiceClient, error)
	// ListServiceClients returns every client, ordered by name.
	ListServiceClients(ctx context.Context) ([]ServiceClient, error)
	// DeleteServiceClient removes the client named name, or returns
	// ErrNotFound.
	DeleteServiceClient(ctx context.Context, name string) error
}

// ClientSecretPrefix starts every service client secret, so that secret
// scanners can find leaked ones and tell them from tokens (TokenPrefix).
const ClientSecretPrefix = "lkc_"

// ClientSecretBytes is the number of random bytes in a client secret:
// 256 bits.
const ClientSecretBytes = 32

// ClientSecret is a service client's secret. Only its Digest is stored. It
// prints as [redacted] in logs and fmt verbs.
type ClientSecret string

// NewClientSecret draws a secret from r (crypto/rand.Reader when r is nil).
func NewClientSecret(r io.Reader) (ClientSecret, error) {
	if r == nil {
		r = rand.Reader
	}
	var b [ClientSecretBytes]byte
	if _, err := io.ReadFull(r, b[:]); err != nil {
		return "", fmt.Errorf("client secret: read random: %w", err)
	}
	return ClientSecret(ClientSecretPrefix + base64.RawURLEncoding.EncodeToString(b[:])), nil
}

// Digest returns the SHA-256 digest under which the secret is stored.
//
// A fast hash is enough here, where a password needs argon2id: a slow
// hash makes each guess at a stolen digest expensive, which matters for
// the few bits of a password people choose, and changes nothing for 256
// random bits, which no number of guesses finds. SHA-256 keeps a check
// cheap, with no hashing slot to wait for on every introspection.
func (s ClientSecret) Digest() Digest { return Digest(sha256.Sum256([]byte(s))) }

// Reveal returns the secret itself, for the one place that shows it to the
// administrator who created it.
func (s ClientSecret) Reveal() string { return string(s) }

// String hides the secret from fmt.
func (s ClientSecret) String() string { return "[redacted]" }

// GoString hides the secret from %#v.
func (s ClientSecret) GoString() string { return "[redacted]" }

// LogValue hides the secret from log/slog.
func (s ClientSecret) LogValue() slog.Value { return slog.StringValue("[redacted]") }

// MaxServiceClientName bounds a service client's name, in bytes.
const MaxServiceClientName = 64

// CheckServiceClientName returns nil when name may name a service client:
// 1 to MaxServiceClientName ASCII letters, digits, '.', '_' and '-'. The
// name is the user-id of HTTP Basic authentication, and shows in logs and
// listings: these characters need no escaping in any of them.
func CheckServiceClientName(name string) error {
	ok := name != "" && len(name) <= MaxServiceClientName
	for i := 0; ok && i < len(name); i++ {
		c := name[i]
		ok = c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '_' || c == '-'
	}
	if !ok {
		return InvalidField("name", fmt.Sprintf("Use 1 to %d characters: letters A to Z and a to z, digits, '.', '_' and '-'.", MaxServiceClientName))
	}
	return nil
}

// AddServiceClient registers a service client named name with a new
// secret, drawn from Options.Rand, and returns it: the secret is never
// stored, and cannot be shown again. A taken name is refused.
func (a *Authenticator) AddServiceClient(ctx context.Context, name string) (ServiceClient, ClientSecret, error) {
	if err := CheckServiceClientName(name); err != nil {
		return ServiceClient{}, "", err
	}
	secret, err := NewClientSecret(a.opt.Rand)
	if err != nil {
		return ServiceClient{}, "", Internal("add service client: %w", err)
	}
	c := ServiceClient{Name: name, Digest: secret.Digest(), CreatedAt: a.now()}
	err = a.store.CreateServiceClient(ctx, c)
	if errors.Is(err, ErrConflict) {
		return ServiceClient{}, "", InvalidField("name", fmt.Sprintf("A service client named %s already exists.", name))
	}
	if err != nil {
		return ServiceClient{}, "", fmt.Errorf("add service client: %w", err)
	}
	return c, secret, nil
}

// ServiceClients lists every service client by name, without digests.
func (a *Authenticator) ServiceClients(ctx context.Context) ([]ServiceClient, error) {
	cs, err := a.store.ListServiceClients(ctx)
	if err != nil {
		return nil, fmt.Errorf("list service clients: %w", err)
	}
	for i := range cs {
		cs[i].Digest = Digest{}
	}
	return cs, nil
}

// RemoveServiceClient removes the service client named name: from its
// commit on, no process authenticates it (nothing caches service
// clients). An unknown name is ErrNotFound.
func (a *Authenticator) RemoveServiceClient(ctx context.Context, name string) error {
	if err := CheckServiceClientName(name); err != nil {
		return err
	}
	if err := a.store.DeleteServiceClient(ctx, name); err != nil {
		return fmt.Errorf("remove service client: %w", err)
	}
	return nil
}
