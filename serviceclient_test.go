package latchkey_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"testing"

	"github.com/latchkeyhq/latchkey"
)

func TestNewClientSecret(t *testing.T) {
	seen := map[latchkey.ClientSecret]bool{}
	for range 1000 {
		s, err := latchkey.NewClientSecret(nil)
		if err != nil {
			t.Fatal(err)
		}
		v := s.Reveal()
		if !strings.HasPrefix(v, "lkc_") || len(v) != 4+43 || strings.ContainsAny(v[4:], "+/=") {
			t.Fatalf("secret %q: want lkc_ and 43 characters of URL-safe base64", v)
		}
		if seen[s] {
			t.Fatal("secret drawn twice")
		}
		seen[s] = true
		if s.Digest() != sha256.Sum256([]byte(v)) {
			t.Fatal("digest is not the SHA-256 of the secret")
		}
	}
	if _, err := latchkey.NewClientSecret(bytes.NewReader(make([]byte, 8))); err == nil {
		t.Fatal("a short random source gave a secret")
	}
}

func TestClientSecretRedacted(t *testing.T) {
	s, _ := latchkey.NewClientSecret(nil)
	var buf bytes.Buffer
	log := slog.New(slog.NewJSONHandler(&buf, nil))
	log.Info("x", "secret", s, "digest", s.Digest())
	log.Info(fmt.Sprint(s), "v", fmt.Sprintf("%v %s %#v %+v %q", s, s, s, s, s))
	out := buf.String()
	if strings.Contains(out, s.Reveal()) || strings.Contains(out, s.Reveal()[4:]) || strings.Contains(out, s.Digest().Hex()) {
		t.Fatalf("a secret reached the log: %s", out)
	}
}

// TestServiceClientAdmin checks the administration of service clients:
// the secret is shown once and only its digest is kept, names are
// checked, a taken name is refused, listings carry no digest.
func TestServiceClientAdmin(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, latchkey.Options{})
	c, secret, err := f.auth.AddServiceClient(ctx, "billing")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(secret.Reveal(), "lkc_") || c.Name != "billing" || !c.CreatedAt.Equal(f.clock.Now()) {
		t.Fatalf("AddServiceClient = %+v, secret of %d characters", c, len(secret.Reveal()))
	}
	stored, err := f.store.ServiceClientByName(ctx, "billing")
	if err != nil {
		t.Fatal(err)
	}
	if stored.Digest != secret.Digest() {
		t.Fatal("the stored digest is not the secret's")
	}

	_, again, err := f.auth.AddServiceClient(ctx, "billing")
	if fs := latchkey.AsError(err).Fields["name"]; len(fs) != 1 || !strings.Contains(fs[0], "already exists") || again != "" {
		t.Fatalf("a taken name: %v, want a field error on name", err)
	}
	if s, _ := f.store.ServiceClientByName(ctx, "billing"); s.Digest != secret.Digest() {
		t.Fatal("a refused add replaced the secret")
	}

	for _, name := range []string{"", "a b", strings.Repeat("a", 65), "caf\u00e9", "a/b", "a:b", "a%3Ab", "a\x00", "tab\tname"} {
		_, _, err := f.auth.AddServiceClient(ctx, name)
		if fs := latchkey.AsError(err).Fields["name"]; len(fs) != 1 {
			t.Errorf("AddServiceClient(%q) = %v, want a field error on name", name, err)
		}
		if err := f.auth.RemoveServiceClient(ctx, name); latchkey.ErrorKind(err) != latchkey.KindInvalid {
			t.Errorf("RemoveServiceClient(%q) = %v, want invalid", name, err)
		}
	}
	for _, name := range []string{"a", strings.Repeat("Z", 64), "svc-1.prod_EU"} {
		if _, _, err := f.auth.AddServiceClient(ctx, name); err != nil {
			t.Errorf("AddServiceClient(%q): %v", name, err)
		}
	}

	cs, err := f.auth.ServiceClients(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, c := range cs {
		names = append(names, c.Name)
		if c.Digest != (latchkey.Digest{}) {
			t.Errorf("ServiceClients lists %s with its digest", c.Name)
		}
	}
	if got, want := strings.Join(names, " "), strings.Join([]string{strings.Repeat("Z", 64), "a", "billing", "svc-1.prod_EU"}, " "); got != want {
		t.Errorf("ServiceClients = %s, want %s", got, want)
	}

	if err := f.auth.RemoveServiceClient(ctx, "billing"); err != nil {
		t.Fatal(err)
	}
	if err := f.auth.RemoveServiceClient(ctx, "billing"); !errors.Is(err, latchkey.ErrNotFound) {
		t.Fatalf("removing it again: %v, want not found", err)
	}
}
