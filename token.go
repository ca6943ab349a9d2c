package latchkey

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"io"
	"log/slog"
)

// TokenPrefix starts every token latchkey issues, so that secret scanners
// can find leaked ones.
const TokenPrefix = "lk_"

// TokenBytes is the number of random bytes in a token: 256 bits.
const TokenBytes = 32

// MaxTokenLength bounds what is accepted as a token before hashing. Issued
// tokens are 46 characters; imported Django REST Framework keys are 40.
const MaxTokenLength = 256

// Token is an opaque bearer secret. It is never stored: only its Digest is.
// It prints as [redacted] in logs and fmt verbs.
type Token string

// NewToken draws a token from r (crypto/rand.Reader when r is nil).
func NewToken(r io.Reader) (Token, error) {
	if r == nil {
		r = rand.Reader
	}
	var b [TokenBytes]byte
	if _, err := io.ReadFull(r, b[:]); err != nil {
		return "", fmt.Errorf("token: read random: %w", err)
	}
	return Token(TokenPrefix + base64.RawURLEncoding.EncodeToString(b[:])), nil
}

// Digest returns the SHA-256 digest under which the token is stored and cached.
func (t Token) Digest() Digest {
	// Copying into a stack buffer spares the hot path the heap allocation
	// of a []byte(t) conversion.
	if len(t) <= MaxTokenLength {
		var buf [MaxTokenLength]byte
		n := copy(buf[:], t)
		return Digest(sha256.Sum256(buf[:n]))
	}
	return Digest(sha256.Sum256([]byte(t)))
}

// Reveal returns the secret itself, for the one place that hands it to the client.
func (t Token) Reveal() string { return string(t) }

// String hides the secret from fmt.
func (t Token) String() string { return "[redacted]" }

// GoString hides the secret from %#v.
func (t Token) GoString() string { return "[redacted]" }

// LogValue hides the secret from log/slog.
func (t Token) LogValue() slog.Value { return slog.StringValue("[redacted]") }

// ValidTokenSyntax reports whether s could be a token: 1 to MaxTokenLength
// characters of the RFC 6750 token68 alphabet. It does not say the token is live.
func ValidTokenSyntax(s string) bool {
	if len(s) == 0 || len(s) > MaxTokenLength {
		return false
	}
	for i := 0; i < len(s); i++ {
		if !token68[s[i]] {
			if s[i] != '=' || i == 0 {
				return false
			}
			// Trailing padding only.
			for _, p := range []byte(s[i:]) {
				if p != '=' {
					return false
				}
			}
			return true
		}
	}
	return true
}

// token68 holds the characters of a token68 but its trailing '='
// padding: one probe a byte, on the path of every token check.
var token68 = func() (t [256]bool) {
	for c := range 256 {
		t[c] = c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' ||
			c == '-' || c == '.' || c == '_' || c == '~' || c == '+' || c == '/'
	}
	return t
}()

// Digest is the SHA-256 of a token or of a service client's secret.
// Knowing it does not give the secret.
type Digest [sha256.Size]byte

// String returns a short prefix, enough to correlate in a debugger and
// never enough to be used; logs should not carry digests at all.
func (d Digest) String() string { return "[digest]" }

// LogValue keeps digests out of logs.
func (d Digest) LogValue() slog.Value { return slog.StringValue("[redacted]") }

// Hex returns the full hexadecimal digest, for storage layers that need text.
func (d Digest) Hex() string { return hex.EncodeToString(d[:]) }

// Password is a clear-text password. It prints as [redacted].
type Password string

// String hides the secret from fmt.
func (p Password) String() string { return "[redacted]" }

// GoString hides the secret from %#v.
func (p Password) GoString() string { return "[redacted]" }

// LogValue hides the secret from log/slog.
func (p Password) LogValue() slog.Value { return slog.StringValue("[redacted]") }
