package django_test

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/latchkeyhq/latchkey"
	"github.com/latchkeyhq/latchkey/cache/memory"
	"github.com/latchkeyhq/latchkey/django"
	"github.com/latchkeyhq/latchkey/django/djangotest"
	"github.com/latchkeyhq/latchkey/password"
	"github.com/latchkeyhq/latchkey/postgres"
	"github.com/latchkeyhq/latchkey/postgres/pgtest"
	"github.com/latchkeyhq/latchkey/sqlite"
)

// now is the tests' clock: an hour after the fixtures were made, so that
// their tokens, created then, are alive with the default 24h lifetime.
var now = djangotest.Created.Add(time.Hour)

func clock() time.Time { return now }

// stores returns a fresh, migrated store of each kind: SQLite always,
// PostgreSQL when LATCHKEY_TEST_POSTGRES_URL is set (or under CI).
func stores(t *testing.T) map[string]func(t *testing.T) latchkey.Importer {
	m := map[string]func(t *testing.T) latchkey.Importer{
		"sqlite": func(t *testing.T) latchkey.Importer { return newSQLite(t) },
	}
	m["postgres"] = func(t *testing.T) latchkey.Importer {
		u, _ := pgtest.NewSchema(t)
		s, err := postgres.Open(t.Context(), u)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		if err := s.Migrate(t.Context()); err != nil {
			t.Fatal(err)
		}
		return s
	}
	return m
}

func newSQLite(tb testing.TB) *sqlite.Store {
	tb.Helper()
	s, err := sqlite.Open(tb.Context(), filepath.Join(tb.TempDir(), "latchkey.db"))
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { s.Close() })
	if err := s.Migrate(tb.Context()); err != nil {
		tb.Fatal(err)
	}
	return s
}

// newAuth returns an Authenticator on st whose hasher reads Django's
// hashes, as a server after an import runs, with cheap Argon2id
// parameters for its rehashes. These tests check outcomes, not times:
// failed logins are not padded to the floor (bcrypt's cost, seconds under
// the race detector).
func newAuth(st latchkey.Store) *latchkey.Authenticator {
	hasher := password.New(password.Options{
		Params:       password.Argon2id{Memory: 64, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 32},
		Schemes:      password.DjangoSchemes(),
		QueueTimeout: time.Minute,
		Sleep:        func(context.Context, time.Duration) {},
	})
	return latchkey.NewAuthenticator(st, memory.New(memory.Options{MaxEntries: 1000}), hasher, latchkey.Options{Now: clock})
}

func mustImport(t *testing.T, st latchkey.Importer, src source, opt django.Options) django.Report {
	t.Helper()
	if opt.Now == nil {
		opt.Now = clock
	}
	if opt.KeepHash == nil {
		opt.KeepHash = password.IsOwn
	}
	rep, err := django.Import(t.Context(), st, src.read, opt)
	if err != nil {
		t.Fatalf("Import from %s: %v", src.name, err)
	}
	return rep
}

func wantCounts(t *testing.T, what string, got django.Counts, created, updated, unchanged, skipped int) {
	t.Helper()
	if got.Created != created || got.Updated != updated || got.Unchanged != unchanged || got.Skipped != skipped {
		t.Errorf("%s: %d created, %d updated, %d unchanged, %d skipped; want %d, %d, %d, %d",
			what, got.Created, got.Updated, got.Unchanged, got.Skipped, created, updated, unchanged, skipped)
	}
}

// TestImportFixtures imports the real Django data from each source into
// SQLite, and from PostgreSQL into PostgreSQL, then logs every user in
// through latchkey. (The stores' own rules are storetest's; here each
// source is checked end to end, and the password checks, which dominate
// the run, are not repeated for every pair.)
func TestImportFixtures(t *testing.T) {
	fixtures := djangotest.Users(t)
	open := stores(t)
	for _, src := range sources(t) {
		storeNames := []string{"sqlite"}
		if src.name == "postgres" {
			storeNames = append(storeNames, "postgres")
		}
		for _, storeName := range storeNames {
			open := open[storeName]
			t.Run(src.name+"/"+storeName, func(t *testing.T) {
				t.Parallel()
				st := open(t)
				rep := mustImport(t, st, src, django.Options{})
				wantCounts(t, "users", rep.Users, 13, 0, 0, 0)
				// leo is inactive: his token is not imported.
				wantCounts(t, "tokens", rep.Tokens, 3, 0, 0, 1)
				if rep.Tokens.Reasons[latchkey.SkipUserInactive] != 1 || len(rep.Skips) != 1 ||
					rep.Skips[0].String() != "token of user 12: "+latchkey.SkipUserInactive {
					t.Errorf("skips %v, reasons %v; want leo's token, user inactive", rep.Skips, rep.Tokens.Reasons)
				}
				for name, f := range fixtures {
					u, err := st.UserByUsername(t.Context(), name)
					if err != nil {
						t.Fatalf("UserByUsername(%s): %v", name, err)
					}
					if u.ID != f.ID || u.PasswordHash != f.Encoded || u.Active != f.Active {
						t.Errorf("%s stored with id %d, hash %q, active %v; want %d, %q, %v", name, u.ID, u.PasswordHash, u.Active, f.ID, f.Encoded, f.Active)
					}
				}

				// Run again: nothing changes, nothing reaches the change feed.
				last, err := st.LastChange(t.Context())
				if err != nil {
					t.Fatal(err)
				}
				rep = mustImport(t, st, src, django.Options{})
				wantCounts(t, "users, second import", rep.Users, 0, 0, 13, 0)
				wantCounts(t, "tokens, second import", rep.Tokens, 0, 0, 3, 1)
				if l, err := st.LastChange(t.Context()); err != nil || l != last {
					t.Errorf("LastChange = %d, %v after an import that changed nothing; want %d", l, err, last)
				}

				auth := newAuth(st)
				ctx := t.Context()
				// Every token works, as the same user; leo's does not.
				for name, f := range fixtures {
					if f.Token == nil {
						continue
					}
					p, err := auth.Authenticate(ctx, *f.Token)
					switch {
					case !f.Active:
						if !errors.Is(err, latchkey.ErrInvalidToken) {
							t.Errorf("token of inactive %s: %v, want invalid_token", name, err)
						}
					case err != nil:
						t.Errorf("token of %s: %v", name, err)
					case p.User.Username != name || !p.Session.ExpiresAt.Equal(p.Session.CreatedAt.Add(24*time.Hour)):
						t.Errorf("token of %s authenticates %s, expiring %v after creation", name, p.User.Username, p.Session.ExpiresAt.Sub(p.Session.CreatedAt))
					}
				}
				// Wrong passwords fail for every hasher, while the hashes
				// are still Django's.
				for name, f := range fixtures {
					pw := "wrong password"
					if f.Password != nil {
						pw = *f.Password + "x"
					}
					if _, err := auth.Login(ctx, latchkey.LoginRequest{Username: name, Password: latchkey.Password(pw)}); !errors.Is(err, latchkey.ErrInvalidCredentials) {
						t.Errorf("%s (%s) with a wrong password: %v, want invalid_credentials", name, f.Hasher, err)
					}
				}
				// mallory's unusable hash matches nothing, not even itself.
				for _, pw := range []string{"", "!", fixtures["mallory"].Encoded, strings.TrimPrefix(fixtures["mallory"].Encoded, "!")} {
					if _, err := auth.Login(ctx, latchkey.LoginRequest{Username: "mallory", Password: latchkey.Password(pw)}); err == nil {
						t.Errorf("mallory logged in with %q", pw)
					}
				}
				// The right passwords log in, leo's excepted, and the
				// first login rehashes to Argon2id.
				for name, f := range fixtures {
					if f.Password == nil {
						continue
					}
					for i := range 2 {
						_, err := auth.Login(ctx, latchkey.LoginRequest{Username: name, Password: latchkey.Password(*f.Password)})
						if !f.Active {
							if !errors.Is(err, latchkey.ErrInvalidCredentials) {
								t.Errorf("inactive %s logged in: %v", name, err)
							}
							continue
						}
						if err != nil {
							t.Errorf("%s (%s), login %d: %v", name, f.Hasher, i+1, err)
							continue
						}
						u, err := st.UserByUsername(ctx, name)
						if err != nil {
							t.Fatal(err)
						}
						if !password.IsOwn(u.PasswordHash) || !u.LastLogin.Equal(now) {
							t.Errorf("%s after login %d: hash %.20q…, last login %v; want Argon2id, %v", name, i+1, u.PasswordHash, u.LastLogin, now)
						}
					}
				}
				// The logins revoked no token.
				for name, f := range fixtures {
					if f.Token != nil && f.Active {
						if _, err := auth.Authenticate(ctx, *f.Token); err != nil {
							t.Errorf("token of %s after the logins: %v", name, err)
						}
					}
				}

				// A third import keeps the new hashes and last logins.
				rep = mustImport(t, st, src, django.Options{})
				wantCounts(t, "users, import after logins", rep.Users, 0, 0, 13, 0)
				if rep.KeptPasswords != 11 {
					t.Errorf("KeptPasswords = %d, want 11 (every active user with a password)", rep.KeptPasswords)
				}
				for name, f := range fixtures {
					if f.Password != nil && f.Active {
						if _, err := auth.Login(ctx, latchkey.LoginRequest{Username: name, Password: latchkey.Password(*f.Password)}); err != nil {
							t.Errorf("%s after the third import: %v", name, err)
						}
					}
				}
			})
		}
	}
}

func TestImportDryRun(t *testing.T) {
	src := sources(t)[0]
	st := newSQLite(t)
	rep := mustImport(t, st, src, django.Options{DryRun: true})
	if !rep.DryRun {
		t.Error("Report.DryRun = false")
	}
	wantCounts(t, "users", rep.Users, 13, 0, 0, 0)
	wantCounts(t, "tokens", rep.Tokens, 3, 0, 0, 1)
	if us, err := st.ListUsers(t.Context()); err != nil || len(us) != 0 {
		t.Errorf("a dry run stored %d users (%v)", len(us), err)
	}
	// After a real import, a dry run reports what would change.
	mustImport(t, st, src, django.Options{})
	rep = mustImport(t, st, src, django.Options{DryRun: true, TokenExpiry: time.Hour})
	wantCounts(t, "users, dry run again", rep.Users, 0, 0, 13, 0)
	wantCounts(t, "tokens, dry run again", rep.Tokens, 0, 0, 3, 1)
}

func TestImportTokenExpiry(t *testing.T) {
	fixtures := djangotest.Users(t)
	src := sources(t)[0]
	for _, tc := range []struct {
		name    string
		opt     django.Options
		created int
		expires func(created time.Time) time.Time
	}{
		{"TTL", django.Options{TokenTTL: 2 * time.Hour}, 3, func(c time.Time) time.Time { return c.Add(2 * time.Hour) }},
		// Expiry is judged first: leo's token is expired too.
		{"expired by TTL", django.Options{TokenTTL: 30 * time.Minute}, 0, nil},
		{"expiry from the import", django.Options{TokenTTL: time.Minute, TokenExpiry: 720 * time.Hour}, 3, func(time.Time) time.Time { return now.Add(720 * time.Hour) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			st := newSQLite(t)
			rep := mustImport(t, st, src, tc.opt)
			wantCounts(t, "tokens", rep.Tokens, tc.created, 0, 0, 4-tc.created)
			if tc.created == 0 {
				if rep.Tokens.Reasons[django.SkipExpired] != 4 {
					t.Errorf("reasons %v, want 4 expired", rep.Tokens.Reasons)
				}
				return
			}
			for name, f := range fixtures {
				if f.Token == nil || !f.Active {
					continue
				}
				d := latchkey.Token(*f.Token).Digest()
				s, _, err := st.SessionByDigest(t.Context(), d)
				if err != nil {
					t.Fatalf("token of %s: %v", name, err)
				}
				if want := tc.expires(s.CreatedAt); !s.ExpiresAt.Equal(want) || s.ID != django.SessionID(d) ||
					!s.LastUsedAt.Equal(now) || s.IP != "" || s.UserAgent != "" {
					t.Errorf("session of %s: %+v; want expiry %v, id %s", name, s, want, django.SessionID(d))
				}
			}
		})
	}
}

func TestImportChanges(t *testing.T) {
	// A second import that disables a user and changes another's password
	// revokes their sessions, and every server learns it from the feed.
	st := newSQLite(t)
	first := `[
{"model": "auth.user", "pk": 1, "fields": {"username": "ann", "password": "md5$a$x", "is_active": true, "date_joined": "2026-11-28T10:00:00Z", "last_login": null}},
{"model": "auth.user", "pk": 2, "fields": {"username": "ben", "password": "md5$b$x", "is_active": true, "date_joined": "2026-11-28T10:00:00Z", "last_login": "2026-11-28T11:00:00Z"}},
{"model": "auth.user", "pk": 3, "fields": {"username": "cat", "password": "md5$c$x", "is_active": true, "date_joined": "2026-11-28T10:00:00Z", "last_login": null}},
{"model": "authtoken.token", "pk": "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", "fields": {"user": 1, "created": "2026-11-28T20:00:00Z"}},
{"model": "authtoken.token", "pk": "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb", "fields": {"user": 2, "created": "2026-11-28T20:00:00Z"}},
{"model": "authtoken.token", "pk": "cccccccccccccccccccccccccccccccccccccccc", "fields": {"user": 3, "created": "2026-11-28T20:00:00Z"}}
]`
	second := strings.NewReplacer(
		`"username": "ann", "password": "md5$a$x", "is_active": true`, `"username": "ann", "password": "md5$a$x", "is_active": false`,
		`"password": "md5$b$x"`, `"password": "md5$b$new"`,
		`"last_login": "2026-11-28T11:00:00Z"`, `"last_login": "2026-11-28T12:00:00Z"`,
	).Replace(first)
	read := func(s string) source {
		return source{"inline", func(ctx context.Context, h django.Handler) error {
			return django.Reader{}.Dumpdata(ctx, strings.NewReader(s), h)
		}}
	}
	mustImport(t, st, read(first), django.Options{})
	auth := newAuth(st)
	if err := auth.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	for _, key := range []string{"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb", "cccccccccccccccccccccccccccccccccccccccc"} {
		if _, err := auth.Authenticate(t.Context(), key); err != nil { // cached now
			t.Fatalf("Authenticate: %v", err)
		}
	}
	rep := mustImport(t, st, read(second), django.Options{})
	wantCounts(t, "users", rep.Users, 0, 2, 1, 0)
	// ann's token is revoked with her, then skipped; ben's is revoked
	// with his old password, and imported again: Django still honours it.
	wantCounts(t, "tokens", rep.Tokens, 1, 0, 1, 1)
	if rep.Revoked != 2 {
		t.Errorf("Revoked = %d, want 2", rep.Revoked)
	}
	if err := auth.Sync(t.Context()); err != nil {
		t.Fatal(err)
	}
	if _, err := auth.Authenticate(t.Context(), "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"); !errors.Is(err, latchkey.ErrInvalidToken) {
		t.Errorf("ann's token after she was disabled: %v, want invalid_token", err)
	}
	for _, key := range []string{"bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb", "cccccccccccccccccccccccccccccccccccccccc"} {
		if _, err := auth.Authenticate(t.Context(), key); err != nil {
			t.Errorf("Authenticate after the second import: %v", err)
		}
	}
	ben, err := st.UserByUsername(t.Context(), "ben")
	if err != nil {
		t.Fatal(err)
	}
	if ben.PasswordHash != "md5$b$new" || !ben.LastLogin.Equal(time.Date(2026, 11, 28, 12, 0, 0, 0, time.UTC)) {
		t.Errorf("ben: hash %q, last login %v", ben.PasswordHash, ben.LastLogin)
	}
}

func TestImportSkips(t *testing.T) {
	st := newSQLite(t)
	// A token before its user, one by natural key, one of a user not in
	// the dump, one with a malformed key, and users the import refuses.
	in := `[
{"model": "authtoken.token", "pk": "dddddddddddddddddddddddddddddddddddddddd", "fields": {"user": 4, "created": "2026-11-28T20:00:00Z"}},
{"model": "authtoken.token", "pk": "eeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeee", "fields": {"user": ["dan"], "created": "2026-11-28T20:00:00Z"}},
{"model": "authtoken.token", "pk": "ffffffffffffffffffffffffffffffffffffffff", "fields": {"user": 99, "created": "2026-11-28T20:00:00Z"}},
{"model": "authtoken.token", "pk": "not a key", "fields": {"user": 4, "created": "2026-11-28T20:00:00Z"}},
{"model": "auth.user", "pk": 4, "fields": {"username": "dan", "password": "md5$d$x", "is_active": true, "date_joined": "2026-11-28T10:00:00Z"}},
{"model": "auth.user", "pk": 5, "fields": {"username": "dan", "password": "md5$d$x", "is_active": true, "date_joined": "2026-11-28T10:00:00Z"}},
{"model": "auth.user", "pk": 6, "fields": {"username": "", "password": "md5$d$x", "is_active": true, "date_joined": "2026-11-28T10:00:00Z"}},
{"model": "authtoken.token", "pk": "1111111111111111111111111111111111111111", "fields": {"user": 5, "created": "2026-11-28T20:00:00Z"}}
]`
	rep := mustImport(t, st, source{"inline", func(ctx context.Context, h django.Handler) error {
		return django.Reader{}.Dumpdata(ctx, strings.NewReader(in), h)
	}}, django.Options{})
	wantCounts(t, "users", rep.Users, 1, 0, 0, 2)
	wantCounts(t, "tokens", rep.Tokens, 2, 0, 0, 3)
	var got []string
	for _, s := range rep.Skips {
		got = append(got, s.String())
	}
	want := []string{
		"user 5 (dan): " + latchkey.SkipUsernameTaken,
		"user 6: " + latchkey.SkipInvalidUsername,
		"token of user 5: " + django.SkipUserNotImported,
		"token of user 99: " + django.SkipUserNotInSource,
		"token of user 4: " + django.SkipMalformedKey,
	}
	slices.Sort(got)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Errorf("skips\n %q\nwant\n %q", got, want)
	}
	// Both of dan's keys work: one came before him, one named him.
	auth := newAuth(st)
	for _, key := range []string{"dddddddddddddddddddddddddddddddddddddddd", "eeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeee"} {
		if p, err := auth.Authenticate(t.Context(), key); err != nil || p.User.Username != "dan" {
			t.Errorf("Authenticate = %v, %v; want dan", p.User.Username, err)
		}
	}
}

func TestImportReadErrorRollsBack(t *testing.T) {
	st := newSQLite(t)
	in := `[{"model": "auth.user", "pk": 4, "fields": {"username": "dan", "password": "md5$d$x", "is_active": true, "date_joined": "2026-11-28T10:00:00Z"}}, {"model": "auth.user", "pk": 5`
	_, err := django.Import(t.Context(), st, func(ctx context.Context, h django.Handler) error {
		return django.Reader{}.Dumpdata(ctx, strings.NewReader(in), h)
	}, django.Options{Now: clock, KeepHash: password.IsOwn})
	if err == nil {
		t.Fatal("Import of a truncated dump succeeded")
	}
	if us, err := st.ListUsers(t.Context()); err != nil || len(us) != 0 {
		t.Errorf("a failed import stored %d users (%v)", len(us), err)
	}
}

// TestImportNeedsKeepHash: without Options.KeepHash an import fails and
// writes nothing, rather than overwrite the hashes latchkey wrote.
func TestImportNeedsKeepHash(t *testing.T) {
	st := newSQLite(t)
	in := `[{"model": "auth.user", "pk": 4, "fields": {"username": "dan", "password": "md5$d$x", "is_active": true, "date_joined": "2026-11-28T10:00:00Z"}}]`
	_, err := django.Import(t.Context(), st, func(ctx context.Context, h django.Handler) error {
		return django.Reader{}.Dumpdata(ctx, strings.NewReader(in), h)
	}, django.Options{Now: clock})
	if latchkey.ErrorKind(err) != latchkey.KindInvalid {
		t.Errorf("Import without KeepHash: %v, want an invalid error", err)
	}
	if us, err := st.ListUsers(t.Context()); err != nil || len(us) != 0 {
		t.Errorf("an import without KeepHash stored %d users (%v)", len(us), err)
	}
}

// TestImportUsernames: usernames are stored in NFKC form, as Django's
// normalize_username keeps them. A name with control characters (which
// forged rows in `user list`), NUL (which PostgreSQL refuses), spaces or
// invisible characters is skipped, and so is one whose NFKC form belongs
// to another user; the report shows such names escaped, on one line. A
// user imported before names were normalised is renamed to its NFKC form.
func TestImportUsernames(t *testing.T) {
	for name, open := range stores(t) {
		t.Run(name, func(t *testing.T) {
			st := open(t)
			legacy, err := st.CreateUser(t.Context(), latchkey.User{Username: "ｂｏｂ", PasswordHash: "md5$b$x", Active: true, DateJoined: now})
			if err != nil {
				t.Fatal(err)
			}
			user := func(pk int64, name string) string {
				return fmt.Sprintf(`{"model": "auth.user", "pk": %d, "fields": {"username": %s, "password": "md5$b$x", "is_active": true, "date_joined": "2026-11-28T10:00:00Z"}},`, pk, name)
			}
			in := "[\n" + strings.Join([]string{
				user(10, `"alice"`),
				user(11, `"ａｌｉｃｅ"`),
				user(12, `"jose\u0301"`),
				user(13, `"eve\u001b[2K\nroot  root@example.com"`),
				user(14, `"nul\u0000"`),
				user(15, `"two words"`),
				user(16, `"in\u200bvisible"`),
				user(legacy.ID, `"ｂｏｂ"`),
				`{"model": "authtoken.token", "pk": "dddddddddddddddddddddddddddddddddddddddd", "fields": {"user": 13, "created": "2026-11-28T20:00:00Z"}}`,
			}, "\n") + "\n]"
			rep := mustImport(t, st, source{"inline", func(ctx context.Context, h django.Handler) error {
				return django.Reader{}.Dumpdata(ctx, strings.NewReader(in), h)
			}}, django.Options{})
			wantCounts(t, "users", rep.Users, 2, 1, 0, 5)
			var got []string
			for _, s := range rep.Skips {
				if strings.ContainsAny(s.String(), "\n\x1b\x00") {
					t.Errorf("a skip prints a control character: %q", s.String())
				}
				got = append(got, s.String())
			}
			want := []string{
				`user 11 ("\uff41\uff4c\uff49\uff43\uff45"): ` + latchkey.SkipNormalizedUsernameTaken,
				`user 13 ("eve\x1b[2K\nroot  root@example.com"): ` + latchkey.SkipInvalidUsername,
				`user 14 ("nul\x00"): ` + latchkey.SkipInvalidUsername,
				`user 15 ("two words"): ` + latchkey.SkipInvalidUsername,
				`user 16 ("in\u200bvisible"): ` + latchkey.SkipInvalidUsername,
				`token of user 13: ` + django.SkipUserNotImported,
			}
			slices.Sort(got)
			slices.Sort(want)
			if !slices.Equal(got, want) {
				t.Errorf("skips\n %q\nwant\n %q", got, want)
			}
			us, err := st.ListUsers(t.Context())
			if err != nil {
				t.Fatal(err)
			}
			var names []string
			for _, u := range us {
				names = append(names, fmt.Sprintf("%d %s", u.ID, u.Username))
			}
			if want := []string{fmt.Sprintf("%d bob", legacy.ID), "10 alice", "12 josé"}; !slices.Equal(names, want) {
				t.Errorf("stored users %q, want %q", names, want)
			}
		})
	}
}
