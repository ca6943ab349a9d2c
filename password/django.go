package password

import (
	"crypto/md5"
	"crypto/pbkdf2"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"hash"
	"strings"
	"unicode/utf8"

	"golang.org/x/crypto/bcrypt"
	"golang.org/x/crypto/scrypt"

	"github.com/latchkeyhq/latchkey"
)

// Django is one of the password hashers Django has shipped, named by the
// algorithm label that starts its encoded hashes. As a Scheme it verifies
// hashes in that hasher's encoding, so that the users of a Django project
// keep their passwords when they move to latchkey; each successful check
// reports the hash as weaker, so that the Hasher replaces it with Argon2id at
// once.
//
// Like the Argon2id scheme, a Django scheme reads every cost parameter from
// the stored hash, and refuses as malformed a hash whose parameters are
// beyond caps before computing anything: PBKDF2 iterations up to 2,000,000,
// bcrypt cost up to 14, scrypt N up to 2^20 with 128·N·r·p (the bytes it
// allocates, times its passes) up to 256 MiB, Argon2 within the Argon2id
// scheme's caps.
//
// Parsing is strict: a hash is accepted only in the one spelling that
// Django itself writes and would match (decimals without leading zeros,
// canonical base64, lowercase hex): Django checks most hashes by
// re-encoding them and comparing whole strings, so it matches no other
// spelling either.
type Django string

// The hashers, named after Django's classes (PBKDF2PasswordHasher and so
// on), with Django's algorithm labels as values.
const (
	// DjangoPBKDF2 is Django's default since 1.4:
	// pbkdf2_sha256$<iterations>$<salt>$<base64 key>.
	DjangoPBKDF2 Django = "pbkdf2_sha256"
	// DjangoPBKDF2SHA1 is pbkdf2_sha1$<iterations>$<salt>$<base64 key>.
	DjangoPBKDF2SHA1 Django = "pbkdf2_sha1"
	// DjangoArgon2 is argon2$<PHC string without its leading $>: Argon2id
	// (Django 3.2 on) or Argon2i (Django 1.10 to 3.1), version 1.3 ("v=19"),
	// or version 1.0 ("v=16", or no version field at all, as Argon2 before
	// 1.3 wrote it and Django reads it). Argon2d, which Django's
	// verification also accepts, is read too.
	DjangoArgon2 Django = "argon2"
	// DjangoBCryptSHA256 is bcrypt_sha256$<bcrypt string> of the
	// hex-encoded SHA-256 of the password, so that no byte past bcrypt's 72
	// is lost.
	DjangoBCryptSHA256 Django = "bcrypt_sha256"
	// DjangoBCrypt is bcrypt$<bcrypt string> of the password itself, of
	// which bcrypt reads only the first 72 bytes.
	DjangoBCrypt Django = "bcrypt"
	// DjangoScrypt is Django 4.0's scrypt$<N>$<salt>$<r>$<p>$<base64 key>
	// with a 64-byte key.
	DjangoScrypt Django = "scrypt"
	// DjangoSHA1 is sha1$<salt>$<hex SHA-1 of salt+password>.
	DjangoSHA1 Django = "sha1"
	// DjangoMD5 is md5$<salt>$<hex MD5 of salt+password>.
	DjangoMD5 Django = "md5"
	// DjangoUnsaltedSHA1 is sha1$$<hex SHA-1 of the password>.
	DjangoUnsaltedSHA1 Django = "unsalted_sha1"
	// DjangoUnsaltedMD5 is the bare hex MD5 of the password, as early
	// Django versions stored it, or md5$$<hex>. (Django's label appears in no
	// hash: unsalted_md5$$<hex> is matched by no Django, nor here.)
	DjangoUnsaltedMD5 Django = "unsalted_md5"
	// DjangoCrypt is crypt$<ignored>$<traditional DES crypt(3) string>, the
	// only crypt(3) method Django wrote (a two-character salt). It reads
	// only the first 8 bytes of a password.
	DjangoCrypt Django = "crypt"
)

// DjangoSchemes returns a Scheme for each hasher Django has shipped, for
// Options.Schemes. A project that never used some of them (the unsalted
// ones, crypt) may list fewer.
func DjangoSchemes() []Scheme {
	return []Scheme{
		DjangoPBKDF2, DjangoPBKDF2SHA1, DjangoArgon2, DjangoBCryptSHA256, DjangoBCrypt, DjangoScrypt,
		DjangoSHA1, DjangoMD5, DjangoUnsaltedSHA1, DjangoUnsaltedMD5, DjangoCrypt,
	}
}

var _ Scheme = DjangoPBKDF2

// Caps on the cost parameters of Django hashes. Each allows a check of a
// second or two on one current core at most, well above what Django
// writes: 1,000,000 PBKDF2 iterations (Django 5.2), bcrypt cost 12,
// scrypt N=2^14 r=8 p=1 (16 MiB), Argon2 100 MiB, 2 passes, 8 lanes.
// Argon2 hashes are held to the Argon2id scheme's caps (Argon2id.Validate).
const (
	maxPBKDF2Iterations = 2_000_000
	maxBCryptCost       = 14
	maxScryptN          = 1 << 20
	// maxScryptWork bounds 128·N·r·p: the bytes scrypt fills and reads
	// back over its p sequential passes, and so also 128·N·r, the bytes it
	// allocates. scrypt is slower per byte than Argon2: this is a quarter
	// of Argon2's cap, and 16 times Django's default.
	maxScryptWork = 256 << 20
)

const (
	// maxDjangoLen is far above any hash within the caps (Django's own
	// column holds 128 characters); longer input is refused before it is
	// split.
	maxDjangoLen = 512
	// maxDjangoSaltLen bounds the salts of the PBKDF2, scrypt and salted
	// digest hashers (Django writes 12 or 22 characters).
	maxDjangoSaltLen = 128
	maxScryptR       = 64
	maxScryptP       = 64
	djangoScryptKey  = 64 // bytes; Django's dklen
)

// b64pad is the base64 of Django's own hashers: standard, padded, strict.
var b64pad = base64.StdEncoding.Strict()

// djangoHash is a parsed Django hash.
type djangoHash interface {
	// verify derives pw's key and compares it in constant time.
	verify(pw latchkey.Password) bool
	// set names the hash's parameter set (see Scheme.Params).
	set() string
}

// Identify reports whether encoded is in d's format, by the rule of
// Django's identify_hasher: a 32-character string without "$" or
// "md5$$<32>" is unsalted MD5, "sha1$$<40>" unsalted SHA-1, and any other
// hash is named by its first field.
func (d Django) Identify(encoded string) bool {
	switch d {
	case DjangoUnsaltedMD5:
		return len(encoded) == 32 && !strings.Contains(encoded, "$") ||
			len(encoded) == 37 && strings.HasPrefix(encoded, "md5$$")
	case DjangoUnsaltedSHA1:
		return len(encoded) == 46 && strings.HasPrefix(encoded, "sha1$$")
	case DjangoMD5:
		return strings.HasPrefix(encoded, "md5$") && !DjangoUnsaltedMD5.Identify(encoded)
	case DjangoSHA1:
		return strings.HasPrefix(encoded, "sha1$") && !DjangoUnsaltedSHA1.Identify(encoded)
	case DjangoPBKDF2, DjangoPBKDF2SHA1, DjangoArgon2, DjangoBCryptSHA256, DjangoBCrypt, DjangoScrypt, DjangoCrypt:
		return strings.HasPrefix(encoded, string(d)+"$")
	}
	return false
}

// Verify checks pw against a hash in d's format. A match is always weaker:
// latchkey writes only Argon2id PHC strings.
func (d Django) Verify(pw latchkey.Password, encoded string) (ok, weaker bool, err error) {
	h, err := d.parse(encoded)
	if err != nil {
		return false, false, err
	}
	return h.verify(pw), true, nil
}

// Params names the parameter set of a hash in d's format: the algorithm
// and its cost parameters ("pbkdf2_sha256$870000", "bcrypt$12"); "" when
// encoded is malformed.
func (d Django) Params(encoded string) string {
	h, err := d.parse(encoded)
	if err != nil {
		return ""
	}
	return h.set()
}

// parse parses encoded strictly, within the caps, and computes nothing.
func (d Django) parse(encoded string) (djangoHash, error) {
	if len(encoded) > maxDjangoLen {
		return nil, malformed("longer than %d bytes", maxDjangoLen)
	}
	if !d.Identify(encoded) {
		return nil, malformed("not a Django %q hash", string(d))
	}
	switch d {
	case DjangoPBKDF2, DjangoPBKDF2SHA1:
		return parseDjangoPBKDF2(d, encoded)
	case DjangoArgon2:
		return parseDjangoArgon2(encoded)
	case DjangoBCryptSHA256, DjangoBCrypt:
		return parseDjangoBCrypt(d, encoded)
	case DjangoScrypt:
		return parseDjangoScrypt(encoded)
	case DjangoSHA1, DjangoMD5, DjangoUnsaltedSHA1, DjangoUnsaltedMD5:
		return parseDjangoDigest(d, encoded)
	case DjangoCrypt:
		return parseDjangoCrypt(encoded)
	}
	return nil, malformed("unknown Django hasher %q", string(d))
}

// djangoPBKDF2 is pbkdf2_<digest>$<iterations>$<salt>$<base64 key>. The
// salt is used as the bytes of its string, as Django does.
type djangoPBKDF2 struct {
	alg  Django
	iter int
	salt string
	key  []byte
}

func parseDjangoPBKDF2(d Django, encoded string) (*djangoPBKDF2, error) {
	f := strings.SplitN(encoded, "$", 5)
	if len(f) != 4 {
		return nil, malformed("%s: want 4 fields", d)
	}
	iter, ok := djangoDecimal(f[1], maxPBKDF2Iterations)
	if !ok {
		return nil, malformed("%s: iterations %.12q not a decimal in 1..%d", d, f[1], maxPBKDF2Iterations)
	}
	if err := checkDjangoSalt(f[2]); err != nil {
		return nil, err
	}
	h := &djangoPBKDF2{alg: d, iter: iter, salt: f[2]}
	key, err := decodePadded(f[3], h.newHash().Size())
	if err != nil {
		return nil, malformed("%s: key: %v", d, err)
	}
	h.key = key
	return h, nil
}

func (h *djangoPBKDF2) set() string { return fmt.Sprintf("%s$%d", h.alg, h.iter) }

func (h *djangoPBKDF2) newHash() hash.Hash {
	if h.alg == DjangoPBKDF2SHA1 {
		return sha1.New()
	}
	return sha256.New()
}

func (h *djangoPBKDF2) verify(pw latchkey.Password) bool {
	// crypto/pbkdf2 fails only in FIPS 140-only mode, which refuses
	// SHA-1 and short salts: a check that cannot run is a refusal.
	key, err := pbkdf2.Key(h.newHash, string(pw), []byte(h.salt), h.iter, len(h.key))
	return err == nil && subtle.ConstantTimeCompare(key, h.key) == 1
}

// djangoBCrypt is bcrypt$<bcrypt string> or bcrypt_sha256$<bcrypt string>.
type djangoBCrypt struct {
	sha256 bool
	cost   int
	hash   string // $2b$<cost>$<salt><checksum>, 60 bytes
}

// bcryptAlphabet is bcrypt's base64 alphabet, in value order.
const bcryptAlphabet = "./ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"

func parseDjangoBCrypt(d Django, encoded string) (*djangoBCrypt, error) {
	s := encoded[len(d)+1:]
	// $2?$cc$ then 22 characters of salt and 31 of checksum.
	if len(s) != 60 || s[0] != '$' || s[1] != '2' || s[3] != '$' || s[6] != '$' {
		return nil, malformed("%s: not a bcrypt string", d)
	}
	// 2a (py-bcrypt), 2b (bcrypt ≥ 3.1) and 2y (PHP) compute the same for
	// the passwords Django gives them; 2x is crypt_blowfish's emulation of
	// a sign-extension bug, which pyca/bcrypt refuses.
	if s[2] != 'a' && s[2] != 'b' && s[2] != 'y' {
		return nil, malformed("%s: version $2%c$", d, s[2])
	}
	if s[4] < '0' || s[4] > '9' || s[5] < '0' || s[5] > '9' {
		return nil, malformed("%s: cost %q", d, s[4:6])
	}
	cost := int(s[4]-'0')*10 + int(s[5]-'0')
	if cost < bcrypt.MinCost || cost > maxBCryptCost {
		return nil, malformed("%s: cost %d not in %d..%d", d, cost, bcrypt.MinCost, maxBCryptCost)
	}
	salt, sum := s[7:29], s[29:]
	// The salt's 22 characters carry 132 bits of a 128-bit salt, the
	// checksum's 31 carry 186 of 184: the spare low bits are zero in the
	// one encoding that bcrypt writes and Django can match.
	if !bcryptBase64(salt, 16) || !bcryptBase64(sum, 4) {
		return nil, malformed("%s: salt or checksum not in canonical bcrypt base64", d)
	}
	return &djangoBCrypt{sha256: d == DjangoBCryptSHA256, cost: cost, hash: s}, nil
}

// bcryptBase64 reports whether s is in bcrypt's alphabet and its last
// character's value is a multiple of last.
func bcryptBase64(s string, last int) bool { return inAlphabet(s, bcryptAlphabet, last) }

func (h *djangoBCrypt) set() string {
	if h.sha256 {
		return fmt.Sprintf("%s$%d", DjangoBCryptSHA256, h.cost)
	}
	return fmt.Sprintf("%s$%d", DjangoBCrypt, h.cost)
}

func (h *djangoBCrypt) verify(pw latchkey.Password) bool {
	var key []byte
	nul := false
	if h.sha256 {
		sum := sha256.Sum256([]byte(pw))
		key = hex.AppendEncode(nil, sum[:])
	} else {
		// bcrypt reads the first 72 bytes, as the C code under Django's
		// bcrypt library did. That code also ended the password at a NUL
		// byte, and pyca/bcrypt refuses one: no Django hash can match a
		// password with a NUL, so none matches here either (after the
		// same work).
		nul = strings.IndexByte(string(pw), 0) >= 0
		key = []byte(pw[:min(len(pw), 72)])
	}
	return bcrypt.CompareHashAndPassword([]byte(h.hash), key) == nil && !nul
}

// djangoScrypt is scrypt$<N>$<salt>$<r>$<p>$<base64 64-byte key>.
type djangoScrypt struct {
	n, r, p int
	salt    string
	key     []byte
}

func parseDjangoScrypt(encoded string) (*djangoScrypt, error) {
	f := strings.SplitN(encoded, "$", 7)
	if len(f) != 6 {
		return nil, malformed("scrypt: want 6 fields")
	}
	n, okN := djangoDecimal(f[1], maxScryptN)
	r, okR := djangoDecimal(f[3], maxScryptR)
	p, okP := djangoDecimal(f[4], maxScryptP)
	switch {
	case !okN || n < 2 || n&(n-1) != 0:
		return nil, malformed("scrypt: N %.12q not a power of 2 in 2..%d", f[1], maxScryptN)
	case !okR:
		return nil, malformed("scrypt: r %.12q not a decimal in 1..%d", f[3], maxScryptR)
	case !okP:
		return nil, malformed("scrypt: p %.12q not a decimal in 1..%d", f[4], maxScryptP)
	case 128*uint64(n)*uint64(r)*uint64(p) > maxScryptWork:
		return nil, malformed("scrypt: 128·N·r·p = %d bytes over %d", 128*uint64(n)*uint64(r)*uint64(p), maxScryptWork)
	}
	if err := checkDjangoSalt(f[2]); err != nil {
		return nil, err
	}
	key, err := decodePadded(f[5], djangoScryptKey)
	if err != nil {
		return nil, malformed("scrypt: key: %v", err)
	}
	return &djangoScrypt{n: n, r: r, p: p, salt: f[2], key: key}, nil
}

func (h *djangoScrypt) set() string {
	return fmt.Sprintf("%s$n=%d,r=%d,p=%d", DjangoScrypt, h.n, h.r, h.p)
}

func (h *djangoScrypt) verify(pw latchkey.Password) bool {
	key, err := scrypt.Key([]byte(pw), []byte(h.salt), h.n, h.r, h.p, len(h.key))
	return err == nil && subtle.ConstantTimeCompare(key, h.key) == 1
}

// djangoDigest is one of the plain digests: <alg>$<salt>$<hex digest of
// salt+password>, with an empty salt for the unsalted forms, or a bare hex
// MD5.
type djangoDigest struct {
	sha1 bool
	salt string
	sum  []byte
}

func parseDjangoDigest(d Django, encoded string) (*djangoDigest, error) {
	h := &djangoDigest{sha1: d == DjangoSHA1 || d == DjangoUnsaltedSHA1}
	s := encoded
	if d != DjangoUnsaltedMD5 || len(s) != 32 {
		f := strings.SplitN(s, "$", 4)
		if len(f) != 3 {
			return nil, malformed("%s: want 3 fields", d)
		}
		// Identify has checked the prefix, and for the unsalted forms
		// that the salt is empty.
		if d == DjangoSHA1 || d == DjangoMD5 {
			if err := checkDjangoSalt(f[1]); err != nil {
				return nil, err
			}
		}
		h.salt, s = f[1], f[2]
	}
	size := md5.Size
	if h.sha1 {
		size = sha1.Size
	}
	sum, ok := lowerHex(s, size)
	if !ok {
		return nil, malformed("%s: digest not %d bytes of lowercase hex", d, size)
	}
	h.sum = sum
	return h, nil
}

// set is the digest's name: a salt does not change what it costs.
func (h *djangoDigest) set() string {
	if h.sha1 {
		return string(DjangoSHA1)
	}
	return string(DjangoMD5)
}

func (h *djangoDigest) verify(pw latchkey.Password) bool {
	var d hash.Hash
	if h.sha1 {
		d = sha1.New()
	} else {
		d = md5.New()
	}
	d.Write([]byte(h.salt))
	d.Write([]byte(pw))
	return subtle.ConstantTimeCompare(d.Sum(nil), h.sum) == 1
}

// djangoCrypt is crypt$<salt>$<13-character DES crypt string>. Django 1.4
// and later write the salt field empty and ignore it; older hashes may
// repeat the crypt string's salt there.
type djangoCrypt struct {
	hash string
}

func parseDjangoCrypt(encoded string) (*djangoCrypt, error) {
	f := strings.SplitN(encoded, "$", 4)
	if len(f) != 3 {
		return nil, malformed("crypt: want 3 fields")
	}
	// Two characters of salt, then 64 bits in 11 characters whose last
	// carries 2 spare zero bits.
	if len(f[2]) != 13 || !cryptBase64(f[2][:2], 1) || !cryptBase64(f[2][2:], 4) {
		return nil, malformed("crypt: not a traditional DES crypt string")
	}
	return &djangoCrypt{hash: f[2]}, nil
}

func (h *djangoCrypt) set() string { return string(DjangoCrypt) }

func (h *djangoCrypt) verify(pw latchkey.Password) bool {
	got := desCrypt([]byte(pw), h.hash[:2])
	// Python's crypt refuses a password with a NUL, so no Django hash
	// matches one.
	nul := strings.IndexByte(string(pw), 0) >= 0
	return subtle.ConstantTimeCompare([]byte(got), []byte(h.hash)) == 1 && !nul
}

// checkDjangoSalt checks a salt used as a string: Django writes 12 or 22
// alphanumerics; older or hand-made ones may hold any text but "$".
func checkDjangoSalt(s string) error {
	if s == "" || len(s) > maxDjangoSaltLen || !utf8.ValidString(s) {
		return malformed("salt not 1..%d bytes of UTF-8", maxDjangoSaltLen)
	}
	return nil
}

// djangoDecimal parses a positive decimal of at most max as Python's "%d"
// writes it: no sign, no leading zero, no underscore.
func djangoDecimal(s string, max int) (int, bool) {
	if s == "" || len(s) > 10 || s[0] == '0' {
		return 0, false
	}
	var n uint64 // ten digits fit, where int may have 32 bits
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return 0, false
		}
		n = n*10 + uint64(s[i]-'0')
	}
	if n > uint64(max) {
		return 0, false
	}
	return int(n), true
}

// decodePadded decodes canonical padded base64 of exactly n bytes.
func decodePadded(s string, n int) ([]byte, error) {
	if len(s) != b64pad.EncodedLen(n) {
		return nil, malformed("%d base64 characters, want %d", len(s), b64pad.EncodedLen(n))
	}
	b, err := b64pad.DecodeString(s)
	if err != nil {
		return nil, err
	}
	if len(b) != n {
		return nil, malformed("%d bytes, want %d", len(b), n)
	}
	return b, nil
}

// lowerHex decodes exactly n bytes of lowercase hex, as Python's
// hexdigest writes them.
func lowerHex(s string, n int) ([]byte, bool) {
	if len(s) != 2*n {
		return nil, false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return nil, false
		}
	}
	b, err := hex.DecodeString(s)
	return b, err == nil
}
