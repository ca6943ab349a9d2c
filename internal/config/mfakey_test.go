package config

import (
	"bytes"
	"encoding/base64"
	"encoding/hex"
	"strings"
	"testing"
)

var mfaKeyBytes = bytes.Repeat([]byte{0xfb, 0x01}, MFAKeySize/2)

var mfaKeyCases = []struct {
	name, in string
	ok       bool
}{
	{"hex", hex.EncodeToString(mfaKeyBytes), true},
	{"hex, upper case", strings.ToUpper(hex.EncodeToString(mfaKeyBytes)), true},
	{"base64", base64.StdEncoding.EncodeToString(mfaKeyBytes), true},
	{"base64 unpadded", base64.RawStdEncoding.EncodeToString(mfaKeyBytes), true},
	{"base64url", base64.URLEncoding.EncodeToString(mfaKeyBytes), true},
	{"spaces around", "  " + hex.EncodeToString(mfaKeyBytes) + "\n", true},
	{"unset", "", true},
	{"short hex", hex.EncodeToString(mfaKeyBytes[:16]), false},
	{"long hex", hex.EncodeToString(append(mfaKeyBytes, 1)), false},
	{"short base64", base64.StdEncoding.EncodeToString(mfaKeyBytes[:31]), false},
	{"a passphrase", "correct horse battery staple correct horse battery", false},
	{"hex with a typo", "g" + hex.EncodeToString(mfaKeyBytes)[1:], false},
}

func TestParseMFAKey(t *testing.T) {
	for _, c := range mfaKeyCases {
		t.Run(c.name, func(t *testing.T) {
			got, err := ParseMFAKey(c.in)
			if (err == nil) != c.ok {
				t.Fatalf("ParseMFAKey: %v, want ok %v", err, c.ok)
			}
			if err != nil && strings.Contains(err.Error(), strings.TrimSpace(c.in)) {
				t.Errorf("the error quotes the value: %v", err)
			}
			if c.ok && c.in != "" && !bytes.Equal(got, mfaKeyBytes) {
				t.Errorf("key = %x", got)
			}
		})
	}
	var v MFAKey
	if err := v.Set(hex.EncodeToString(mfaKeyBytes)); err != nil || v.String() != "[redacted]" {
		t.Errorf("Set: %v; String %q", err, v.String())
	}
}

func FuzzParseMFAKey(f *testing.F) {
	for _, c := range mfaKeyCases {
		f.Add(c.in)
	}
	f.Fuzz(func(t *testing.T, in string) {
		b, err := ParseMFAKey(in)
		switch {
		case err != nil && b != nil:
			t.Fatal("a key with an error")
		case err == nil && b != nil && len(b) != MFAKeySize:
			t.Fatalf("a key of %d bytes", len(b))
		case err == nil && b == nil && strings.TrimSpace(in) != "":
			t.Fatal("no key and no error for a value")
		case err != nil && len(in) > 8 && strings.Contains(err.Error(), in):
			t.Fatal("the error quotes the value")
		}
	})
}
