package latchkey

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
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
