package password

import (
	"crypto/des"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"golang.org/x/crypto/argon2"
	"golang.org/x/crypto/bcrypt"

	"github.com/latchkeyhq/latchkey"
)

// djangoUser is an entry of shared/fixtures/django/users.json: real hashes
// that Django 3.2 wrote, with their passwords (nil for an unusable one).
type djangoUser struct {
	Password *string `json:"password"`
	Hasher   string  `json:"hasher"`
	Encoded  string  `json:"encoded"`
}

// djangoUsers reads the fixture users, which live in shared/ beside the
// repository: <repo>/../shared/fixtures/django/users.json. Without the
// file the test is skipped, unless CI=true, where it fails.
func djangoUsers(tb testing.TB) map[string]djangoUser {
	tb.Helper()
	dir, err := os.Getwd() // the package directory
	if err != nil {
		tb.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			break
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			tb.Fatal("no go.mod above the package directory")
		}
		dir = parent
	}
	path := filepath.Join(dir, "..", "shared", "fixtures", "django", "users.json")
	data, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		if os.Getenv("CI") == "true" {
			tb.Fatalf("Django fixtures missing: %v", err)
		}
		tb.Skipf("Django fixtures missing (%v); they live in shared/ beside the repository", err)
	}
	if err != nil {
		tb.Fatal(err)
	}
	var users map[string]djangoUser
	if err := json.Unmarshal(data, &users); err != nil {
		tb.Fatalf("%s: %v", path, err)
	}
	if len(users) == 0 {
		tb.Fatalf("%s: no users", path)
	}
	return users
}

// djangoVectors were written by Django 3.2.25's own hashers (Debian's
// python3-django, with argon2-cffi 21.1 and bcrypt 3.2.2) and checked with
// its check_password, except the scrypt ones, written as Django 4.0's
// ScryptPasswordHasher writes them (hashlib.scrypt, dklen 64). They cover
// what the fixtures lack: the unsalted, crypt and Argon2i hashes, Argon2
// version 1.0 with and without its version field, Argon2d, bcrypt's 2a and
// 2y, and other parameters.
var djangoVectors = []struct {
	name    string
	alg     Django
	pw      latchkey.Password
	encoded string
}{
	{"pbkdf2_sha256 1000", DjangoPBKDF2, "correct horse", "pbkdf2_sha256$1000$seasalt12345$Z+nnHCjHo1EcXJHpSbmoQLbOnqBar149Gl7nrWbhwYw="},
	{"pbkdf2_sha1 non-ASCII", DjangoPBKDF2SHA1, "пароль ✓", "pbkdf2_sha1$1200$Ab1Cd2Ef3Gh4$9jeV6MPOViopTOD51GTfEqB0Qms="},
	{"sha1 old salt", DjangoSHA1, "correct horse", "sha1$a1b2c$e0980e3c00f304f6c36c2ded0c6ade83c41704e3"},
	{"sha1 non-ASCII", DjangoSHA1, "пароль ✓", "sha1$Ab1Cd2Ef3Gh4$acf5562a315c1534406376d41920857b4e8208bd"},
	{"md5 salted", DjangoMD5, "correct horse", "md5$a1b2c$e9fd6a9deddeb10b3489e789a9179611"},
	{"unsalted_sha1", DjangoUnsaltedSHA1, "correct horse", "sha1$$2f9e53523b62abc141a2b4d6019d23cba835dbd0"},
	{"unsalted_md5 md5$$", DjangoUnsaltedMD5, "correct horse", "md5$$3cb4e732631f47e6eb961f34554b7cde"},
	{"unsalted_md5 bare non-ASCII", DjangoUnsaltedMD5, "пароль ✓", "70f9f1dc0e36e0cbf86f1676f4e76ac0"},
	{"crypt", DjangoCrypt, "correct horse", "crypt$$abhfCpXqd4GrI"},
	{"crypt short", DjangoCrypt, "pw", "crypt$$Z.xqQFA7s31Lk"},
	{"crypt non-ASCII", DjangoCrypt, "pässwörd", "crypt$$x9SJda2AbLTNw"},
	{"crypt old salt field", DjangoCrypt, "correct horse", "crypt$qz$qzTMbo.Ga7eK2"},
	{"argon2i Django 1.10", DjangoArgon2, "correct horse", "argon2$argon2i$v=19$m=512,t=2,p=2$WHk3cFEyclQ5bUtz$DY6QUwd2LEVtpIxxWFkqwQ"},
	{"argon2i v=16", DjangoArgon2, "correct horse", "argon2$argon2i$v=16$m=512,t=2,p=2$WHk3cFEyclQ5bUtz$M8oCkDSYS1cxmiy84/hFGg"},
	{"argon2i no version", DjangoArgon2, "correct horse", "argon2$argon2i$m=512,t=2,p=2$WHk3cFEyclQ5bUtz$M8oCkDSYS1cxmiy84/hFGg"},
	{"argon2id no version", DjangoArgon2, "пароль ✓", "argon2$argon2id$m=100,t=3,p=3$c2FsdHNhbHRzYWx0$q5n5BFauPlIYcytcF/wKqeHJ9uU3gWKzRlXoM8G4V42e/TL13y2HVaGvUccwaKkfuJHY5ltQVDLGKo0dg6Bmu3gdYOjhOuwR2cMa+ho82lM"},
	{"argon2d", DjangoArgon2, "correct horse", "argon2$argon2d$v=19$m=256,t=2,p=2$WHk3cFEyclQ5bUtz$kRtZT70VMMQEbLzXq2daJ4E6P+/o4DV5K0SGp0OGn/8"},
	{"argon2d v=16", DjangoArgon2, "correct horse", "argon2$argon2d$v=16$m=64,t=1,p=1$WHk3cFEyclQ5bUtz$4Flw/Bv15HqyNmZ9dA8udAfrKCZMLO/2jatLL7IgNpE"},
	{"argon2id m=1000 p=4", DjangoArgon2, "correct horse", "argon2$argon2id$v=19$m=1000,t=3,p=4$MDEyMzQ1Njc4OWFiY2RlZmdoaWo$lTMMiYD82ZjhHy5qmow2z22RRLp2bOuVIrQo6mP9IVI"},
	{"bcrypt 2a", DjangoBCrypt, "correct horse", "bcrypt$$2a$04$ktvx3ykvWRcPByNq5FT2Get.ow1C0234405M4s.6aPg9p.8QVbhMa"},
	{"bcrypt 2y", DjangoBCrypt, "correct horse", "bcrypt$$2y$05$abcdefghijklmnopqrstuuHNbAKRhpaujgo33bRWs.NLUTJO3lOy2"},
	{"bcrypt 72 bytes", DjangoBCrypt, latchkey.Password(strings.Repeat("y", 72)), "bcrypt$$2b$04$1Ap0/KY.9HFGVkg5MMl1LOaBYfGNIqBWW3c/2UkWTnzy8.LmJrP8O"},
	{"bcrypt_sha256 96 bytes", DjangoBCryptSHA256, latchkey.Password(strings.Repeat("long passphrase ", 6)), "bcrypt_sha256$$2b$04$WQ.bJPA45HlCxFVZ5WPUaOJH56g4PvlXeb0rNN37iFLY3JbEf4HFm"},
	{"bcrypt_sha256 non-ASCII", DjangoBCryptSHA256, "pässwörd-日本語", "bcrypt_sha256$$2b$04$PsTbJV0Dg6wcZ1PGjk1tG.xnccGZRFPfj/31HmcKYAcVoL1ZcHvd."},
	{"scrypt small", DjangoScrypt, "correct horse", "scrypt$1024$Ab1Cd2Ef3Gh4Ij5Kl6Mn7O$4$2$D+NURka37TpisNMaJUD+eK3WlMerFMvUilF6LPoKQuG08uMWqivFzwULiRCYYW+tYyP9uY+bf/Nq8yLVJKwMsQ=="},
	{"scrypt non-ASCII", DjangoScrypt, "пароль ✓", "scrypt$2$a604b8314e449081accab6$1$1$38lDrIdCdaYyR50ve4IAAyMgduXxh0MS8f9VAlwaPhbF30VewhHgOMGm2O5maIsyelbYVZL+iCdRhMu2iDugLQ=="},
}

// wrongPasswords returns passwords that differ from pw at the start, at
// the end, and in length.
func wrongPasswords(pw latchkey.Password) []latchkey.Password {
	wrong := []latchkey.Password{"X" + pw, pw + "x"}
	if pw != "" {
		wrong = append(wrong, pw[:len(pw)-1])
	}
	return slices.DeleteFunc(wrong, func(w latchkey.Password) bool { return w == pw })
}

// djangoReads returns how many bytes of a password alg reads, 0 for all.
func djangoReads(alg Django) int {
	switch alg {
	case DjangoCrypt:
		return 8
	case DjangoBCrypt:
		return 72
	}
	return 0
}

// checkDjango verifies pw and the wrong passwords against encoded through
// a Hasher with every Django scheme. Wrong passwords that agree with pw in
// all the bytes alg reads are left out.
func checkDjango(t *testing.T, alg Django, pw latchkey.Password, encoded string, wrong ...latchkey.Password) {
	t.Helper()
	var ids []Django
	for _, s := range DjangoSchemes() {
		if s.Identify(encoded) {
			ids = append(ids, s.(Django))
		}
	}
	if len(ids) != 1 || ids[0] != alg {
		t.Errorf("identified by %q, want only %q", ids, alg)
	}
	h, n := newHasher(t, Options{Schemes: DjangoSchemes()})
	if ok, rehash := verify(t, h, pw, encoded); !ok || !rehash {
		t.Errorf("Verify(right password) = %v, %v; want true, true", ok, rehash)
	}
	if got := n.Load(); got != 1 {
		t.Errorf("%d key derivations, want 1", got)
	}
	for _, w := range wrong {
		if read := djangoReads(alg); read > 0 && len(w) >= read && len(pw) >= read && w[:read] == pw[:read] {
			continue
		}
		if ok, rehash := verify(t, h, w, encoded); ok || rehash {
			t.Errorf("Verify(%q) = %v, %v; want false, false", string(w), ok, rehash)
		}
	}
}

// TestDjangoFixtures checks every fixture user: the right password, and
// one wrong one (the fixtures' costs are real: bcrypt's 12 takes seconds
// under the race detector). The wrong password differs in the last byte
// only, which for the bcrypt_sha256 password over 72 bytes shows that all
// of it is read.
func TestDjangoFixtures(t *testing.T) {
	users := djangoUsers(t)
	names := slices.Sorted(func(yield func(string) bool) {
		for name := range users {
			if !yield(name) {
				return
			}
		}
	})
	hashers := map[string]bool{}
	for _, name := range names {
		u := users[name]
		hashers[u.Hasher] = true
		t.Run(name+"/"+u.Hasher, func(t *testing.T) {
			t.Parallel()
			if u.Password == nil {
				if !strings.HasPrefix(u.Encoded, "!") {
					t.Fatalf("password null, hash %q not unusable", u.Encoded)
				}
				h, n := newHasher(t, Options{Schemes: DjangoSchemes()})
				for _, pw := range []latchkey.Password{"", latchkey.Password(name), latchkey.Password(u.Encoded), latchkey.Password(u.Encoded[1:])} {
					if ok, rehash := verify(t, h, pw, u.Encoded); ok || rehash {
						t.Errorf("Verify(%q) = %v, %v; want false, false", string(pw), ok, rehash)
					}
				}
				if got := n.Load(); got != 4 {
					t.Errorf("%d key derivations, want 4 (dummies)", got)
				}
				return
			}
			pw := latchkey.Password(*u.Password)
			checkDjango(t, Django(u.Hasher), pw, u.Encoded, pw[:len(pw)-1]+latchkey.Password([]byte{pw[len(pw)-1] ^ 1}))
		})
	}
	// The README's promises, which the cases above then cover.
	for _, want := range []string{"pbkdf2_sha256", "pbkdf2_sha1", "argon2", "bcrypt_sha256", "bcrypt", "sha1", "md5", "unsalted_md5", "scrypt", "unusable"} {
		if !hashers[want] {
			t.Errorf("no fixture user with hasher %q", want)
		}
	}
	var nonASCII, long bool
	for _, u := range users {
		if u.Password == nil {
			continue
		}
		nonASCII = nonASCII || strings.ContainsFunc(*u.Password, func(r rune) bool { return r > 127 })
		long = long || u.Hasher == "bcrypt_sha256" && len(*u.Password) > 72
	}
	if !nonASCII || !long {
		t.Errorf("fixtures lack a non-ASCII password (%v) or a bcrypt_sha256 one over 72 bytes (%v)", nonASCII, long)
	}
}

func TestDjangoVectors(t *testing.T) {
	for _, c := range djangoVectors {
		t.Run(c.name, func(t *testing.T) {
			checkDjango(t, c.alg, c.pw, c.encoded, wrongPasswords(c.pw)...)
		})
	}
}

// TestDjangoPrefixOnly checks what Django does with the bytes that bcrypt
// and crypt do not read, and with NUL bytes, which Django's libraries
// refused.
func TestDjangoPrefixOnly(t *testing.T) {
	vector := func(name string) (latchkey.Password, string) {
		for _, c := range djangoVectors {
			if c.name == name {
				return c.pw, c.encoded
			}
		}
		t.Fatalf("no vector %q", name)
		return "", ""
	}
	for _, c := range []struct {
		name   string
		vector string
		pw     func(pw latchkey.Password) latchkey.Password
		ok     bool
	}{
		{"bcrypt reads 72 bytes", "bcrypt 72 bytes", func(pw latchkey.Password) latchkey.Password { return pw + "zzz" }, true},
		{"bcrypt_sha256 reads past 72 bytes", "bcrypt_sha256 96 bytes", func(pw latchkey.Password) latchkey.Password { return pw[:72] }, false},
		{"bcrypt NUL", "bcrypt 2a", func(pw latchkey.Password) latchkey.Password { return pw + "\x00" }, false},
		{"bcrypt NUL past 72", "bcrypt 72 bytes", func(pw latchkey.Password) latchkey.Password { return pw + "\x00" }, false},
		{"crypt reads 8 bytes", "crypt", func(pw latchkey.Password) latchkey.Password { return pw[:8] + "-anything" }, true},
		{"crypt NUL", "crypt short", func(pw latchkey.Password) latchkey.Password { return pw + "\x00" }, false},
		{"bcrypt_sha256 NUL is just a byte", "bcrypt_sha256 non-ASCII", func(pw latchkey.Password) latchkey.Password { return pw + "\x00" }, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			pw, encoded := vector(c.vector)
			scheme, _ := djangoSchemeFor(encoded)
			ok, weaker, err := scheme.Verify(c.pw(pw), encoded)
			if ok != c.ok || weaker != true || err != nil {
				t.Errorf("Verify = %v, %v, %v; want %v, true, nil", ok, weaker, err, c.ok)
			}
		})
	}
}

// djangoSchemeFor returns the Django scheme that identifies encoded.
func djangoSchemeFor(encoded string) (Django, bool) {
	for _, s := range DjangoSchemes() {
		if s.Identify(encoded) {
			return s.(Django), true
		}
	}
	return "", false
}

// Crafted hashes, well-formed but for their parameters.
func craftPBKDF2(alg Django, iter string) string {
	n := 32
	if alg == DjangoPBKDF2SHA1 {
		n = 20
	}
	return fmt.Sprintf("%s$%s$saltsaltsalt$%s", alg, iter, base64.StdEncoding.EncodeToString(make([]byte, n)))
}

func craftBCrypt(alg Django, cost string) string {
	return fmt.Sprintf("%s$$2b$%s$abcdefghijklmnopqrstuu%s", alg, cost, strings.Repeat(".", 31))
}

func craftScrypt(n, r, p string) string {
	return fmt.Sprintf("scrypt$%s$saltsaltsalt$%s$%s$%s", n, r, p, base64.StdEncoding.EncodeToString(make([]byte, 64)))
}

func craftArgon2(variant, version string, m, t, p uint32) string {
	if version != "" {
		version += "$"
	}
	return fmt.Sprintf("argon2$%s$%sm=%d,t=%d,p=%d$c2FsdHNhbHRzYWx0$%s", variant, version, m, t, p,
		base64.RawStdEncoding.EncodeToString(make([]byte, 16)))
}

// TestDjangoCaps checks that hashes beyond the caps are refused before any
// work: through the Hasher they cost one dummy derivation with the
// configured (cheap) parameters, not one with theirs.
func TestDjangoCaps(t *testing.T) {
	for _, c := range []struct {
		name    string
		encoded string
	}{
		{"pbkdf2 1e9 iterations", craftPBKDF2(DjangoPBKDF2, "1000000000")},
		{"pbkdf2 over the cap", craftPBKDF2(DjangoPBKDF2, fmt.Sprint(maxPBKDF2Iterations+1))},
		{"pbkdf2 overflowing", craftPBKDF2(DjangoPBKDF2, "99999999999999999999")},
		{"pbkdf2_sha1 1e9 iterations", craftPBKDF2(DjangoPBKDF2SHA1, "1000000000")},
		{"bcrypt cost 31", craftBCrypt(DjangoBCrypt, "31")},
		{"bcrypt cost over the cap", craftBCrypt(DjangoBCrypt, fmt.Sprint(maxBCryptCost+1))},
		{"bcrypt_sha256 cost 31", craftBCrypt(DjangoBCryptSHA256, "31")},
		{"scrypt N=2^30", craftScrypt("1073741824", "8", "1")},
		{"scrypt N over the cap", craftScrypt(fmt.Sprint(maxScryptN*2), "1", "1")},
		{"scrypt memory over the cap", craftScrypt("1048576", "4", "1")},
		{"scrypt work over the cap", craftScrypt("262144", "8", "2")},
		{"scrypt r over the cap", craftScrypt("16384", "1000", "1")},
		{"scrypt p over the cap", craftScrypt("16384", "8", "1000")},
		{"argon2id 4 GiB", craftArgon2("argon2id", "v=19", 4<<20, 1, 1)},
		{"argon2id 1000 passes", craftArgon2("argon2id", "v=19", 64, 1000, 1)},
		{"argon2id work over the cap", craftArgon2("argon2id", "v=19", maxMemory, 5, 1)},
		{"argon2i 255 lanes", craftArgon2("argon2i", "v=19", 1<<16, 1, 255)},
		{"argon2i no version, 4 GiB", craftArgon2("argon2i", "", 4<<20, 1, 1)},
		{"argon2d v=16 over the cap", craftArgon2("argon2d", "v=16", maxMemory+1, 1, 1)},
	} {
		t.Run(c.name, func(t *testing.T) {
			scheme, found := djangoSchemeFor(c.encoded)
			if !found {
				t.Fatalf("%q identified by no Django scheme", c.encoded)
			}
			if _, _, err := scheme.Verify("correct horse", c.encoded); !errors.Is(err, ErrMalformed) {
				t.Errorf("%s.Verify: error %v, want ErrMalformed", scheme, err)
			}
			h, n := newHasher(t, Options{Schemes: DjangoSchemes()})
			var ok, rehash bool
			bytes := allocated(func() { ok, rehash = verify(t, h, "correct horse", c.encoded) })
			if ok || rehash {
				t.Errorf("Verify = %v, %v; want false, false", ok, rehash)
			}
			if got := n.Load(); got != 1 {
				t.Errorf("%d key derivations, want 1", got)
			}
			if bytes > 8<<20 {
				t.Errorf("Verify allocated %d bytes: it derived a key with the crafted parameters", bytes)
			}
		})
	}
}

// djangoParseCases are parser cases; the fuzz targets start from them and
// from the vectors.
var djangoParseCases = []struct {
	name    string
	alg     Django
	encoded string
	ok      bool
}{
	{"pbkdf2 at the cap", DjangoPBKDF2, craftPBKDF2(DjangoPBKDF2, fmt.Sprint(maxPBKDF2Iterations)), true},
	{"pbkdf2 one iteration", DjangoPBKDF2, craftPBKDF2(DjangoPBKDF2, "1"), true},
	{"pbkdf2 zero iterations", DjangoPBKDF2, craftPBKDF2(DjangoPBKDF2, "0"), false},
	{"pbkdf2 leading zero", DjangoPBKDF2, craftPBKDF2(DjangoPBKDF2, "0260000"), false},
	{"pbkdf2 sign", DjangoPBKDF2, craftPBKDF2(DjangoPBKDF2, "+260000"), false},
	{"pbkdf2 underscore", DjangoPBKDF2, craftPBKDF2(DjangoPBKDF2, "260_000"), false},
	{"pbkdf2 space", DjangoPBKDF2, craftPBKDF2(DjangoPBKDF2, " 260000"), false},
	{"pbkdf2 empty salt", DjangoPBKDF2, "pbkdf2_sha256$1000$$Z+nnHCjHo1EcXJHpSbmoQLbOnqBar149Gl7nrWbhwYw=", false},
	{"pbkdf2 salt too long", DjangoPBKDF2, "pbkdf2_sha256$1000$" + strings.Repeat("s", maxDjangoSaltLen+1) + "$Z+nnHCjHo1EcXJHpSbmoQLbOnqBar149Gl7nrWbhwYw=", false},
	{"pbkdf2 salt not UTF-8", DjangoPBKDF2, "pbkdf2_sha256$1000$salt\xff$Z+nnHCjHo1EcXJHpSbmoQLbOnqBar149Gl7nrWbhwYw=", false},
	{"pbkdf2 unpadded", DjangoPBKDF2, "pbkdf2_sha256$1000$seasalt12345$Z+nnHCjHo1EcXJHpSbmoQLbOnqBar149Gl7nrWbhwYw", false},
	{"pbkdf2 url base64", DjangoPBKDF2, "pbkdf2_sha256$1000$seasalt12345$Z-nnHCjHo1EcXJHpSbmoQLbOnqBar149Gl7nrWbhwYw=", false},
	{"pbkdf2 non-canonical bits", DjangoPBKDF2, "pbkdf2_sha256$1000$seasalt12345$Z+nnHCjHo1EcXJHpSbmoQLbOnqBar149Gl7nrWbhwYx=", false},
	{"pbkdf2 line break", DjangoPBKDF2, "pbkdf2_sha256$1000$seasalt12345$Z+nnHCjHo1EcXJHpSbmoQLbOnqBar149Gl7nrWbhw\nYw=", false},
	{"pbkdf2 sha1-sized key", DjangoPBKDF2, craftPBKDF2(DjangoPBKDF2SHA1, "1000")[len("pbkdf2_sha1"):], false},
	{"pbkdf2_sha1 sha256-sized key", DjangoPBKDF2SHA1, "pbkdf2_sha1" + craftPBKDF2(DjangoPBKDF2, "1000")[len("pbkdf2_sha256"):], false},
	{"pbkdf2 extra field", DjangoPBKDF2, craftPBKDF2(DjangoPBKDF2, "1000") + "$", false},
	{"pbkdf2 missing field", DjangoPBKDF2, "pbkdf2_sha256$1000$Z+nnHCjHo1EcXJHpSbmoQLbOnqBar149Gl7nrWbhwYw=", false},
	{"pbkdf2 too long", DjangoPBKDF2, craftPBKDF2(DjangoPBKDF2, "1000") + strings.Repeat("=", maxDjangoLen), false},

	{"bcrypt at the cap", DjangoBCrypt, craftBCrypt(DjangoBCrypt, fmt.Sprint(maxBCryptCost)), true},
	{"bcrypt cost 4", DjangoBCrypt, craftBCrypt(DjangoBCrypt, "04"), true},
	{"bcrypt cost 3", DjangoBCrypt, craftBCrypt(DjangoBCrypt, "03"), false},
	{"bcrypt one-digit cost", DjangoBCrypt, "bcrypt$$2b$4$abcdefghijklmnopqrstuu" + strings.Repeat(".", 32), false},
	{"bcrypt 2x", DjangoBCrypt, strings.Replace(craftBCrypt(DjangoBCrypt, "04"), "$2b$", "$2x$", 1), false},
	{"bcrypt 2", DjangoBCrypt, "bcrypt$$2$04$abcdefghijklmnopqrstuu" + strings.Repeat(".", 32), false},
	{"bcrypt salt non-canonical", DjangoBCrypt, strings.Replace(craftBCrypt(DjangoBCrypt, "04"), "stuu.", "stuv.", 1), false},
	{"bcrypt checksum non-canonical", DjangoBCrypt, craftBCrypt(DjangoBCrypt, "04")[:len(craftBCrypt(DjangoBCrypt, "04"))-1] + "/", false},
	{"bcrypt bad character", DjangoBCrypt, strings.Replace(craftBCrypt(DjangoBCrypt, "04"), "abc", "a+c", 1), false},
	{"bcrypt short", DjangoBCrypt, craftBCrypt(DjangoBCrypt, "04")[:66], false},
	{"bcrypt long", DjangoBCrypt, craftBCrypt(DjangoBCrypt, "04") + ".", false},
	{"bcrypt_sha256 without bcrypt string", DjangoBCryptSHA256, "bcrypt_sha256$", false},

	{"scrypt at the cap, memory", DjangoScrypt, craftScrypt("1048576", "2", "1"), true},
	{"scrypt at the cap, passes", DjangoScrypt, craftScrypt("16384", "8", "16"), true},
	{"scrypt over the cap", DjangoScrypt, craftScrypt("16384", "8", "17"), false},
	{"scrypt Django's default", DjangoScrypt, craftScrypt("16384", "8", "1"), true},
	{"scrypt N=1", DjangoScrypt, craftScrypt("1", "8", "1"), false},
	{"scrypt N not a power of 2", DjangoScrypt, craftScrypt("16383", "8", "1"), false},
	{"scrypt r=0", DjangoScrypt, craftScrypt("16384", "0", "1"), false},
	{"scrypt p=0", DjangoScrypt, craftScrypt("16384", "8", "0"), false},
	{"scrypt leading zero", DjangoScrypt, craftScrypt("016384", "8", "1"), false},
	{"scrypt 32-byte key", DjangoScrypt, "scrypt$16384$saltsaltsalt$8$1$" + base64.StdEncoding.EncodeToString(make([]byte, 32)), false},
	{"scrypt missing p", DjangoScrypt, "scrypt$16384$saltsaltsalt$8$" + base64.StdEncoding.EncodeToString(make([]byte, 64)), false},

	{"argon2 at the caps", DjangoArgon2, craftArgon2("argon2id", "v=19", maxMemory, 4, maxThreads), true},
	{"argon2 no version", DjangoArgon2, craftArgon2("argon2i", "", 64, 1, 1), true},
	{"argon2 v=17", DjangoArgon2, craftArgon2("argon2i", "v=17", 64, 1, 1), false},
	{"argon2 argon2x", DjangoArgon2, craftArgon2("argon2x", "v=19", 64, 1, 1), false},
	{"argon2 the reference PHC", DjangoArgon2, "argon2" + refM64T1P1, true},
	{"argon2 PHC after a $", DjangoArgon2, "argon2$" + refM64T1P1, false},
	{"argon2 reordered", DjangoArgon2, strings.Replace(craftArgon2("argon2id", "v=19", 64, 1, 1), "m=64,t=1", "t=1,m=64", 1), false},
	{"argon2 extra parameter", DjangoArgon2, strings.Replace(craftArgon2("argon2id", "v=19", 64, 1, 1), "p=1", "p=1,keyid=x", 1), false},
	{"argon2 padded salt", DjangoArgon2, strings.Replace(craftArgon2("argon2id", "v=19", 64, 1, 1), "YWx0$", "YWx0==$", 1), false},
	{"argon2 lanes zero", DjangoArgon2, craftArgon2("argon2id", "v=19", 64, 1, 0), false},
	{"argon2 memory below 8 KiB per lane", DjangoArgon2, craftArgon2("argon2id", "v=19", 31, 1, 4), false},
	{"argon2 extra field", DjangoArgon2, craftArgon2("argon2id", "v=19", 64, 1, 1) + "$", false},

	{"sha1 empty salt, wrong length", DjangoSHA1, "sha1$$" + strings.Repeat("a", 38), false},
	{"sha1 uppercase hex", DjangoSHA1, "sha1$a1b2c$E0980E3C00F304F6C36C2DED0C6ADE83C41704E3", false},
	{"sha1 short hex", DjangoSHA1, "sha1$a1b2c$e0980e3c00f304f6c36c2ded0c6ade83c41704e", false},
	{"sha1 extra field", DjangoSHA1, "sha1$a1b2c$e0980e3c00f304f6c36c2ded0c6ade83c41704e3$", false},
	{"md5 md5-sized salt-free form, too long", DjangoMD5, "md5$$" + strings.Repeat("a", 33), false},
	{"unsalted_md5 uppercase", DjangoUnsaltedMD5, "3CB4E732631F47E6EB961F34554B7CDE", false},
	{"unsalted_md5 not hex", DjangoUnsaltedMD5, strings.Repeat("g", 32), false},
	{"unsalted_sha1 not hex", DjangoUnsaltedSHA1, "sha1$$" + strings.Repeat("z", 40), false},

	{"crypt bad salt character", DjangoCrypt, "crypt$$a_hfCpXqd4GrI", false},
	{"crypt non-canonical", DjangoCrypt, "crypt$$abhfCpXqd4GrJ", false},
	{"crypt MD5-crypt", DjangoCrypt, "crypt$$$1$saltsalt$qjXMvbEw8oaL.CzflDugX/", false},
	{"crypt short", DjangoCrypt, "crypt$$abhfCpXqd4Gr", false},
	{"crypt missing field", DjangoCrypt, "crypt$abhfCpXqd4GrI", false},
}

func TestDjangoParse(t *testing.T) {
	for _, c := range djangoParseCases {
		t.Run(c.name, func(t *testing.T) {
			_, err := c.alg.parse(c.encoded)
			if (err == nil) != c.ok {
				t.Errorf("parse(%q): error %v, want ok=%v", c.encoded, err, c.ok)
			}
			if err != nil && !errors.Is(err, ErrMalformed) {
				t.Errorf("error %v does not wrap ErrMalformed", err)
			}
			if set := c.alg.Params(c.encoded); (set != "") != c.ok {
				t.Errorf("Params(%q) = %q, want a name only for a hash that parses", c.encoded, set)
			}
		})
	}
}

// TestDjangoIdentify checks the routing of Django's identify_hasher.
func TestDjangoIdentify(t *testing.T) {
	for _, c := range []struct {
		encoded string
		want    Django // "" for none
	}{
		{"md5$$3cb4e732631f47e6eb961f34554b7cde", DjangoUnsaltedMD5},
		{"3cb4e732631f47e6eb961f34554b7cde", DjangoUnsaltedMD5},
		{"3CB4E732631F47E6EB961F34554B7CDE", DjangoUnsaltedMD5}, // then malformed
		{"md5$$3cb4e732631f47e6eb961f34554b7cd", DjangoMD5},     // then malformed: empty salt
		{"md5$a1b2c$e9fd6a9deddeb10b3489e789a9179611", DjangoMD5},
		{"sha1$$2f9e53523b62abc141a2b4d6019d23cba835dbd0", DjangoUnsaltedSHA1},
		{"sha1$$2f9e53523b62abc141a2b4d6019d23cba835dbd", DjangoSHA1},
		{"sha1$a1b2c$e0980e3c00f304f6c36c2ded0c6ade83c41704e3", DjangoSHA1},
		{"pbkdf2_sha256$1$s$k", DjangoPBKDF2},
		{"pbkdf2_sha1$1$s$k", DjangoPBKDF2SHA1},
		{"argon2$argon2id$", DjangoArgon2},
		{"bcrypt$$2b$", DjangoBCrypt},
		{"bcrypt_sha256$$2b$", DjangoBCryptSHA256},
		{"scrypt$", DjangoScrypt},
		{"crypt$$", DjangoCrypt},
		{"unsalted_md5$$3cb4e732631f47e6eb961f34554b7cde", ""},
		{"unsalted_sha1$$2f9e53523b62abc141a2b4d6019d23cba835dbd0", ""},
		{"$argon2id$v=19$m=64,t=1,p=1$c2FsdA$a2V5a2V5", ""},
		{"$2b$12$abcdefghijklmnopqrstuu", ""},
		{"pbkdf2_sha512$1$s$k", ""},
		{"PBKDF2_SHA256$1$s$k", ""},
		{"argon2", ""},
		{"", ""},
		{"!tX7LK2xyJqOwMtmTdGpfFz7d5xyKycaZCO1Q7nSG", ""},
	} {
		got, _ := djangoSchemeFor(c.encoded)
		n := 0
		for _, s := range DjangoSchemes() {
			if s.Identify(c.encoded) {
				n++
			}
		}
		if got != c.want || n > 1 {
			t.Errorf("%q identified by %q (%d schemes), want %q", c.encoded, got, n, c.want)
		}
	}
	if Django("pbkdf2_sha512").Identify("pbkdf2_sha512$1$s$k") {
		t.Error("an unknown Django hasher identifies hashes")
	}
}

// TestDESCrypt checks the DES under crypt against the standard library's,
// and crypt against Python's crypt.crypt (glibc).
func TestDESCrypt(t *testing.T) {
	for i := range uint64(64) {
		key := 0x0123456789abcdef * (i + 1)
		block := 0xfedcba9876543210 ^ i<<40
		c, err := des.NewCipher(binary.BigEndian.AppendUint64(nil, key))
		if err != nil {
			t.Fatal(err)
		}
		want := make([]byte, 8)
		c.Encrypt(want, binary.BigEndian.AppendUint64(nil, block))
		ks := desKeySchedule(key)
		if got := desEncrypt(block, &ks, 0); got != binary.BigEndian.Uint64(want) {
			t.Errorf("DES(%016x, %016x) = %016x, want %x", key, block, got, want)
		}
	}
	for _, c := range []struct{ pw, salt, want string }{
		{"password", "ab", "abJnggxhB/yWI"},
		{"", "..", "..X8NBuQ4l6uQ"},
		{"a", "zz", "zzJZ5PtvFqi9o"},
		{"12345678", "9Z", "9Zhas0ccxjxjA"},
		{"123456789", "/.", "/.HRN5uKZbDhw"},
		{"äöüßÄÖÜ", "Qw", "Qw3vm4CPQZHM2"},
		{"test", "tE", "tEDfsqLG87sig"},
	} {
		if got := desCrypt([]byte(c.pw), c.salt); got != c.want {
			t.Errorf("crypt(%q, %q) = %q, want %q", c.pw, c.salt, got, c.want)
		}
	}
}

// TestArgon2Key checks the plain-Go Argon2 against x/crypto/argon2 where
// both run (version 1.3, Argon2i and Argon2id), and against the reference
// argon2 tool (Debian's argon2 0~20171227) for version 1.0 and Argon2d:
//
//	echo -n password | argon2 somesalt -d -v 10 -t 2 -k 64 -p 1 -l 16 -e
func TestArgon2Key(t *testing.T) {
	pw, salt := []byte("correct horse"), []byte("saltsaltsaltsalt")
	for _, c := range []struct{ t, m, p, keyLen uint32 }{
		{1, 8, 1, 4}, {1, 8, 1, 32}, {2, 64, 2, 16}, {3, 100, 3, 80}, {1, 1000, 4, 128},
		{2, 257, 1, 64}, {1, 300, 2, 65}, {2, 520, 1, 32}, {4, 96, 6, 33},
	} {
		for _, v := range []struct {
			variant uint32
			key     func(pw, salt []byte, t, m uint32, p uint8, keyLen uint32) []byte
		}{{argon2i, argon2.Key}, {argon2id, argon2.IDKey}} {
			want := v.key(pw, salt, c.t, c.m, uint8(c.p), c.keyLen)
			if got := argon2Key(v.variant, argon2v13, pw, salt, c.t, c.m, c.p, c.keyLen); string(got) != string(want) {
				t.Errorf("argon2Key(%d, v1.3, %+v) = %x, want %x", v.variant, c, got, want)
			}
		}
	}
	for _, phc := range []string{
		"$argon2i$v=16$m=256,t=2,p=2$c29tZXNhbHQ$tsEVYKap1h6scGt5ovl9aLRGOqOth+AMB+KwHpDFZPs",
		"$argon2id$v=16$m=100,t=3,p=3$c29tZXNhbHQ$apB0jhtnMw+iArs3XiJeJ+4Hnzja+ZcyC4zqjcV7yx8Kp0CsIkSYGzaEekC/N/v3pC6DBe0Brkv8Dl7f+vAhLX8gFgoNQlHIwzNQeUZ20gbfScOl/V9jqRe9/SRvfGkNENfa+A",
		"$argon2d$v=16$m=64,t=2,p=1$c29tZXNhbHQ$LxH/PTX1qZHuBT8UcpJ0TA",
		"$argon2d$v=19$m=200,t=3,p=4$c29tZXNhbHQ$DmsoehLeCSVIjf6m5tBpbcXUm9NkKPP0NZ6zilJWbXSBkpmetuYFCx018VKG8UZvQNrwaf8hwKbaJ69+70h73Bg",
		"$argon2i$v=19$m=8,t=1,p=1$c29tZXNhbHQ$JpKe8w",
	} {
		h, err := parseDjangoArgon2("argon2" + phc)
		if err != nil {
			t.Errorf("parse %q: %v", phc, err)
			continue
		}
		p := h.params
		if got := argon2Key(h.variant, h.version, []byte("password"), h.salt, p.Time, p.Memory, uint32(p.Threads), p.KeyLen); string(got) != string(h.key) {
			t.Errorf("%s: argon2Key = %x, want %x", phc, got, h.key)
		}
		if !h.verify("password") || h.verify("passwore") {
			t.Errorf("%s: verify wrong", phc)
		}
	}
}

// djangoCanonical returns the spellings of h that Django writes; a strict
// parser accepts only these.
func djangoCanonical(h djangoHash) []string {
	switch h := h.(type) {
	case *djangoPBKDF2:
		return []string{fmt.Sprintf("%s$%d$%s$%s", h.alg, h.iter, h.salt, base64.StdEncoding.EncodeToString(h.key))}
	case *djangoScrypt:
		return []string{fmt.Sprintf("scrypt$%d$%s$%d$%d$%s", h.n, h.salt, h.r, h.p, base64.StdEncoding.EncodeToString(h.key))}
	case *djangoArgon2:
		variant := map[uint32]string{argon2d: "argon2d", argon2i: "argon2i", argon2id: "argon2id"}[h.variant]
		rest := fmt.Sprintf("m=%d,t=%d,p=%d$%s$%s", h.params.Memory, h.params.Time, h.params.Threads,
			base64.RawStdEncoding.EncodeToString(h.salt), base64.RawStdEncoding.EncodeToString(h.key))
		if h.version == argon2v13 {
			return []string{"argon2$" + variant + "$v=19$" + rest}
		}
		return []string{"argon2$" + variant + "$v=16$" + rest, "argon2$" + variant + "$" + rest}
	case *djangoDigest:
		alg := map[bool]string{true: "sha1", false: "md5"}[h.sha1]
		s := fmt.Sprintf("%s$%s$%x", alg, h.salt, h.sum)
		if !h.sha1 && h.salt == "" {
			return []string{s, fmt.Sprintf("%x", h.sum)}
		}
		return []string{s}
	case *djangoBCrypt:
		alg := map[bool]string{true: "bcrypt_sha256", false: "bcrypt"}[h.sha256]
		return []string{alg + "$" + h.hash}
	case *djangoCrypt:
		return nil // the salt field is free
	}
	panic(fmt.Sprintf("unknown djangoHash %T", h))
}

// djangoCheap reports whether h is cheap enough to derive in a fuzz run.
func djangoCheap(h djangoHash) bool {
	switch h := h.(type) {
	case *djangoPBKDF2:
		return h.iter <= 1000
	case *djangoScrypt:
		return 128*h.n*h.r*h.p <= 1<<20
	case *djangoArgon2:
		return h.params.Memory*h.params.Time <= 512
	case *djangoBCrypt:
		return h.cost <= 4
	}
	return true
}

// fuzzDjango parses its input with each of algs and checks that the
// parsers never panic, refuse with ErrMalformed only, accept only the one
// spelling Django writes, and hold the caps; it derives keys only for
// cheap parameters.
func fuzzDjango(f *testing.F, algs ...Django) {
	for _, c := range djangoParseCases {
		if slices.Contains(algs, c.alg) {
			f.Add(c.encoded)
		}
	}
	for _, c := range djangoVectors {
		if slices.Contains(algs, c.alg) {
			f.Add(c.encoded)
		}
	}
	f.Fuzz(func(t *testing.T, s string) {
		n := 0
		for _, d := range DjangoSchemes() {
			if d.Identify(s) {
				n++
			}
		}
		if n > 1 {
			t.Fatalf("%q identified by %d schemes", s, n)
		}
		for _, alg := range algs {
			h, err := alg.parse(s)
			if set := alg.Params(s); (set != "") != (err == nil) {
				t.Fatalf("%s.Params(%q) = %q, parse error %v: want a name only for a hash that parses", alg, s, set, err)
			}
			if err != nil {
				if !errors.Is(err, ErrMalformed) {
					t.Fatalf("%s.parse(%q): error %v does not wrap ErrMalformed", alg, s, err)
				}
				continue
			}
			if want := djangoCanonical(h); want != nil && !slices.Contains(want, s) {
				t.Fatalf("%s.parse accepted %q, which Django writes as %q", alg, s, want)
			}
			switch h := h.(type) {
			case *djangoPBKDF2:
				if h.iter < 1 || h.iter > maxPBKDF2Iterations {
					t.Fatalf("%q: iterations %d beyond the cap", s, h.iter)
				}
			case *djangoScrypt:
				if h.n > maxScryptN || 128*uint64(h.n)*uint64(h.r)*uint64(h.p) > maxScryptWork {
					t.Fatalf("%q: scrypt beyond the caps", s)
				}
			case *djangoArgon2:
				if err := h.params.Validate(); err != nil {
					t.Fatalf("%q: %v", s, err)
				}
			case *djangoBCrypt:
				if cost, err := bcrypt.Cost([]byte(h.hash)); err != nil || cost != h.cost || cost > maxBCryptCost {
					t.Fatalf("%q: bcrypt cost %d, %v", s, cost, err)
				}
			}
			if djangoCheap(h) {
				h.verify("correct horse")
			}
		}
	})
}

func FuzzDjangoPBKDF2(f *testing.F) { fuzzDjango(f, DjangoPBKDF2, DjangoPBKDF2SHA1) }
func FuzzDjangoArgon2(f *testing.F) { fuzzDjango(f, DjangoArgon2) }
func FuzzDjangoBCrypt(f *testing.F) { fuzzDjango(f, DjangoBCrypt, DjangoBCryptSHA256) }
func FuzzDjangoScrypt(f *testing.F) { fuzzDjango(f, DjangoScrypt) }
func FuzzDjangoCrypt(f *testing.F)  { fuzzDjango(f, DjangoCrypt) }
func FuzzDjangoDigest(f *testing.F) {
	fuzzDjango(f, DjangoSHA1, DjangoMD5, DjangoUnsaltedSHA1, DjangoUnsaltedMD5)
}

// BenchmarkDjangoVerify measures one login against each fixture hash
// through a Hasher with the default parameters, and against an Argon2
// version 1.0 hash with Django 3.2's parameters, which the plain-Go Argon2
// computes.
func BenchmarkDjangoVerify(b *testing.B) {
	type bench struct {
		name, encoded string
		pw            latchkey.Password
	}
	var benches []bench
	users := djangoUsers(b)
	for _, name := range slices.Sorted(func(yield func(string) bool) {
		for name := range users {
			yield(name)
		}
	}) {
		u := users[name]
		if u.Password == nil {
			continue
		}
		bn := u.Hasher
		if strings.HasPrefix(u.Hasher, "pbkdf2_") {
			bn += "_" + strings.Split(u.Encoded, "$")[1]
		}
		if !slices.ContainsFunc(benches, func(x bench) bool { return x.name == bn }) {
			benches = append(benches, bench{bn, u.Encoded, latchkey.Password(*u.Password)})
		}
	}
	salt := []byte("saltsaltsaltsaltsaltsa")
	key := argon2Key(argon2id, argon2v10, []byte("correct horse"), salt, 2, 102400, 8, 16)
	benches = append(benches, bench{"argon2_v16_m102400_t2_p8", "argon2$argon2id$v=16$m=102400,t=2,p=8$" +
		base64.RawStdEncoding.EncodeToString(salt) + "$" + base64.RawStdEncoding.EncodeToString(key), "correct horse"})
	for _, c := range benches {
		b.Run(c.name, func(b *testing.B) {
			h := New(Options{Schemes: DjangoSchemes()})
			ctx := b.Context()
			b.ReportAllocs()
			for b.Loop() {
				if ok, _, err := h.Verify(ctx, c.pw, c.encoded); !ok || err != nil {
					b.Fatal(ok, err)
				}
			}
		})
	}
}

// BenchmarkDjangoAtCaps measures the costliest check that a stored hash
// within the caps can ask for, one per kind of cost.
func BenchmarkDjangoAtCaps(b *testing.B) {
	for _, c := range []struct{ name, encoded string }{
		{"pbkdf2_sha256", craftPBKDF2(DjangoPBKDF2, fmt.Sprint(maxPBKDF2Iterations))},
		{"bcrypt", craftBCrypt(DjangoBCrypt, fmt.Sprint(maxBCryptCost))},
		{"scrypt", craftScrypt(fmt.Sprint(maxScryptN), fmt.Sprint(maxScryptWork/128/maxScryptN), "1")},
		{"argon2_v19", craftArgon2("argon2id", "v=19", maxMemory, maxWork/maxMemory, 1)},
		{"argon2_v16", craftArgon2("argon2id", "v=16", maxMemory, maxWork/maxMemory, 1)},
	} {
		alg, _ := djangoSchemeFor(c.encoded)
		h, err := alg.parse(c.encoded)
		if err != nil {
			b.Fatalf("%s: %v", c.name, err)
		}
		b.Run(c.name, func(b *testing.B) {
			for b.Loop() {
				h.verify("correct horse")
			}
		})
	}
}
