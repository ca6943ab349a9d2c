package password

import (
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
	"testing"

	"golang.org/x/crypto/argon2"
)

// Reference hashes of "correct horse" with the salt "saltsaltsaltsalt",
// written by the reference argon2 tool (Debian's argon2 0~20171227), e.g.
//
//	echo -n "correct horse" | argon2 saltsaltsaltsalt -id -t 1 -k 64 -p 1 -l 32 -e
const (
	refM64T1P1 = "$argon2id$v=19$m=64,t=1,p=1$c2FsdHNhbHRzYWx0c2FsdA$rAjuexKlLdAHLvqk7TeeiWZjW4OPoRGwldJXdHbTuKI"
	refM32T1P1 = "$argon2id$v=19$m=32,t=1,p=1$c2FsdHNhbHRzYWx0c2FsdA$D6TDSe5EsA1A5r6TWcm48LddBlYF+NpZab47wHTFP3g"
	refM64T2P2 = "$argon2id$v=19$m=64,t=2,p=2$c2FsdHNhbHRzYWx0c2FsdA$Sh1LF6dsajp2YjljvL/T0Tk68lSWQP232iGGbb+Qa5Y"
	// refDefault has DefaultArgon2id's parameters and the salt "0123456789abcdef".
	refDefault = "$argon2id$v=19$m=19456,t=2,p=1$MDEyMzQ1Njc4OWFiY2RlZg$rk2Mi3E4dgRMg0fHaYaptWVZRKqs//6b6k3/nntqGJk"
)

// cheap keeps tests fast; everything but the cost is as in DefaultArgon2id.
var cheap = Argon2id{Memory: 64, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 32}

// craft returns a well-formed PHC string with the given parameters and
// zero salt and key; its parameters may be beyond the caps.
func craft(m, t, p uint32, saltLen, keyLen int) string {
	return fmt.Sprintf("$argon2id$v=19$m=%d,t=%d,p=%d$%s$%s", m, t, p,
		base64.RawStdEncoding.EncodeToString(make([]byte, saltLen)),
		base64.RawStdEncoding.EncodeToString(make([]byte, keyLen)))
}

// phcCases are parser cases; FuzzParsePHC starts from them.
var phcCases = []struct {
	name string
	s    string
	ok   bool
}{
	{"reference", refM64T1P1, true},
	{"reference two lanes", refM64T2P2, true},
	{"reference default", refDefault, true},
	{"argon2 readme", "$argon2id$v=19$m=65536,t=2,p=4$c29tZXNhbHQ$F1jG2CV3/Nr+yRuIsPKw0J9r4s7cJHBU", true},
	{"at the caps", craft(maxMemory, 4, maxThreads, maxSaltLen, maxKeyLen), true},
	{"at the minimums", craft(8, 1, 1, minSaltLen, minKeyLen), true},

	{"empty", "", false},
	{"argon2i", strings.Replace(refM64T1P1, "argon2id", "argon2i", 1), false},
	{"argon2d", strings.Replace(refM64T1P1, "argon2id", "argon2d", 1), false},
	{"version 16", strings.Replace(refM64T1P1, "v=19", "v=16", 1), false},
	{"no version", "$argon2id$m=64,t=1,p=1$c2FsdHNhbHRzYWx0c2FsdA$rAjuexKlLdAHLvqk7TeeiWZjW4OPoRGwldJXdHbTuKI", false},
	{"missing p", strings.Replace(refM64T1P1, ",p=1", "", 1), false},
	{"params reordered", strings.Replace(refM64T1P1, "m=64,t=1", "t=1,m=64", 1), false},
	{"extra param", strings.Replace(refM64T1P1, "p=1", "p=1,keyid=x", 1), false},
	{"leading zero", strings.Replace(refM64T1P1, "m=64", "m=064", 1), false},
	{"plus sign", strings.Replace(refM64T1P1, "t=1", "t=+1", 1), false},
	{"empty value", strings.Replace(refM64T1P1, "t=1", "t=", 1), false},
	{"overflow", strings.Replace(refM64T1P1, "m=64", "m=4294967360", 1), false},
	{"padded salt", strings.Replace(refM64T1P1, "c2FsdHNhbHRzYWx0c2FsdA", "c2FsdHNhbHRzYWx0c2FsdA==", 1), false},
	{"url base64", strings.Replace(refM64T2P2, "L/T0", "L_T0", 1), false},
	{"line break in key", strings.Replace(refM64T1P1, "rAju", "rA\nju", 1), false},
	{"non-canonical trailing bits", strings.Replace(refM64T1P1, "c2FsdA$", "c2FsdB$", 1), false},
	{"missing key", strings.TrimSuffix(refM64T1P1, "$rAjuexKlLdAHLvqk7TeeiWZjW4OPoRGwldJXdHbTuKI"), false},
	{"trailing field", refM64T1P1 + "$", false},
	{"too long", refM64T1P1 + strings.Repeat("A", maxEncodedLen), false},
	{"memory over cap", craft(maxMemory+1, 1, 1, 16, 32), false},
	{"memory below 8 KiB per lane", craft(31, 1, 4, 16, 32), false},
	{"time zero", craft(64, 0, 1, 16, 32), false},
	{"time over cap", craft(64, maxTime+1, 1, 16, 32), false},
	{"work over cap", craft(maxMemory, 5, 1, 16, 32), false},
	{"lanes zero", craft(64, 1, 0, 16, 32), false},
	{"lanes over cap", craft(1024, 1, maxThreads+1, 16, 32), false},
	{"lanes over uint8", craft(64, 1, 257, 16, 32), false},
	{"salt too short", craft(64, 1, 1, minSaltLen-1, 32), false},
	{"salt too long", craft(64, 1, 1, maxSaltLen+1, 32), false},
	{"key too short", craft(64, 1, 1, 16, minKeyLen-1), false},
	{"key too long", craft(64, 1, 1, 16, maxKeyLen+1), false},
}

func TestParsePHC(t *testing.T) {
	for _, c := range phcCases {
		t.Run(c.name, func(t *testing.T) {
			h, err := parsePHC(c.s)
			if c.ok != (err == nil) {
				t.Fatalf("parsePHC(%q) error = %v, want ok %v", c.s, err, c.ok)
			}
			if err != nil && !errors.Is(err, ErrMalformed) {
				t.Errorf("error %v does not wrap ErrMalformed", err)
			}
			if err == nil {
				if got := h.params.encode(h.salt, h.key); got != c.s {
					t.Errorf("re-encoded as %q", got)
				}
			}
		})
	}
}

func TestParsePHCFields(t *testing.T) {
	h, err := parsePHC(refM64T2P2)
	if err != nil {
		t.Fatal(err)
	}
	want := Argon2id{Memory: 64, Time: 2, Threads: 2, SaltLen: 16, KeyLen: 32}
	if h.params != want || string(h.salt) != "saltsaltsaltsalt" {
		t.Errorf("parsed %+v salt %q, want %+v salt %q", h.params, h.salt, want, "saltsaltsaltsalt")
	}
}

func TestValidate(t *testing.T) {
	for _, c := range []struct {
		name string
		p    Argon2id
		ok   bool
	}{
		{"default", DefaultArgon2id, true},
		{"cheap", cheap, true},
		{"RFC 9106 second choice", Argon2id{Memory: 64 * 1024, Time: 3, Threads: 4, SaltLen: 16, KeyLen: 32}, true},
		{"zero", Argon2id{}, false},
		{"no salt", Argon2id{Memory: 64, Time: 1, Threads: 1, KeyLen: 32}, false},
		{"RFC 9106 first choice (2 GiB)", Argon2id{Memory: 2 << 20, Time: 1, Threads: 4, SaltLen: 16, KeyLen: 32}, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			if err := c.p.Validate(); c.ok != (err == nil) {
				t.Errorf("Validate() = %v, want ok %v", err, c.ok)
			}
		})
	}
}

// FuzzParsePHC checks that the parser never panics, that whatever it
// accepts is within the caps, and that it accepts one spelling per value.
func FuzzParsePHC(f *testing.F) {
	for _, c := range phcCases {
		f.Add(c.s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		h, err := parsePHC(s)
		if set := DefaultArgon2id.Params(s); (set != "") != (err == nil) {
			t.Fatalf("Params(%q) = %q, parse error %v: want a name only for a hash that parses", s, set, err)
		}
		if err != nil {
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("error %v does not wrap ErrMalformed", err)
			}
			return
		}
		p := h.params
		if p.Memory > maxMemory || p.Memory < 8*uint32(p.Threads) ||
			p.Time < 1 || p.Time > maxTime || uint64(p.Memory)*uint64(p.Time) > maxWork ||
			p.Threads < 1 || p.Threads > maxThreads ||
			len(h.salt) < minSaltLen || len(h.salt) > maxSaltLen ||
			len(h.key) < minKeyLen || len(h.key) > maxKeyLen ||
			int(p.SaltLen) != len(h.salt) || int(p.KeyLen) != len(h.key) {
			t.Fatalf("parsePHC(%q) accepted %+v (salt %d, key %d bytes), beyond the caps", s, p, len(h.salt), len(h.key))
		}
		if got := p.encode(h.salt, h.key); got != s {
			t.Fatalf("parsePHC(%q) re-encodes as %q", s, got)
		}
	})
}

// TestHandBuiltReference checks Verify against a string built here from
// argon2.IDKey, and the rehash verdict of shorter keys and stronger costs.
func TestHandBuiltReference(t *testing.T) {
	salt := []byte("0123456789abcdef")
	for _, c := range []struct {
		name   string
		m, t   uint32
		keyLen uint32
		rehash bool
	}{
		{"same params", 64, 1, 32, false},
		{"shorter key", 64, 1, 16, true},
		{"more memory and passes", 128, 2, 32, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			key := argon2.IDKey([]byte("correct horse"), salt, c.t, c.m, 1, c.keyLen)
			encoded := fmt.Sprintf("$argon2id$v=19$m=%d,t=%d,p=1$MDEyMzQ1Njc4OWFiY2RlZg$%s",
				c.m, c.t, base64.RawStdEncoding.EncodeToString(key))
			ok, weaker, err := cheap.Verify("correct horse", encoded)
			if err != nil || !ok || weaker != c.rehash {
				t.Errorf("Verify(%q) = %v, %v, %v; want true, %v, nil", encoded, ok, weaker, err, c.rehash)
			}
		})
	}
}
