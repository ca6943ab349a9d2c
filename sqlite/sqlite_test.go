package sqlite_test

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/latchkeyhq/latchkey"
	"github.com/latchkeyhq/latchkey/sqlite"
	"github.com/latchkeyhq/latchkey/storetest"
)

// open opens a Store on path and closes it when the test ends.
func open(tb testing.TB, path string) *sqlite.Store {
	tb.Helper()
	s, err := sqlite.Open(tb.Context(), path)
	if err != nil {
		tb.Fatalf("Open: %v", err)
	}
	tb.Cleanup(func() { s.Close() })
	return s
}

// openMigrated opens and migrates a Store on path.
func openMigrated(tb testing.TB, path string) *sqlite.Store {
	tb.Helper()
	s := open(tb, path)
	if err := s.Migrate(tb.Context()); err != nil {
		tb.Fatalf("Migrate: %v", err)
	}
	return s
}

func TestStore(t *testing.T) {
	storetest.Run(t, func(t *testing.T) latchkey.Store {
		s, err := sqlite.Open(t.Context(), filepath.Join(t.TempDir(), "latchkey.db"))
		if err != nil {
			t.Fatalf("Open: %v", err)
		}
		if err := s.Migrate(t.Context()); err != nil {
			t.Fatalf("Migrate: %v", err)
		}
		return s // storetest.Run closes it
	})
}

var base = time.Date(2030, time.March, 4, 5, 6, 7, 891011000, time.UTC)

func user(name string) latchkey.User {
	return latchkey.User{Username: name, PasswordHash: "hash-" + name, Active: true, DateJoined: base}
}

func session(u latchkey.User, id string) latchkey.Session {
	return latchkey.Session{
		ID:         id,
		UserID:     u.ID,
		Digest:     latchkey.Token("sqlite-test-" + id).Digest(),
		CreatedAt:  base,
		LastUsedAt: base,
		ExpiresAt:  base.Add(time.Hour),
	}
}

func login(t testing.TB, s latchkey.Store, u latchkey.User, id string) latchkey.Session {
	t.Helper()
	in := session(u, id)
	if err := s.CreateSession(t.Context(), in, latchkey.LoginUpdate{ExpectHash: u.PasswordHash, LastLogin: base}); err != nil {
		t.Fatalf("CreateSession(%s): %v", id, err)
	}
	return in
}

func TestMigrate(t *testing.T) {
	t.Run("Idempotent", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "latchkey.db")
		s := openMigrated(t, path)
		u, err := s.CreateUser(t.Context(), user("alice"))
		if err != nil {
			t.Fatalf("CreateUser: %v", err)
		}
		if err := s.Migrate(t.Context()); err != nil {
			t.Fatalf("second Migrate: %v", err)
		}
		other := openMigrated(t, path)
		if _, err := other.UserByID(t.Context(), u.ID); err != nil {
			t.Errorf("UserByID after migrating again: %v", err)
		}
	})
	t.Run("Concurrent", func(t *testing.T) {
		// Several processes starting at once on a new file.
		path := filepath.Join(t.TempDir(), "latchkey.db")
		const n = 4
		stores := make([]*sqlite.Store, n)
		for i := range stores {
			stores[i] = open(t, path)
		}
		var wg sync.WaitGroup
		errs := make([]error, n)
		for i, s := range stores {
			wg.Go(func() { errs[i] = s.Migrate(t.Context()) })
		}
		wg.Wait()
		for i, err := range errs {
			if err != nil {
				t.Errorf("Migrate %d: %v", i, err)
			}
		}
		if _, err := stores[0].CreateUser(t.Context(), user("alice")); err != nil {
			t.Errorf("CreateUser: %v", err)
		}
	})
	t.Run("NotMigrated", func(t *testing.T) {
		s := open(t, filepath.Join(t.TempDir(), "latchkey.db"))
		if _, _, err := s.SessionByDigest(t.Context(), latchkey.Digest{}); err == nil || errors.Is(err, latchkey.ErrNotFound) {
			t.Errorf("SessionByDigest before Migrate: error %v, want an internal error", err)
		}
		if err := s.Migrate(t.Context()); err != nil {
			t.Fatalf("Migrate: %v", err)
		}
		if _, _, err := s.SessionByDigest(t.Context(), latchkey.Digest{}); !errors.Is(err, latchkey.ErrNotFound) {
			t.Errorf("SessionByDigest after Migrate: error %v, want ErrNotFound", err)
		}
	})
}

func TestOpen(t *testing.T) {
	t.Run("OddPath", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "a dir?#%", "latch key?.db")
		if _, err := sqlite.Open(t.Context(), path); err == nil {
			t.Fatal("Open in a missing directory succeeded")
		}
		path = filepath.Join(t.TempDir(), "latch key?#%41.db")
		openMigrated(t, path)
		if matches, _ := filepath.Glob(filepath.Join(filepath.Dir(path), "*.db")); len(matches) != 1 || matches[0] != path {
			t.Errorf("database files %q, want [%q]", matches, path)
		}
	})
	t.Run("EmptyPath", func(t *testing.T) {
		if _, err := sqlite.Open(t.Context(), ""); err == nil {
			t.Error("Open(\"\") succeeded")
		}
	})
}

// TestSharedFile runs two Stores on one file, as two server processes do.
func TestSharedFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "latchkey.db")
	a := openMigrated(t, path)
	b := openMigrated(t, path)
	ctx := t.Context()

	u, err := a.CreateUser(ctx, user("alice"))
	if err != nil {
		t.Fatalf("CreateUser: %v", err)
	}
	if _, err := b.UserByUsername(ctx, "alice"); err != nil {
		t.Fatalf("b.UserByUsername: %v", err)
	}
	in := login(t, b, u, "s1")
	got, _, err := a.SessionByDigest(ctx, in.Digest)
	if err != nil {
		t.Fatalf("a.SessionByDigest: %v", err)
	}
	if got.ID != in.ID {
		t.Errorf("a.SessionByDigest: session %s, want %s", got.ID, in.ID)
	}

	// b follows the feed; a revokes.
	seen, err := b.LastChange(ctx)
	if err != nil {
		t.Fatalf("b.LastChange: %v", err)
	}
	d, err := a.DeleteSession(ctx, u.ID, in.ID, base)
	if err != nil {
		t.Fatalf("a.DeleteSession: %v", err)
	}
	cs, err := b.Changes(ctx, seen, 100)
	if err != nil {
		t.Fatalf("b.Changes: %v", err)
	}
	if len(cs) != 1 || !cs[0].Session || cs[0].Digest != d || cs[0].UserID != u.ID {
		t.Errorf("b.Changes = %+v, want the revocation of %s", cs, in.ID)
	}
	if _, _, err := b.SessionByDigest(ctx, in.Digest); !errors.Is(err, latchkey.ErrNotFound) {
		t.Errorf("b.SessionByDigest after a's revocation: %v, want ErrNotFound", err)
	}
}

// TestSharedFileConcurrentWrites has two Stores write at once: the loser of
// the write lock waits (busy_timeout) instead of failing with SQLITE_BUSY.
func TestSharedFileConcurrentWrites(t *testing.T) {
	path := filepath.Join(t.TempDir(), "latchkey.db")
	stores := []*sqlite.Store{openMigrated(t, path), openMigrated(t, path), openMigrated(t, path)}
	u, err := stores[0].CreateUser(t.Context(), user("alice"))
	if err != nil {
		t.Fatalf("CreateUser: %v", err)
	}
	const perStore = 20
	var wg sync.WaitGroup
	for i, s := range stores {
		for j := range perStore {
			wg.Go(func() {
				id := fmt.Sprintf("s%d-%d", i, j)
				in := session(u, id)
				if err := s.CreateSession(t.Context(), in, latchkey.LoginUpdate{ExpectHash: u.PasswordHash, LastLogin: base}); err != nil {
					t.Errorf("CreateSession(%s): %v", id, err)
				}
				if j%4 == 0 {
					if err := s.TouchSessions(t.Context(), map[latchkey.Digest]time.Time{in.Digest: base.Add(time.Hour)}, 0); err != nil {
						t.Errorf("TouchSessions: %v", err)
					}
				}
				if _, err := s.Changes(t.Context(), 0, 1000); err != nil {
					t.Errorf("Changes: %v", err)
				}
			})
		}
	}
	wg.Wait()
	ss, err := stores[1].ListSessions(t.Context(), u.ID, base)
	if err != nil {
		t.Fatalf("ListSessions: %v", err)
	}
	if want := len(stores) * perStore; len(ss) != want {
		t.Errorf("ListSessions returned %d sessions, want %d", len(ss), want)
	}
}

func TestUTC(t *testing.T) {
	s := openMigrated(t, filepath.Join(t.TempDir(), "latchkey.db"))
	in := user("alice")
	in.DateJoined = base.In(time.FixedZone("X", 3600))
	u, err := s.CreateUser(t.Context(), in)
	if err != nil {
		t.Fatalf("CreateUser: %v", err)
	}
	sess := login(t, s, u, "s1")
	got, gu, err := s.SessionByDigest(t.Context(), sess.Digest)
	if err != nil {
		t.Fatalf("SessionByDigest: %v", err)
	}
	for name, tm := range map[string]time.Time{
		"CreateUser DateJoined": u.DateJoined,
		"DateJoined":            gu.DateJoined,
		"LastLogin":             gu.LastLogin,
		"CreatedAt":             got.CreatedAt,
		"LastUsedAt":            got.LastUsedAt,
		"ExpiresAt":             got.ExpiresAt,
	} {
		if tm.Location() != time.UTC {
			t.Errorf("%s in %v, want UTC", name, tm.Location())
		}
	}
}

// TestNoSecretsInErrors checks that a conflict names no hash or digest.
func TestNoSecretsInErrors(t *testing.T) {
	s := openMigrated(t, filepath.Join(t.TempDir(), "latchkey.db"))
	u, err := s.CreateUser(t.Context(), user("alice"))
	if err != nil {
		t.Fatalf("CreateUser: %v", err)
	}
	in := login(t, s, u, "s1")
	dup := session(u, "s2")
	dup.Digest = in.Digest
	err = s.CreateSession(t.Context(), dup, latchkey.LoginUpdate{ExpectHash: u.PasswordHash, LastLogin: base})
	if !errors.Is(err, latchkey.ErrConflict) {
		t.Fatalf("CreateSession(duplicate digest): %v, want ErrConflict", err)
	}
	for _, secret := range []string{in.Digest.Hex(), fmt.Sprintf("%x", in.Digest[:4]), u.PasswordHash} {
		if msg := err.Error(); strings.Contains(strings.ToLower(msg), strings.ToLower(secret)) {
			t.Errorf("error %q contains a secret", msg)
		}
	}
}

func TestClosed(t *testing.T) {
	s, err := sqlite.Open(t.Context(), filepath.Join(t.TempDir(), "latchkey.db"))
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	if err := s.Migrate(t.Context()); err != nil {
		t.Fatalf("Migrate: %v", err)
	}
	u, err := s.CreateUser(t.Context(), user("alice"))
	if err != nil {
		t.Fatalf("CreateUser: %v", err)
	}
	in := login(t, s, u, "s1")
	if err := s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	ctx := context.Background()
	calls := map[string]func() error{
		"Ping":            func() error { return s.Ping(ctx) },
		"UserByID":        func() error { _, err := s.UserByID(ctx, u.ID); return err },
		"SessionByDigest": func() error { _, _, err := s.SessionByDigest(ctx, in.Digest); return err },
		"CreateUser":      func() error { _, err := s.CreateUser(ctx, user("bob")); return err },
		"DeleteSessions":  func() error { _, err := s.DeleteSessions(ctx, u.ID, nil); return err },
		"Changes":         func() error { _, err := s.Changes(ctx, 0, 10); return err },
		"Migrate":         func() error { return s.Migrate(ctx) },
	}
	for name, call := range calls {
		err := call()
		if err == nil {
			t.Errorf("%s on a closed store succeeded", name)
			continue
		}
		if k := latchkey.ErrorKind(err); k != latchkey.KindInternal {
			t.Errorf("%s on a closed store: kind %v, want internal", name, k)
		}
	}
}

// BenchmarkSessionByDigest measures the cache-miss path of a token check
// on a store of 10,000 users with one session each.
func BenchmarkSessionByDigest(b *testing.B) {
	s, ds := benchStore(b, 10_000)
	b.Run("Serial", func(b *testing.B) {
		b.ReportAllocs()
		ctx := context.Background()
		i := 0
		for b.Loop() {
			if _, _, err := s.SessionByDigest(ctx, ds[i%len(ds)]); err != nil {
				b.Fatal(err)
			}
			i++
		}
	})
	b.Run("Parallel", func(b *testing.B) {
		b.ReportAllocs()
		ctx := context.Background()
		b.RunParallel(func(pb *testing.PB) {
			i := 0
			for pb.Next() {
				if _, _, err := s.SessionByDigest(ctx, ds[i%len(ds)]); err != nil {
					b.Error(err)
					return
				}
				i += 7
			}
		})
	})
}

// BenchmarkCreateSession measures a login's write transaction.
func BenchmarkCreateSession(b *testing.B) {
	s := openMigrated(b, filepath.Join(b.TempDir(), "bench.db"))
	u, err := s.CreateUser(b.Context(), user("alice"))
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		in := session(u, fmt.Sprintf("bench-%d", i))
		if err := s.CreateSession(b.Context(), in, latchkey.LoginUpdate{ExpectHash: u.PasswordHash, LastLogin: base}); err != nil {
			b.Fatal(err)
		}
		i++
	}
}

// benchStore returns a store with n users, each with one session, and the
// digests of those sessions.
func benchStore(b testing.TB, n int) (*sqlite.Store, []latchkey.Digest) {
	b.Helper()
	s := openMigrated(b, filepath.Join(b.TempDir(), "bench.db"))
	ds := make([]latchkey.Digest, n)
	for i := range n {
		u, err := s.CreateUser(b.Context(), user(fmt.Sprintf("user%05d", i)))
		if err != nil {
			b.Fatal(err)
		}
		ds[i] = login(b, s, u, fmt.Sprintf("s%05d", i)).Digest
	}
	return s, ds
}

// TestZeroLastLogin: a login without a last login time leaves the stored
// one as it was.
func TestZeroLastLogin(t *testing.T) {
	s := openMigrated(t, filepath.Join(t.TempDir(), "latchkey.db"))
	u, err := s.CreateUser(t.Context(), user("alice"))
	if err != nil {
		t.Fatalf("CreateUser: %v", err)
	}
	login(t, s, u, "s1")
	if err := s.CreateSession(t.Context(), session(u, "s2"), latchkey.LoginUpdate{ExpectHash: u.PasswordHash}); err != nil {
		t.Fatalf("CreateSession: %v", err)
	}
	got, err := s.UserByID(t.Context(), u.ID)
	if err != nil {
		t.Fatalf("UserByID: %v", err)
	}
	if !got.LastLogin.Equal(base) {
		t.Errorf("LastLogin = %v, want %v", got.LastLogin, base)
	}
}

// BenchmarkTouchSessions measures the once-a-second batch of last-use
// writes: 10,000 sessions touched in one call, reported per session.
func BenchmarkTouchSessions(b *testing.B) {
	s, ds := benchStore(b, 10_000)
	ctx := context.Background()
	at := base
	b.ReportAllocs()
	for b.Loop() {
		at = at.Add(time.Hour)
		touches := make(map[latchkey.Digest]time.Time, len(ds))
		for _, d := range ds {
			touches[d] = at
		}
		if err := s.TouchSessions(ctx, touches, time.Minute); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(ds)), "ns/session")
}

// TestTouchSessionsChunks touches more sessions than one statement takes:
// every one of them moves, and only those.
func TestTouchSessionsChunks(t *testing.T) {
	s, ds := benchStore(t, 4096+100)
	ctx := t.Context()
	touches := make(map[latchkey.Digest]time.Time, len(ds)-1)
	for i, d := range ds[1:] {
		touches[d] = base.Add(time.Hour + time.Duration(i)*time.Microsecond)
	}
	if err := s.TouchSessions(ctx, touches, time.Minute); err != nil {
		t.Fatal(err)
	}
	for i, d := range ds {
		got, _, err := s.SessionByDigest(ctx, d)
		if err != nil {
			t.Fatal(err)
		}
		want, ok := touches[d]
		if !ok {
			want = base
		}
		if !got.LastUsedAt.Equal(want) {
			t.Fatalf("session %d: last used %v, want %v", i, got.LastUsedAt, want)
		}
	}
}
