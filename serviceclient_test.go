package latchkey_test

import (
	"bytes"
	"crypto/sha256"
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
