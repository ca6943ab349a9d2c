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

func TestNewToken(t *testing.T) {
	seen := map[latchkey.Token]bool{}
	for range 1000 {
		tok, err := latchkey.NewToken(nil)
		if err != nil {
			t.Fatal(err)
		}
		s := tok.Reveal()
		if !strings.HasPrefix(s, "lk_") || len(s) != 3+43 || !latchkey.ValidTokenSyntax(s) {
			t.Fatalf("token %q", s)
		}
		if strings.ContainsAny(s[3:], "+/=") {
			t.Fatalf("token %q is not URL-safe", s)
		}
		if seen[tok] {
			t.Fatal("token drawn twice")
		}
		seen[tok] = true
		if tok.Digest() != sha256.Sum256([]byte(s)) {
			t.Fatal("digest is not the SHA-256 of the token")
		}
	}
	if _, err := latchkey.NewToken(bytes.NewReader(make([]byte, 8))); err == nil {
		t.Fatal("a short random source gave a token")
	}
}

func TestSecretsRedacted(t *testing.T) {
	tok, _ := latchkey.NewToken(nil)
	pw := latchkey.Password("hunter2 hunter2")
	var buf bytes.Buffer
	log := slog.New(slog.NewJSONHandler(&buf, nil))
	log.Info("x", "token", tok, "password", pw, "digest", tok.Digest())
	log.Info(fmt.Sprint(tok, pw), "v", fmt.Sprintf("%v %s %#v %+v", tok, pw, tok, pw))
	out := buf.String()
	if strings.Contains(out, tok.Reveal()) || strings.Contains(out, string(pw)) || strings.Contains(out, tok.Digest().Hex()) {
		t.Fatalf("a secret reached the log: %s", out)
	}
}

func TestValidTokenSyntax(t *testing.T) {
	for s, want := range map[string]bool{
		"lk_abc-_DEF012": true,
		"273b9388c232eac87fc9a4d02a3fb3a4ec9d78d4": true,
		"abc==":                  true,
		"":                       false,
		"=abc":                   false,
		"ab=c":                   false,
		"a b":                    false,
		"a\x00":                  false,
		"é":                      false,
		strings.Repeat("a", 256): true,
		strings.Repeat("a", 257): false,
	} {
		if got := latchkey.ValidTokenSyntax(s); got != want {
			t.Errorf("ValidTokenSyntax(%q) = %v, want %v", s, got, want)
		}
	}
}

// TestValidTokenSyntaxEveryByte holds ValidTokenSyntax to the token68
// grammar (RFC 6750 §2.1), written out plainly, for every byte in every
// place: first, inside, last, and before padding.
func TestValidTokenSyntaxEveryByte(t *testing.T) {
	token68 := func(s string) bool {
		body := strings.TrimRight(s, "=")
		if body == "" || len(s) > latchkey.MaxTokenLength {
			return false
		}
		for _, c := range []byte(body) {
			if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || strings.IndexByte("-._~+/", c) >= 0) {
				return false
			}
		}
		return true
	}
	for c := range 256 {
		b := string([]byte{byte(c)})
		for _, s := range []string{b, b + "ab", "ab" + b, "a" + b + "b", "ab" + b + "=", "ab=" + b, "ab" + b + "=="} {
			if got, want := latchkey.ValidTokenSyntax(s), token68(s); got != want {
				t.Errorf("ValidTokenSyntax(%q) = %v, want %v", s, got, want)
			}
		}
	}
}
