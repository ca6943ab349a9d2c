package password

import (
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"math"
	"strings"

	"golang.org/x/crypto/argon2"

	"github.com/latchkeyhq/latchkey"
)

// Argon2id holds Argon2id parameters. As a Scheme it verifies PHC strings
//
//	$argon2id$v=19$m=<KiB>,t=<passes>,p=<lanes>$<salt>$<key>
//
// (salt and key in unpadded standard base64), the form the reference argon2
// tool and passlib write, and calls a stored hash weaker when it has less
// memory, fewer passes, or a shorter salt or key than these parameters.
// Fewer lanes are not weaker: they spread the same work over fewer threads.
type Argon2id struct {
	Memory  uint32 // KiB
	Time    uint32 // passes over the memory
	Threads uint8  // lanes
	SaltLen uint32 // bytes
	KeyLen  uint32 // bytes
}

// DefaultArgon2id is OWASP's recommendation: 19 MiB, 2 passes, 1 lane, a
// 16-byte salt and a 32-byte key. Treat it as a constant.
var DefaultArgon2id = Argon2id{Memory: 19 * 1024, Time: 2, Threads: 1, SaltLen: 16, KeyLen: 32}

// Caps on Argon2id parameters. A stored hash is outside input (an import, a
// restored backup, a write to the database), so its parameters must not
// choose what one check costs: m=4 GiB would allocate 4 GiB per login. A
// hash beyond the caps is malformed and never computed. The caps leave room
// above DefaultArgon2id, e.g. for RFC 9106's 64 MiB, 3 passes, 4 lanes.
const (
	maxMemory  = 256 * 1024 // KiB
	maxTime    = 16
	maxThreads = 16
	// maxWork bounds memory × passes, in KiB: one GiB of memory filled, a
	// second or so, whichever of m and t is large.
	maxWork    = 1 << 20
	minSaltLen = 8
	maxSaltLen = 64
	minKeyLen  = 4
	maxKeyLen  = 128
	// maxEncodedLen is well above the longest string within the caps
	// (292 bytes); longer input is refused before it is split.
	maxEncodedLen = 512
)

const argon2idPrefix = "$argon2id$"

// b64 is the PHC strings' base64: unpadded, and strict so that every value
// has exactly one encoding.
var b64 = base64.RawStdEncoding.Strict()

// Validate reports whether p is within the caps that stored hashes are held
// to, so that the hashes it writes can be read back.
func (p Argon2id) Validate() error {
	switch {
	case p.Time < 1 || p.Time > maxTime:
		return fmt.Errorf("argon2id: t=%d not in 1..%d", p.Time, maxTime)
	case p.Threads < 1 || p.Threads > maxThreads:
		return fmt.Errorf("argon2id: p=%d not in 1..%d", p.Threads, maxThreads)
	case p.Memory < 8*uint32(p.Threads) || p.Memory > maxMemory:
		// Argon2 needs 8 KiB per lane; the reference tool refuses less.
		return fmt.Errorf("argon2id: m=%d not in %d..%d", p.Memory, 8*uint32(p.Threads), maxMemory)
	case uint64(p.Memory)*uint64(p.Time) > maxWork:
		return fmt.Errorf("argon2id: m×t=%d over %d", uint64(p.Memory)*uint64(p.Time), maxWork)
	case p.SaltLen < minSaltLen || p.SaltLen > maxSaltLen:
		return fmt.Errorf("argon2id: salt length %d not in %d..%d", p.SaltLen, minSaltLen, maxSaltLen)
	case p.KeyLen < minKeyLen || p.KeyLen > maxKeyLen:
		return fmt.Errorf("argon2id: key length %d not in %d..%d", p.KeyLen, minKeyLen, maxKeyLen)
	}
	return nil
}

// Identify reports whether encoded is an Argon2id PHC string.
func (p Argon2id) Identify(encoded string) bool { return strings.HasPrefix(encoded, argon2idPrefix) }

// Verify checks pw against an Argon2id PHC string; weaker compares the
// string's parameters with p.
func (p Argon2id) Verify(pw latchkey.Password, encoded string) (ok, weaker bool, err error) {
	h, err := parsePHC(encoded)
	if err != nil {
		return false, false, err
	}
	s := h.params
	weaker = s.Memory < p.Memory || s.Time < p.Time || s.SaltLen < p.SaltLen || s.KeyLen < p.KeyLen
	return h.verify(pw), weaker, nil
}

// Params names the parameter set of an Argon2id PHC string:
// "argon2id$m=19456,t=2,p=1". The lengths of salt and key barely change
// what a check costs and are left out.
func (p Argon2id) Params(encoded string) string {
	h, err := parsePHC(encoded)
	if err != nil {
		return ""
	}
	return h.params.set()
}

// set names p's parameter set, as Params does.
func (p Argon2id) set() string {
	return fmt.Sprintf("argon2id$m=%d,t=%d,p=%d", p.Memory, p.Time, p.Threads)
}

func (p Argon2id) derive(pw latchkey.Password, salt []byte) []byte {
	return argon2.IDKey([]byte(pw), salt, p.Time, p.Memory, p.Threads, p.KeyLen)
}

func (p Argon2id) encode(salt, key []byte) string {
	return fmt.Sprintf("%sv=19$m=%d,t=%d,p=%d$%s$%s",
		argon2idPrefix, p.Memory, p.Time, p.Threads, b64.EncodeToString(salt), b64.EncodeToString(key))
}

// phc is a parsed Argon2id PHC string. Its params' SaltLen and KeyLen are
// those of salt and key.
type phc struct {
	params    Argon2id
	salt, key []byte
}

// verify derives pw's key and compares it in constant time, so that the
// comparison tells nothing about how much of the key matched.
func (h phc) verify(pw latchkey.Password) bool {
	return subtle.ConstantTimeCompare(h.params.derive(pw, h.salt), h.key) == 1
}

// parsePHC parses an Argon2id PHC string strictly: version 19 only, the
// parameters m, t and p all present in that order as plain decimals, the
// salt and key in canonical unpadded base64, everything within the caps.
// A string it accepts is exactly what encode writes for its values.
func parsePHC(s string) (phc, error) {
	if len(s) > maxEncodedLen {
		return phc{}, malformed("longer than %d bytes", maxEncodedLen)
	}
	f := strings.Split(s, "$")
	if len(f) != 6 || f[0] != "" || f[1] != "argon2id" {
		return phc{}, malformed("not an argon2id PHC string")
	}
	if f[2] != "v=19" {
		return phc{}, malformed("version %q, want v=19", f[2])
	}
	ps := strings.Split(f[3], ",")
	if len(ps) != 3 {
		return phc{}, malformed("parameters %q, want m=,t=,p=", f[3])
	}
	m, okM := param(ps[0], "m=")
	t, okT := param(ps[1], "t=")
	p, okP := param(ps[2], "p=")
	if !okM || !okT || !okP {
		return phc{}, malformed("parameters %q, want m=,t=,p=", f[3])
	}
	if p > maxThreads {
		return phc{}, malformed("p=%d over %d", p, maxThreads)
	}
	salt, err := decode(f[4], maxSaltLen)
	if err != nil {
		return phc{}, malformed("salt: %v", err)
	}
	key, err := decode(f[5], maxKeyLen)
	if err != nil {
		return phc{}, malformed("key: %v", err)
	}
	h := phc{
		params: Argon2id{Memory: m, Time: t, Threads: uint8(p), SaltLen: uint32(len(salt)), KeyLen: uint32(len(key))},
		salt:   salt,
		key:    key,
	}
	if err := h.params.Validate(); err != nil {
		return phc{}, malformed("%v", err)
	}
	return h, nil
}

func malformed(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrMalformed, fmt.Sprintf(format, args...))
}

// param parses "name=value" where value is a decimal with neither sign nor
// leading zeros, as the PHC format requires.
func param(s, name string) (uint32, bool) {
	v, ok := strings.CutPrefix(s, name)
	if !ok || v == "" || len(v) > 10 || (v[0] == '0' && len(v) > 1) {
		return 0, false
	}
	var n uint64
	for i := 0; i < len(v); i++ {
		if v[i] < '0' || v[i] > '9' {
			return 0, false
		}
		n = n*10 + uint64(v[i]-'0')
	}
	if n > math.MaxUint32 {
		return 0, false
	}
	return uint32(n), true
}

// decode decodes unpadded base64 of at most maxLen bytes. The length check
// after decoding refuses the line breaks that the decoder skips.
func decode(s string, maxLen int) ([]byte, error) {
	if len(s) > b64.EncodedLen(maxLen) {
		return nil, fmt.Errorf("over %d bytes", maxLen)
	}
	b, err := b64.DecodeString(s)
	if err != nil {
		return nil, err
	}
	if b64.EncodedLen(len(b)) != len(s) {
		return nil, errors.New("not canonical base64")
	}
	return b, nil
}
