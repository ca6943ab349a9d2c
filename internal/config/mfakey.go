package config

import (
	"encoding/base64"
	"encoding/hex"
	"errors"
	"strings"
)

// MFAKeySize is the size of LATCHKEY_MFA_KEY, in bytes (AES-256).
const MFAKeySize = 32

// errMFAKey is the one error of a malformed key: it never quotes the
// value, which is a secret.
var errMFAKey = errors.New("must be 32 random bytes, written as 64 hexadecimal digits or in base64 (e.g. the output of openssl rand -hex 32)")

// ParseMFAKey reads the key that seals TOTP secrets: 32 bytes, as 64
// hexadecimal digits or in base64 (standard or URL-safe, padded or not).
// Surrounding spaces are ignored; "" is no key (nil).
func ParseMFAKey(s string) ([]byte, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return nil, nil
	}
	if len(s) == 2*MFAKeySize {
		if b, err := hex.DecodeString(s); err == nil {
			return b, nil
		}
	}
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
		if b, err := enc.Strict().DecodeString(s); err == nil && len(b) == MFAKeySize {
			return b, nil
		}
	}
	return nil, errMFAKey
}

// MFAKey is the value of LATCHKEY_MFA_KEY: the key's bytes, nil when
// unset. It prints as [redacted].
type MFAKey []byte

func (v *MFAKey) String() string {
	if v == nil || len(*v) == 0 {
		return ""
	}
	return "[redacted]"
}

func (v *MFAKey) Set(s string) error {
	b, err := ParseMFAKey(s)
	if err != nil {
		return err
	}
	*v = b
	return nil
}
