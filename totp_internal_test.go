package latchkey

import (
	"bytes"
	"crypto/rand"
	"strings"
	"testing"
	"time"

	"github.com/pquerna/otp"
	"github.com/pquerna/otp/totp"
)

func TestTOTPCodeRFC6238(t *testing.T) {
	// RFC 6238 appendix B, SHA-1: its 8-digit codes end in ours.
	secret := []byte("12345678901234567890")
	for _, c := range []struct {
		unix int64
		want string
	}{
		{59, "94287082"}, {1111111109, "07081804"}, {1111111111, "14050471"},
		{1234567890, "89005924"}, {2000000000, "69279037"}, {20000000000, "65353130"},
	} {
		t.Run(c.want, func(t *testing.T) {
			if got := totpCode(secret, totpStep(time.Unix(c.unix, 0))); got != c.want[2:] {
				t.Errorf("code at %d = %s, want %s", c.unix, got, c.want[2:])
			}
		})
	}
}

func TestTOTPCodeAgreesWithLibrary(t *testing.T) {
	for range 50 {
		secret := make([]byte, totpSecretBytes)
		rand.Read(secret)
		at := time.Unix(int64(secret[0])<<24|int64(secret[1])<<16|int64(secret[2]), 0)
		want, err := totp.GenerateCodeCustom(totpSecretText(secret), at, totp.ValidateOpts{
			Period: 30, Digits: otp.DigitsSix, Algorithm: otp.AlgorithmSHA1,
		})
		if err != nil {
			t.Fatal(err)
		}
		if got := totpCode(secret, totpStep(at)); got != want {
			t.Fatalf("code = %s, library's %s", got, want)
		}
	}
}

func TestMatchTOTPWindow(t *testing.T) {
	secret := []byte("12345678901234567890")
	now := time.Unix(1_700_000_015, 0)
	cur := totpStep(now)
	for _, c := range []struct {
		name string
		step int64
		ok   bool
	}{{"previous", cur - 1, true}, {"current", cur, true}, {"next", cur + 1, true}, {"two back", cur - 2, false}, {"two ahead", cur + 2, false}} {
		t.Run(c.name, func(t *testing.T) {
			step, ok := matchTOTP(secret, totpCode(secret, c.step), now)
			if ok != c.ok || (ok && step != c.step) {
				t.Errorf("matchTOTP = %d, %v; want %d, %v", step, ok, c.step, c.ok)
			}
		})
	}
}

func TestTOTPURLReadsBack(t *testing.T) {
	secret := []byte("12345678901234567890")
	k, err := otp.NewKeyFromURL(totpURL("latchkey", "alice@example.com", secret))
	if err != nil {
		t.Fatal(err)
	}
	if k.Issuer() != "latchkey" || k.AccountName() != "alice@example.com" || k.Secret() != totpSecretText(secret) || k.Period() != 30 {
		t.Errorf("key read back: issuer %q, account %q, secret %q, period %d", k.Issuer(), k.AccountName(), k.Secret(), k.Period())
	}
}

var normalizeCodeCases = []struct {
	in, want string
	kind     codeKind
}{
	{"123456", "123456", codeTOTP},
	{"123 456", "123456", codeTOTP},
	{" 123-456 ", "123456", codeTOTP},
	{"12345", "", codeMalformed},
	{"1234567", "", codeMalformed},
	{"12345a", "", codeMalformed},
	{"abcd-efgh-ijkl", "abcdefghijkl", codeRecovery},
	{"ABCD EFGH IJKL", "abcdefghijkl", codeRecovery},
	{"abcdefgh2345", "abcdefgh2345", codeRecovery},
	{"abcd-efgh-ijk1", "", codeMalformed}, // 1 is not base32
	{"abcd-efgh-ijk", "", codeMalformed},
	{"", "", codeMalformed},
	{"１２３４５６", "", codeMalformed}, // full-width digits
	{strings.Repeat(" ", MaxMFACodeLength) + "123456", "", codeMalformed},
}

func TestNormalizeCode(t *testing.T) {
	for _, c := range normalizeCodeCases {
		t.Run(c.in, func(t *testing.T) {
			got, kind := normalizeCode(c.in)
			if got != c.want || kind != c.kind {
				t.Errorf("normalizeCode(%q) = %q, %v; want %q, %v", c.in, got, kind, c.want, c.kind)
			}
		})
	}
}

func FuzzNormalizeCode(f *testing.F) {
	for _, c := range normalizeCodeCases {
		f.Add(c.in)
	}
	f.Fuzz(func(t *testing.T, in string) {
		got, kind := normalizeCode(in)
		switch kind {
		case codeMalformed:
			if got != "" {
				t.Fatalf("malformed %q normalised to %q", in, got)
			}
		case codeTOTP:
			if len(got) != TOTPDigits || strings.Trim(got, "0123456789") != "" {
				t.Fatalf("TOTP code %q from %q", got, in)
			}
		case codeRecovery:
			if len(got) != recoveryCodeChars || strings.Trim(got, recoveryAlphabet) != "" {
				t.Fatalf("recovery code %q from %q", got, in)
			}
		}
		if again, k := normalizeCode(got); kind != codeMalformed && (again != got || k != kind) {
			t.Fatalf("not idempotent: %q -> %q -> %q", in, got, again)
		}
	})
}

func TestRecoveryCodesNormalise(t *testing.T) {
	for range 20 {
		shown, err := newRecoveryCode(rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		n, kind := normalizeCode(strings.ToUpper(shown))
		if kind != codeRecovery || n != strings.ReplaceAll(shown, "-", "") {
			t.Fatalf("shown %q normalises to %q, %v", shown, n, kind)
		}
	}
}

func TestMFAKeySeal(t *testing.T) {
	k, err := NewMFAKey(bytes.Repeat([]byte{7}, MFAKeySize))
	if err != nil {
		t.Fatal(err)
	}
	other, _ := NewMFAKey(bytes.Repeat([]byte{8}, MFAKeySize))
	secret := []byte("12345678901234567890")
	sealed, err := k.seal(rand.Reader, 1, secret)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(sealed, secret) {
		t.Error("the sealed secret holds the secret")
	}
	if got, err := k.open(1, sealed); err != nil || !bytes.Equal(got, secret) {
		t.Errorf("open = %q, %v", got, err)
	}
	if _, err := k.open(2, sealed); err == nil {
		t.Error("another user's secret opened")
	}
	if _, err := other.open(1, sealed); err == nil {
		t.Error("the secret opened under another key")
	}
	if bytes.Equal(k.Check(), other.Check()) {
		t.Error("two keys have one check value")
	}
	if _, err := NewMFAKey(make([]byte, 16)); err == nil {
		t.Error("a 16-byte key was accepted")
	}
}
