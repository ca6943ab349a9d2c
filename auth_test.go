package latchkey_test

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/latchkeyhq/latchkey"
	"github.com/latchkeyhq/latchkey/cache/memory"
	"github.com/latchkeyhq/latchkey/password"
	"github.com/latchkeyhq/latchkey/sqlite"
)

// clock is a settable clock for tests.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *clock { return &clock{t: time.Date(2026, 11, 28, 12, 0, 0, 0, time.UTC)} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// countingStore counts the store calls made through it, so tests can
// prove that a cache hit costs none.
type countingStore struct {
	latchkey.Store
	byDigest atomic.Int64
	other    atomic.Int64
	// clients counts the lookups of service clients, apart.
	clients atomic.Int64
}

func (s *countingStore) ServiceClientByName(ctx context.Context, name string) (latchkey.ServiceClient, error) {
	s.clients.Add(1)
	return s.Store.ServiceClientByName(ctx, name)
}

func (s *countingStore) SessionByDigest(ctx context.Context, d latchkey.Digest) (latchkey.Session, latchkey.User, error) {
	s.byDigest.Add(1)
	return s.Store.SessionByDigest(ctx, d)
}

func (s *countingStore) UserByID(ctx context.Context, id int64) (latchkey.User, error) {
	s.other.Add(1)
	return s.Store.UserByID(ctx, id)
}

func (s *countingStore) UserByUsername(ctx context.Context, name string) (latchkey.User, error) {
	s.other.Add(1)
	return s.Store.UserByUsername(ctx, name)
}

func (s *countingStore) ListSessions(ctx context.Context, id int64, now time.Time) ([]latchkey.Session, error) {
	s.other.Add(1)
	return s.Store.ListSessions(ctx, id, now)
}

func (s *countingStore) calls() int64 { return s.byDigest.Load() + s.other.Load() }

// cheapHasher hashes with tiny argon2id parameters so tests run fast.
func cheapHasher(tb testing.TB) *password.Hasher {
	tb.Helper()
	return password.New(password.Options{Params: password.Argon2id{Memory: 64, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 32}})
}

func openStore(tb testing.TB, path string) *sqlite.Store {
	tb.Helper()
	ctx := context.Background()
	st, err := sqlite.Open(ctx, path)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { st.Close() })
	if err := st.Migrate(ctx); err != nil {
		tb.Fatal(err)
	}
	return st
}

type fixture struct {
	auth  *latchkey.Authenticator
	store *countingStore
	cache *memory.Cache
	clock *clock
	path  string
}

func newFixture(tb testing.TB, opt latchkey.Options) *fixture {
	tb.Helper()
	path := filepath.Join(tb.TempDir(), "latchkey.db")
	return newFixtureOn(tb, path, newClock(), opt)
}

// newFixtureOn builds an Authenticator over the database at path, as a
// separate server process would.
func newFixtureOn(tb testing.TB, path string, c *clock, opt latchkey.Options) *fixture {
	tb.Helper()
	st := &countingStore{Store: openStore(tb, path)}
	cache := memory.New(memory.Options{MaxEntries: 1000, Now: c.Now})
	opt.Now = c.Now
	if opt.Sleep == nil {
		// A revocation's wait moves the shared clock, as real time would
		// pass for every process.
		opt.Sleep = func(_ context.Context, d time.Duration) { c.Add(d) }
	}
	a := latchkey.NewAuthenticator(st, cache, cheapHasher(tb), opt)
	if err := a.Start(context.Background()); err != nil {
		tb.Fatal(err)
	}
	return &fixture{auth: a, store: st, cache: cache, clock: c, path: path}
}

const pw = latchkey.Password("a long enough passphrase")

func (f *fixture) addUser(tb testing.TB, name string) latchkey.User {
	tb.Helper()
	u, err := f.auth.AddUser(context.Background(), latchkey.NewUser{Username: name, Email: name + "@example.com"}, pw)
	if err != nil {
		tb.Fatal(err)
	}
	return u
}

func (f *fixture) login(tb testing.TB, name string) latchkey.Issued {
	tb.Helper()
	is, err := f.auth.Login(context.Background(), latchkey.LoginRequest{Username: name, Password: pw, Client: latchkey.Client{Addr: netip.MustParseAddr("127.0.0.1"), UserAgent: "test"}})
	if err != nil {
		tb.Fatal(err)
	}
	return is
}

func wantErr(tb testing.TB, err, want error) {
	tb.Helper()
	if !errors.Is(err, want) {
		tb.Fatalf("err = %v, want %v", err, want)
	}
}

func TestCacheHitCostsNoStoreQuery(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, latchkey.Options{})
	f.addUser(t, "alice")
	is := f.login(t, "alice")

	before := f.store.calls()
	for range 100 {
		p, err := f.auth.Authenticate(ctx, is.Token.Reveal())
		if err != nil {
			t.Fatal(err)
		}
		if p.User.Username != "alice" || p.Session.SessionID != is.Session.ID {
			t.Fatalf("principal = %+v", p)
		}
		if p.User.PasswordHash != "" {
			t.Fatal("principal carries a password hash")
		}
	}
	if n := f.store.calls() - before; n != 0 {
		t.Fatalf("100 cache hits made %d store calls, want 0", n)
	}

	// A second process with a cold cache: the miss costs exactly one
	// query by digest and fills the cache.
	g := newFixtureOn(t, f.path, f.clock, latchkey.Options{})
	if _, err := g.auth.Authenticate(ctx, is.Token.Reveal()); err != nil {
		t.Fatal(err)
	}
	if by, other := g.store.byDigest.Load(), g.store.other.Load(); by != 1 || other != 0 {
		t.Fatalf("miss made %d queries by digest and %d others, want 1 and 0", by, other)
	}
	if _, err := g.auth.Authenticate(ctx, is.Token.Reveal()); err != nil {
		t.Fatal(err)
	}
	if n := g.store.calls(); n != 1 {
		t.Fatalf("after the fill, a hit made %d more store calls", n-1)
	}
}

func TestAuthenticateRejects(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, latchkey.Options{})
	f.addUser(t, "alice")
	is := f.login(t, "alice")
	unknown, _ := latchkey.NewToken(nil)
	for _, tc := range []struct {
		name, token string
		want        error
	}{
		{"unknown", unknown.Reveal(), latchkey.ErrInvalidToken},
		{"empty", "", latchkey.ErrInvalidToken},
		{"bad characters", "lk_abc def", latchkey.ErrInvalidToken},
		{"too long", string(make([]byte, latchkey.MaxTokenLength+1)), latchkey.ErrInvalidToken},
		{"prefix of a real token", is.Token.Reveal()[:20], latchkey.ErrInvalidToken},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := f.auth.Authenticate(ctx, tc.token)
			wantErr(t, err, tc.want)
		})
	}
}

func TestLoginFailuresAreIdentical(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, latchkey.Options{})
	f.addUser(t, "alice")
	f.addUser(t, "leo")
	if err := f.auth.SetUserActive(ctx, "leo", false); err != nil {
		t.Fatal(err)
	}
	if _, err := f.store.CreateUser(ctx, latchkey.User{Username: "mallory", PasswordHash: "!unusable", Active: true, DateJoined: f.clock.Now()}); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, user string
		pw         latchkey.Password
	}{
		{"unknown user", "nobody", pw},
		{"wrong password", "alice", "not the passphrase"},
		{"inactive user", "leo", pw},
		{"unusable password", "mallory", "!unusable"},
		{"username in other case", "ALICE", pw},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := f.auth.Login(ctx, latchkey.LoginRequest{Username: tc.user, Password: tc.pw})
			if err != latchkey.ErrInvalidCredentials {
				t.Fatalf("err = %#v, want the ErrInvalidCredentials value itself", err)
			}
		})
	}
}

// verdicts is a PasswordHasher that records whether each check matched.
type verdicts struct {
	latchkey.PasswordHasher
	mu      sync.Mutex
	matched []bool
}

func (v *verdicts) Verify(ctx context.Context, pw latchkey.Password, encoded string) (bool, bool, error) {
	ok, rehash, err := v.PasswordHasher.Verify(ctx, pw, encoded)
	v.mu.Lock()
	v.matched = append(v.matched, ok)
	v.mu.Unlock()
	return ok, rehash, err
}

// TestLoginFailuresFailTheCheck: every refused login is one check that the
// hasher sees fail, and pads to its floor (password.Hasher.Verify), so
// that a refusal takes the same time whatever it names. An inactive
// user's right password too: were it checked as right, its refusal would
// answer as soon as its hash allows, sooner than a wrong password's.
func TestLoginFailuresFailTheCheck(t *testing.T) {
	ctx := context.Background()
	c := newClock()
	st := openStore(t, filepath.Join(t.TempDir(), "latchkey.db"))
	v := &verdicts{PasswordHasher: cheapHasher(t)}
	a := latchkey.NewAuthenticator(st, memory.New(memory.Options{MaxEntries: 100, Now: c.Now}), v, latchkey.Options{Now: c.Now})
	for _, name := range []string{"alice", "leo"} {
		if _, err := a.AddUser(ctx, latchkey.NewUser{Username: name}, pw); err != nil {
			t.Fatal(err)
		}
	}
	if err := a.SetUserActive(ctx, "leo", false); err != nil {
		t.Fatal(err)
	}
	if _, err := st.CreateUser(ctx, latchkey.User{Username: "mallory", PasswordHash: "!unusable", Active: true, DateJoined: c.Now()}); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, user string
		pw         latchkey.Password
	}{
		{"unknown user", "nobody", pw},
		{"wrong password", "alice", "not the passphrase"},
		{"inactive user, right password", "leo", pw},
		{"inactive user, wrong password", "leo", "not the passphrase"},
		{"unusable password", "mallory", "!unusable"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			v.mu.Lock()
			v.matched = nil
			v.mu.Unlock()
			if _, err := a.Login(ctx, latchkey.LoginRequest{Username: tc.user, Password: tc.pw}); err != latchkey.ErrInvalidCredentials {
				t.Fatalf("err = %v, want ErrInvalidCredentials", err)
			}
			v.mu.Lock()
			defer v.mu.Unlock()
			if !slices.Equal(v.matched, []bool{false}) {
				t.Errorf("checks matched: %v, want one check that failed", v.matched)
			}
		})
	}
	// The right password of an active user is still one check that matches.
	v.matched = nil
	if _, err := a.Login(ctx, latchkey.LoginRequest{Username: "alice", Password: pw}); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(v.matched, []bool{true}) {
		t.Errorf("alice's login: checks matched %v, want [true]", v.matched)
	}
}

func TestLoginRecordsLastLoginAndNeverExtends(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, latchkey.Options{TokenTTL: time.Hour})
	f.addUser(t, "alice")
	first := f.login(t, "alice")
	if !first.User.LastLogin.Equal(f.clock.Now()) {
		t.Fatalf("last login = %v, want %v", first.User.LastLogin, f.clock.Now())
	}
	if want := f.clock.Now().Add(time.Hour); !first.Session.ExpiresAt.Equal(want) {
		t.Fatalf("expires at %v, want %v", first.Session.ExpiresAt, want)
	}
	f.clock.Add(30 * time.Minute)
	second := f.login(t, "alice")
	if second.Token == first.Token || second.Session.ID == first.Session.ID {
		t.Fatal("a second login reused the first token")
	}
	p, err := f.auth.Authenticate(ctx, first.Token.Reveal())
	if err != nil {
		t.Fatal(err)
	}
	if !p.Session.ExpiresAt.Equal(first.Session.ExpiresAt) {
		t.Fatalf("second login moved the first token's expiry to %v", p.Session.ExpiresAt)
	}
	// The first token's /me shows the newest login time, not a stale copy.
	if !p.User.LastLogin.Equal(second.User.LastLogin) {
		t.Fatalf("last login via first token = %v, want %v", p.User.LastLogin, second.User.LastLogin)
	}
	f.clock.Add(31 * time.Minute)
	_, err = f.auth.Authenticate(ctx, first.Token.Reveal())
	wantErr(t, err, latchkey.ErrTokenExpired)
	if _, err := f.auth.Authenticate(ctx, second.Token.Reveal()); err != nil {
		t.Fatalf("second token: %v", err)
	}
}

func TestExpiryAnyTTL(t *testing.T) {
	for _, ttl := range []time.Duration{time.Second, 24 * time.Hour, 30 * 24 * time.Hour, 400 * 24 * time.Hour} {
		t.Run(ttl.String(), func(t *testing.T) {
			ctx := context.Background()
			f := newFixture(t, latchkey.Options{TokenTTL: ttl})
			f.addUser(t, "alice")
			is := f.login(t, "alice")
			f.clock.Add(ttl - time.Microsecond)
			if _, err := f.auth.Authenticate(ctx, is.Token.Reveal()); err != nil {
				t.Fatalf("just before expiry: %v", err)
			}
			f.clock.Add(time.Microsecond)
			_, err := f.auth.Authenticate(ctx, is.Token.Reveal())
			wantErr(t, err, latchkey.ErrTokenExpired)
			// A fresh process (cold cache) agrees.
			g := newFixtureOn(t, f.path, f.clock, latchkey.Options{TokenTTL: ttl})
			_, err = g.auth.Authenticate(ctx, is.Token.Reveal())
			wantErr(t, err, latchkey.ErrTokenExpired)
		})
	}
}

func TestIdleTimeout(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, latchkey.Options{IdleTimeout: 10 * time.Minute})
	f.addUser(t, "alice")
	is := f.login(t, "alice")
	for range 5 { // used every 9 minutes: stays alive past the idle timeout
		f.clock.Add(9 * time.Minute)
		if err := f.auth.Sync(ctx); err != nil { // as Run does
			t.Fatal(err)
		}
		if _, err := f.auth.Authenticate(ctx, is.Token.Reveal()); err != nil {
			t.Fatal(err)
		}
	}
	if err := f.auth.FlushTouches(ctx); err != nil {
		t.Fatal(err)
	}
	// Another process that has not seen the token sees its last use.
	g := newFixtureOn(t, f.path, f.clock, latchkey.Options{IdleTimeout: 10 * time.Minute})
	if _, err := g.auth.Authenticate(ctx, is.Token.Reveal()); err != nil {
		t.Fatalf("other process: %v", err)
	}
	// Unused, it dies within one step (the 1m granularity and the 1s
	// write period) after the idle timeout.
	f.clock.Add(10*time.Minute + time.Minute + time.Second)
	_, err := f.auth.Authenticate(ctx, is.Token.Reveal())
	wantErr(t, err, latchkey.ErrTokenExpired)
}

// TestShortIdleTimeout: with an idle timeout of seconds, a token used
// more often than that never idles out, even when its uses alternate
// between two processes on one database, each writing its recorded uses
// only every write period; unused, it dies within one step of the
// timeout.
func TestShortIdleTimeout(t *testing.T) {
	ctx := context.Background()
	const idle = 3 * time.Second
	opt := latchkey.Options{IdleTimeout: idle}
	a := newFixture(t, opt)
	b := newFixtureOn(t, a.path, a.clock, opt)
	a.addUser(t, "alice")
	is := a.login(t, "alice")
	tok := is.Token.Reveal()
	// The step: an eighth of the timeout for the granularity, as much
	// again for the write period.
	step := idle/8 + idle/8
	var tick time.Duration
	advance := func(d time.Duration) {
		for d > 0 {
			dt := min(d, idle/8)
			a.clock.Add(dt)
			d -= dt
			tick += dt
			// Run writes recorded uses every write period.
			for _, f := range []*fixture{a, b} {
				if err := f.auth.FlushTouches(ctx); err != nil {
					t.Fatal(err)
				}
			}
		}
	}
	for i := range 12 { // uses 2.9 s apart, alternating between a and b
		advance(idle - 100*time.Millisecond)
		f := []*fixture{a, b}[i%2]
		if _, err := f.auth.Authenticate(ctx, tok); err != nil {
			t.Fatalf("use %d after %v, on %c: %v", i, tick, "ab"[i%2], err)
		}
	}
	// Unused: alive up to the timeout, dead one step after it.
	advance(idle - 100*time.Millisecond)
	if err := a.auth.FlushTouches(ctx); err != nil {
		t.Fatal(err)
	}
	c := newFixtureOn(t, a.path, a.clock, opt) // sees only the store
	if _, err := c.auth.Authenticate(ctx, tok); err != nil {
		t.Fatalf("before the timeout: %v", err)
	}
	advance(idle + step)
	for _, f := range []*fixture{a, b} {
		_, err := f.auth.Authenticate(ctx, tok)
		wantErr(t, err, latchkey.ErrTokenExpired)
	}
}

func TestLastUsedWrittenAtMostOnceAMinute(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, latchkey.Options{})
	u := f.addUser(t, "alice")
	is := f.login(t, "alice")
	lastUsed := func() time.Time {
		ss, err := f.store.Store.ListSessions(ctx, u.ID, f.clock.Now())
		if err != nil || len(ss) != 1 {
			t.Fatalf("sessions = %v, %v", ss, err)
		}
		return ss[0].LastUsedAt
	}
	f.clock.Add(30 * time.Second)
	f.auth.Authenticate(ctx, is.Token.Reveal())
	f.auth.FlushTouches(ctx)
	if got := lastUsed(); !got.Equal(is.Session.CreatedAt) {
		t.Fatalf("last used moved after 30s to %v", got)
	}
	f.clock.Add(31 * time.Second)
	f.auth.Authenticate(ctx, is.Token.Reveal())
	f.auth.FlushTouches(ctx)
	if got, want := lastUsed(), f.clock.Now(); !got.Equal(want) {
		t.Fatalf("last used = %v, want %v", got, want)
	}
}

func TestRevocation(t *testing.T) {
	ctx := context.Background()
	type step func(t *testing.T, f *fixture, p latchkey.Principal)
	for _, tc := range []struct {
		name   string
		revoke step
		// whether the acting principal's own token and another token of
		// the same user survive.
		selfLives, otherLives bool
	}{
		{"logout local", func(t *testing.T, f *fixture, p latchkey.Principal) {
			if err := f.auth.Logout(ctx, p, latchkey.LogoutLocal, latchkey.Client{}); err != nil {
				t.Fatal(err)
			}
		}, false, true},
		{"logout others", func(t *testing.T, f *fixture, p latchkey.Principal) {
			if err := f.auth.Logout(ctx, p, latchkey.LogoutOthers, latchkey.Client{}); err != nil {
				t.Fatal(err)
			}
		}, true, false},
		{"logout global", func(t *testing.T, f *fixture, p latchkey.Principal) {
			if err := f.auth.Logout(ctx, p, latchkey.LogoutGlobal, latchkey.Client{}); err != nil {
				t.Fatal(err)
			}
		}, false, false},
		{"password change", func(t *testing.T, f *fixture, p latchkey.Principal) {
			is, err := f.auth.ChangePassword(ctx, p, pw, "another long passphrase", "", latchkey.Client{})
			if err != nil {
				t.Fatal(err)
			}
			if _, err := f.auth.Authenticate(ctx, is.Token.Reveal()); err != nil {
				t.Fatalf("new token: %v", err)
			}
		}, false, false},
		{"disable", func(t *testing.T, f *fixture, p latchkey.Principal) {
			if err := f.auth.SetUserActive(ctx, p.User.Username, false); err != nil {
				t.Fatal(err)
			}
		}, false, false},
		{"admin password", func(t *testing.T, f *fixture, p latchkey.Principal) {
			if err := f.auth.SetUserPassword(ctx, p.User.Username, "another long passphrase"); err != nil {
				t.Fatal(err)
			}
		}, false, false},
		{"delete other session", func(t *testing.T, f *fixture, p latchkey.Principal) {
			ss, err := f.auth.Sessions(ctx, p)
			if err != nil {
				t.Fatal(err)
			}
			for _, s := range ss {
				if s.ID != p.Session.SessionID {
					if err := f.auth.RevokeSession(ctx, p, s.ID, latchkey.Client{}); err != nil {
						t.Fatal(err)
					}
				}
			}
		}, true, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t, latchkey.Options{})
			f.addUser(t, "alice")
			f.addUser(t, "bob")
			self, other, bystander := f.login(t, "alice"), f.login(t, "alice"), f.login(t, "bob")
			// A second process on the same database, with the tokens
			// in its cache.
			g := newFixtureOn(t, f.path, f.clock, latchkey.Options{})
			for _, is := range []latchkey.Issued{self, other, bystander} {
				if _, err := g.auth.Authenticate(ctx, is.Token.Reveal()); err != nil {
					t.Fatal(err)
				}
			}
			p, err := f.auth.Authenticate(ctx, self.Token.Reveal())
			if err != nil {
				t.Fatal(err)
			}
			tc.revoke(t, f, p)
			if err := g.auth.Sync(ctx); err != nil {
				t.Fatal(err)
			}
			for _, a := range []*fixture{f, g} {
				check := func(is latchkey.Issued, lives bool, what string) {
					_, err := a.auth.Authenticate(ctx, is.Token.Reveal())
					if lives && err != nil {
						t.Fatalf("%s token refused: %v", what, err)
					}
					if !lives {
						wantErr(t, err, latchkey.ErrInvalidToken)
					}
				}
				check(self, tc.selfLives, "own")
				check(other, tc.otherLives, "other")
				check(bystander, true, "other user's")
			}
		})
	}
}

func TestRevokeSessionNotFound(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, latchkey.Options{TokenTTL: time.Hour})
	f.addUser(t, "alice")
	f.addUser(t, "bob")
	alice, bob := f.login(t, "alice"), f.login(t, "bob")
	old := f.login(t, "alice")
	p, _ := f.auth.Authenticate(ctx, alice.Token.Reveal())
	wantErr(t, f.auth.RevokeSession(ctx, p, bob.Session.ID, latchkey.Client{}), latchkey.ErrNotFound)
	wantErr(t, f.auth.RevokeSession(ctx, p, "no-such-id", latchkey.Client{}), latchkey.ErrNotFound)
	// An expired session is not live: 404 as well.
	f.clock.Add(59 * time.Minute)
	alice2 := f.login(t, "alice")
	f.clock.Add(2 * time.Minute)
	p, err := f.auth.Authenticate(ctx, alice2.Token.Reveal())
	if err != nil {
		t.Fatal(err)
	}
	wantErr(t, f.auth.RevokeSession(ctx, p, old.Session.ID, latchkey.Client{}), latchkey.ErrNotFound)
	if _, err := f.auth.Authenticate(ctx, bob.Token.Reveal()); err == nil {
		t.Fatal("bob's token should have expired by now")
	}
}

func TestChangePasswordChecks(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, latchkey.Options{CheckPassword: password.Policy{MinLength: 12}.Check})
	f.addUser(t, "alice")
	is := f.login(t, "alice")
	p, _ := f.auth.Authenticate(ctx, is.Token.Reveal())
	for _, tc := range []struct {
		name     string
		old, new latchkey.Password
		field    string
	}{
		{"wrong old password", "wrong old password", "another long passphrase", "old_password"},
		{"too short", pw, "short", "new_password"},
		{"same as old", pw, pw, "new_password"},
		{"the username", pw, "alice", "new_password"},
		{"common", pw, "qwerty123456", "new_password"},
		{"too long", pw, latchkey.Password(make([]byte, 257)), "new_password"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := f.auth.ChangePassword(ctx, p, tc.old, tc.new, "", latchkey.Client{})
			e := latchkey.AsError(err)
			if e.Kind != latchkey.KindInvalid || len(e.Fields[tc.field]) == 0 {
				t.Fatalf("err = %v (fields %v), want invalid %s", err, e.Fields, tc.field)
			}
			if _, err := f.auth.Authenticate(ctx, is.Token.Reveal()); err != nil {
				t.Fatalf("a refused change revoked the token: %v", err)
			}
		})
	}
}

func TestStaleCacheNotServedWhenFeedFails(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, latchkey.Options{MaxStaleness: 30 * time.Second})
	f.addUser(t, "alice")
	is := f.login(t, "alice")
	if err := f.auth.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	// Without a successful feed read for longer than MaxStaleness, every
	// check goes to the store.
	f.clock.Add(31 * time.Second)
	before := f.store.byDigest.Load()
	if _, err := f.auth.Authenticate(ctx, is.Token.Reveal()); err != nil {
		t.Fatal(err)
	}
	if f.store.byDigest.Load() != before+1 {
		t.Fatal("a stale cache answered without the store")
	}
	if err := f.auth.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	before = f.store.byDigest.Load()
	f.auth.Authenticate(ctx, is.Token.Reveal())
	if f.store.byDigest.Load() != before {
		t.Fatal("after a sync the cache was not used")
	}
}

func TestLoginRehashesWeakerHash(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, latchkey.Options{})
	weak := password.New(password.Options{Params: password.Argon2id{Memory: 32, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 32}})
	h, err := weak.Hash(ctx, pw)
	if err != nil {
		t.Fatal(err)
	}
	u, err := f.store.CreateUser(ctx, latchkey.User{Username: "old", PasswordHash: h, Active: true, DateJoined: f.clock.Now()})
	if err != nil {
		t.Fatal(err)
	}
	f.login(t, "old")
	got, err := f.store.UserByID(ctx, u.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got.PasswordHash == h || !strings.HasPrefix(got.PasswordHash, "$argon2id$v=19$m=64,t=1,p=1$") {
		t.Fatalf("hash after login = %q, want a rehash with the configured parameters", got.PasswordHash)
	}
	f.login(t, "old") // and the new hash works
}

func TestUnknownUserCostsOneHash(t *testing.T) {
	ctx := context.Background()
	var computed atomic.Int64
	path := filepath.Join(t.TempDir(), "latchkey.db")
	c := newClock()
	st := openStore(t, path)
	h := password.New(password.Options{
		Params:    password.Argon2id{Memory: 64, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 32},
		OnCompute: func() { computed.Add(1) },
	})
	a := latchkey.NewAuthenticator(st, memory.New(memory.Options{Now: c.Now}), h, latchkey.Options{Now: c.Now})
	if _, err := a.AddUser(ctx, latchkey.NewUser{Username: "alice"}, pw); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ name, user string }{{"unknown user", "nobody"}, {"wrong password", "alice"}} {
		t.Run(tc.name, func(t *testing.T) {
			before := computed.Load()
			_, err := a.Login(ctx, latchkey.LoginRequest{Username: tc.user, Password: "wrong passphrase"})
			wantErr(t, err, latchkey.ErrInvalidCredentials)
			if n := computed.Load() - before; n != 1 {
				t.Fatalf("%d hashes computed, want 1", n)
			}
		})
	}
}

// invalidationSpy records the invalidations a cache is given.
type invalidationSpy struct {
	latchkey.Cache
	mu   sync.Mutex
	seen []latchkey.Invalidation
}

func (s *invalidationSpy) Invalidate(ctx context.Context, inv latchkey.Invalidation) error {
	s.mu.Lock()
	s.seen = append(s.seen, inv)
	s.mu.Unlock()
	return s.Cache.Invalidate(ctx, inv)
}

// take returns the invalidations seen since the last take.
func (s *invalidationSpy) take() []latchkey.Invalidation {
	s.mu.Lock()
	defer s.mu.Unlock()
	r := s.seen
	s.seen = nil
	return r
}

// replays returns, for each invalidation seen since the last take,
// whether it was marked a replay.
func (s *invalidationSpy) replays() []bool {
	var r []bool
	for _, inv := range s.take() {
		r = append(r, inv.Replay)
	}
	return r
}

// TestSyncEvictionsAreReplayed: a process's own logout evicts as news (a
// shared cache announces it); the same revocation read from the change
// feed by another process evicts as a replay (nobody needs telling).
func TestSyncEvictionsAreReplayed(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, latchkey.Options{})
	f.addUser(t, "alice")
	is := f.login(t, "alice")

	spy := &invalidationSpy{Cache: memory.New(memory.Options{Now: f.clock.Now})}
	other := latchkey.NewAuthenticator(openStore(t, f.path), spy, cheapHasher(t), latchkey.Options{Now: f.clock.Now})
	if err := other.Start(ctx); err != nil {
		t.Fatal(err)
	}
	p, err := other.Authenticate(ctx, is.Token.Reveal())
	if err != nil {
		t.Fatal(err)
	}
	if err := other.Logout(ctx, p, latchkey.LogoutLocal, latchkey.Client{}); err != nil {
		t.Fatal(err)
	}
	if got := spy.replays(); len(got) == 0 || slices.Contains(got, true) {
		t.Fatalf("logout's evictions marked replayed: %v, want some, none replayed", got)
	}

	is = f.login(t, "alice")
	p, err = f.auth.Authenticate(ctx, is.Token.Reveal())
	if err != nil {
		t.Fatal(err)
	}
	if err := f.auth.Logout(ctx, p, latchkey.LogoutLocal, latchkey.Client{}); err != nil {
		t.Fatal(err)
	}
	if err := other.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	if got := spy.replays(); len(got) == 0 || slices.Contains(got, false) {
		t.Fatalf("the change feed's evictions marked replayed: %v, want some, all replayed", got)
	}
}

// TestRevocationIsOneInvalidation: each revocation reaches the cache as
// one invalidation naming everything it revoked, so that a shared cache
// announces it once: a logout names its session, a password change every
// session of the user and the user, a disable the same.
func TestRevocationIsOneInvalidation(t *testing.T) {
	ctx := context.Background()
	c := newClock()
	spy := &invalidationSpy{Cache: memory.New(memory.Options{Now: c.Now})}
	a := latchkey.NewAuthenticator(openStore(t, filepath.Join(t.TempDir(), "latchkey.db")), spy, cheapHasher(t), latchkey.Options{Now: c.Now})
	if err := a.Start(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := a.AddUser(ctx, latchkey.NewUser{Username: "alice"}, pw); err != nil {
		t.Fatal(err)
	}
	login := func() latchkey.Principal {
		t.Helper()
		is, err := a.Login(ctx, latchkey.LoginRequest{Username: "alice", Password: pw})
		if err != nil {
			t.Fatal(err)
		}
		p, err := a.Authenticate(ctx, is.Token.Reveal())
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	one := func(what string, wantSessions int, wantUser bool) latchkey.Invalidation {
		t.Helper()
		got := spy.take()
		if len(got) != 1 {
			t.Fatalf("%s: %d invalidations %+v, want 1", what, len(got), got)
		}
		inv := got[0]
		if len(inv.Sessions) != wantSessions || (len(inv.Users) == 1) != wantUser || inv.All || inv.Replay {
			t.Fatalf("%s: invalidation %+v, want %d sessions, user %v", what, inv, wantSessions, wantUser)
		}
		return inv
	}

	p := login()
	one("login (last_login changed)", 0, true)
	other := login()
	spy.take()
	if err := a.Logout(ctx, p, latchkey.LogoutLocal, latchkey.Client{}); err != nil {
		t.Fatal(err)
	}
	if inv := one("logout", 1, false); inv.Sessions[0] != p.Digest {
		t.Fatal("logout invalidated another session")
	}
	p = login()
	spy.take()
	if _, err := a.ChangePassword(ctx, p, pw, "another long passphrase", "", latchkey.Client{}); err != nil {
		t.Fatal(err)
	}
	// Both sessions, the caller's named twice (revoked, and the caller's).
	if inv := one("password change", 3, true); !slices.Contains(inv.Sessions, other.Digest) || !slices.Contains(inv.Sessions, p.Digest) {
		t.Fatalf("password change did not name both sessions: %+v", inv)
	}
	if err := a.SetUserPassword(ctx, "alice", pw); err != nil {
		t.Fatal(err)
	}
	one("administrator's password change", 1, true)
	login()
	spy.take()
	if err := a.SetUserActive(ctx, "alice", false); err != nil {
		t.Fatal(err)
	}
	one("disable", 1, true)
}

// cleanupStore counts DeleteExpired calls.
type cleanupStore struct {
	latchkey.Store
	deletes atomic.Int64
}

func (s *cleanupStore) DeleteExpired(ctx context.Context, t time.Time) (int64, error) {
	s.deletes.Add(1)
	return s.Store.DeleteExpired(ctx, t)
}

// TestRunWithoutCleanup runs the background work with and without
// NoCleanup: a process that only checks tokens deletes nothing.
func TestRunWithoutCleanup(t *testing.T) {
	for _, noCleanup := range []bool{false, true} {
		t.Run(fmt.Sprint("NoCleanup=", noCleanup), func(t *testing.T) {
			st := &cleanupStore{Store: openStore(t, filepath.Join(t.TempDir(), "latchkey.db"))}
			a := latchkey.NewAuthenticator(st, memory.New(memory.Options{MaxEntries: 10}), cheapHasher(t), latchkey.Options{
				CleanupInterval: time.Millisecond,
				NoCleanup:       noCleanup,
			})
			if err := a.Start(t.Context()); err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithTimeout(t.Context(), 100*time.Millisecond)
			defer cancel()
			if err := a.Run(ctx); err != nil {
				t.Fatal(err)
			}
			if n := st.deletes.Load(); noCleanup != (n == 0) {
				t.Fatalf("%d cleanups in 100ms, every 1ms, with NoCleanup %t", n, noCleanup)
			}
		})
	}
}
