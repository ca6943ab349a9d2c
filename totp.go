package latchkey

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hmac"
	"crypto/sha1"
	"crypto/sha256"
	"encoding/base32"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// The mechanics of the TOTP second factor (RFC 6238 with the parameters
// every authenticator app assumes: SHA-1, 6 digits, 30 s steps, one step
// of skew either way), of its recovery codes, and of the key that seals
// TOTP secrets in the store. They are a few lines of the standard library
// each; the flows that use them are in mfa.go.

const (
	// TOTPDigits, TOTPPeriod and TOTPSkew are the TOTP parameters.
	TOTPDigits = 6
	TOTPPeriod = 30 * time.Second
	TOTPSkew   = 1
	// totpSecretBytes is the size of a TOTP secret: 160 bits, the size
	// of the HMAC-SHA-1 key RFC 4226 recommends.
	totpSecretBytes = 20
	// RecoveryCodes is how many recovery codes a confirmation shows.
	RecoveryCodes = 10
	// recoveryCodeChars is the length of a recovery code once normalised:
	// base32, 60 bits, shown in groups of four (abcd-efgh-ijkl).
	recoveryCodeChars = 12
	// MaxMFACodeLength bounds a code as sent, in bytes, before it is
	// normalised.
	MaxMFACodeLength = 64
)

// totpStep returns the time step t falls in.
func totpStep(t time.Time) int64 { return t.Unix() / int64(TOTPPeriod/time.Second) }

// totpCode returns the code of secret at a time step (RFC 4226's HOTP of
// the step: HMAC-SHA-1, dynamic truncation, TOTPDigits digits).
func totpCode(secret []byte, step int64) string {
	var msg [8]byte
	binary.BigEndian.PutUint64(msg[:], uint64(step))
	m := hmac.New(sha1.New, secret)
	m.Write(msg[:])
	sum := m.Sum(nil)
	off := sum[len(sum)-1] & 0x0f
	v := binary.BigEndian.Uint32(sum[off:off+4]) & 0x7fffffff
	return fmt.Sprintf("%0*d", TOTPDigits, v%1_000_000)
}

// matchTOTP returns the step, within TOTPSkew steps of now, whose code is
// code; false when none is. Every step of the window is computed and
// compared in constant time, whichever matches.
func matchTOTP(secret []byte, code string, now time.Time) (int64, bool) {
	cur := totpStep(now)
	var (
		found int64
		ok    bool
	)
	for s := cur - TOTPSkew; s <= cur+TOTPSkew; s++ {
		if hmac.Equal([]byte(totpCode(secret, s)), []byte(code)) && !ok {
			found, ok = s, true
		}
	}
	return found, ok
}

// totpURL is the otpauth:// URL of a secret that authenticator apps
// read from a QR code (the Key URI format of Google Authenticator).
func totpURL(issuer, account string, secret []byte) string {
	v := url.Values{}
	v.Set("secret", totpSecretText(secret))
	v.Set("issuer", issuer)
	v.Set("algorithm", "SHA1")
	v.Set("digits", strconv.Itoa(TOTPDigits))
	v.Set("period", strconv.Itoa(int(TOTPPeriod/time.Second)))
	u := url.URL{Scheme: "otpauth", Host: "totp", Path: "/" + issuer + ":" + account, RawQuery: v.Encode()}
	return u.String()
}

// totpSecretText is a secret as apps take it typed: base32, no padding.
func totpSecretText(secret []byte) string {
	return base32.StdEncoding.WithPadding(base32.NoPadding).EncodeToString(secret)
}

// codeKind is what a code sent as a second factor looks like.
type codeKind uint8

const (
	codeMalformed codeKind = iota // neither: a wrong code
	codeTOTP                      // TOTPDigits digits
	codeRecovery                  // a recovery code
)

// recoveryAlphabet is lower-case base32: no 0, 1, 8 or 9 to mistake.
const recoveryAlphabet = "abcdefghijklmnopqrstuvwxyz234567"

var recoveryEncoding = base32.NewEncoding(recoveryAlphabet).WithPadding(base32.NoPadding)

// normalizeCode returns a code as typed in the form it is checked in,
// and what it looks like: case is folded, and spaces and dashes (which
// apps and recovery codes show between groups) are dropped. Anything
// else is codeMalformed.
func normalizeCode(code string) (string, codeKind) {
	if len(code) > MaxMFACodeLength {
		return "", codeMalformed
	}
	var b strings.Builder
	b.Grow(len(code))
	for i := 0; i < len(code); i++ {
		c := code[i]
		switch {
		case c == ' ' || c == '-' || c == '\t':
		case c >= 'A' && c <= 'Z':
			b.WriteByte(c + 'a' - 'A')
		default:
			b.WriteByte(c)
		}
	}
	n := b.String()
	switch {
	case len(n) == TOTPDigits && strings.Trim(n, "0123456789") == "":
		return n, codeTOTP
	case len(n) == recoveryCodeChars && strings.Trim(n, recoveryAlphabet) == "":
		return n, codeRecovery
	}
	return "", codeMalformed
}

// newRecoveryCode draws a recovery code from r, as shown: abcd-efgh-ijkl.
func newRecoveryCode(r io.Reader) (string, error) {
	var b [recoveryCodeChars * 5 / 8]byte
	if _, err := io.ReadFull(r, b[:]); err != nil {
		return "", err
	}
	s := recoveryEncoding.EncodeToString(b[:])
	return s[0:4] + "-" + s[4:8] + "-" + s[8:12], nil
}

// recoveryDigest is what the store keeps of a normalised recovery code.
// A code holds 60 random bits and a login tries few: a plain SHA-256 is
// enough, as for tokens.
func recoveryDigest(normalized string) Digest { return sha256.Sum256([]byte(normalized)) }

// MFAKeySize is the size of the key that seals TOTP secrets.
const MFAKeySize = 32

// MFAKey seals TOTP secrets for the store with AES-256-GCM, bound to the
// user they belong to, so that neither a copy of the database nor a
// secret moved to another row gives a code. It prints as [redacted].
type MFAKey struct {
	aead  cipher.AEAD
	check []byte
}

// mfaKeyCheckLabel is what the key check value is the HMAC of.
const mfaKeyCheckLabel = "latchkey mfa key check v1"

// NewMFAKey returns the key of raw, MFAKeySize bytes.
func NewMFAKey(raw []byte) (*MFAKey, error) {
	if len(raw) != MFAKeySize {
		return nil, fmt.Errorf("mfa key: %d bytes, want %d", len(raw), MFAKeySize)
	}
	block, err := aes.NewCipher(raw)
	if err != nil {
		return nil, fmt.Errorf("mfa key: %w", err)
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, fmt.Errorf("mfa key: %w", err)
	}
	m := hmac.New(sha256.New, raw)
	m.Write([]byte(mfaKeyCheckLabel))
	return &MFAKey{aead: aead, check: m.Sum(nil)}, nil
}

// Check is the key check value the store keeps (MFAStore.MFAKeyCheck): an
// HMAC of a fixed label, which tells one key from another and gives
// nothing of the key.
func (k *MFAKey) Check() []byte { return append([]byte(nil), k.check...) }

func (k *MFAKey) String() string       { return "[redacted]" }
func (k *MFAKey) GoString() string     { return "[redacted]" }
func (k *MFAKey) LogValue() slog.Value { return slog.StringValue("[redacted]") }

// totpAAD binds a sealed secret to its user.
func totpAAD(userID int64) []byte {
	return binary.BigEndian.AppendUint64([]byte("latchkey totp "), uint64(userID))
}

// seal encrypts the secret of the user: a random nonce, then the
// ciphertext.
func (k *MFAKey) seal(r io.Reader, userID int64, secret []byte) ([]byte, error) {
	nonce := make([]byte, k.aead.NonceSize(), k.aead.NonceSize()+len(secret)+k.aead.Overhead())
	if _, err := io.ReadFull(r, nonce); err != nil {
		return nil, fmt.Errorf("mfa key: nonce: %w", err)
	}
	return k.aead.Seal(nonce, nonce, secret, totpAAD(userID)), nil
}

// open decrypts what seal sealed for the user. It fails for another
// user's secret, another key's, or altered bytes.
func (k *MFAKey) open(userID int64, sealed []byte) ([]byte, error) {
	if len(sealed) < k.aead.NonceSize() {
		return nil, errors.New("mfa key: sealed secret too short")
	}
	n := k.aead.NonceSize()
	secret, err := k.aead.Open(nil, sealed[:n], sealed[n:], totpAAD(userID))
	if err != nil {
		return nil, errors.New("mfa key: sealed secret does not open under this key")
	}
	return secret, nil
}
