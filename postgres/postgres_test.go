package postgres_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/latchkeyhq/latchkey"
	"github.com/latchkeyhq/latchkey/postgres"
	"github.com/latchkeyhq/latchkey/postgres/pgtest"
	"github.com/latchkeyhq/latchkey/storetest"
)

// open opens a Store on u and closes it when the test ends.
func open(tb testing.TB, u string) *postgres.Store {
	tb.Helper()
	s, err := postgres.Open(tb.Context(), u)
	if err != nil {
		tb.Fatalf("Open: %v", err)
	}
	tb.Cleanup(func() { s.Close() })
	return s
}

// openMigrated opens and migrates a Store on u.
func openMigrated(tb testing.TB, u string) *postgres.Store {
	tb.Helper()
	s := open(tb, u)
	if err := s.Migrate(tb.Context()); err != nil {
		tb.Fatalf("Migrate: %v", err)
	}
	return s
}

// newStore returns a migrated Store on a new schema.
func newStore(tb testing.TB) *postgres.Store {
	tb.Helper()
	u, _ := pgtest.NewSchema(tb)
	return openMigrated(tb, u)
}

func TestStore(t *testing.T) {
	pgtest.ServerURL(t)
	storetest.Run(t, func(t *testing.T) latchkey.Store {
		u, _ := pgtest.NewSchema(t)
		s, err := postgres.Open(t.Context(), u)
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
		Digest:     latchkey.Token("postgres-test-" + id).Digest(),
		CreatedAt:  base,
		LastUsedAt: base,
		ExpiresAt:  base.Add(time.Hour),
	}
}

func mustUser(tb testing.TB, s latchkey.Store, name string) latchkey.User {
	tb.Helper()
	u, err := s.CreateUser(tb.Context(), user(name))
	if err != nil {
		tb.Fatalf("CreateUser(%s): %v", name, err)
	}
	return u
}

func login(tb testing.TB, s latchkey.Store, u latchkey.User, id string) latchkey.Session {
	tb.Helper()
	in := session(u, id)
	if err := s.CreateSession(tb.Context(), in, latchkey.LoginUpdate{ExpectHash: u.PasswordHash, LastLogin: base}); err != nil {
		tb.Fatalf("CreateSession(%s): %v", id, err)
	}
	return in
}

func migrationCount(t *testing.T, s *postgres.Store) int {
	t.Helper()
	var n int
	if err := s.Pool().QueryRow(t.Context(), `SELECT count(*) FROM schema_migrations`).Scan(&n); err != nil {
		t.Fatalf("count schema_migrations: %v", err)
	}
	return n
}

func TestMigrate(t *testing.T) {
	const migrations = 1 // files in migrations/
	t.Run("Idempotent", func(t *testing.T) {
		u, _ := pgtest.NewSchema(t)
		s := openMigrated(t, u)
		alice := mustUser(t, s, "alice")
		if err := s.Migrate(t.Context()); err != nil {
			t.Fatalf("second Migrate: %v", err)
		}
		other := openMigrated(t, u)
		if _, err := other.UserByID(t.Context(), alice.ID); err != nil {
			t.Errorf("UserByID after migrating again: %v", err)
		}
		if n := migrationCount(t, s); n != migrations {
			t.Errorf("schema_migrations has %d rows, want %d", n, migrations)
		}
	})
	t.Run("Concurrent", func(t *testing.T) {
		// Several nodes starting at once on an empty database.
		u, _ := pgtest.NewSchema(t)
		const n = 4
		stores := make([]*postgres.Store, n)
		for i := range stores {
			stores[i] = open(t, u)
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
		if n := migrationCount(t, stores[0]); n != migrations {
			t.Errorf("schema_migrations has %d rows, want %d", n, migrations)
		}
		if _, err := stores[1].CreateUser(t.Context(), user("alice")); err != nil {
			t.Errorf("CreateUser: %v", err)
		}
	})
	t.Run("NotMigrated", func(t *testing.T) {
		u, _ := pgtest.NewSchema(t)
		s := open(t, u)
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
	u, _ := pgtest.NewSchema(t)
	for _, tt := range []struct {
		name string
		url  string
		opt  postgres.Options
		want int32
	}{
		{"Default", u, postgres.Options{}, postgres.DefaultMaxConns},
		{"URL", pgtest.WithParam(t, u, "pool_max_conns", "3"), postgres.Options{}, 3},
		{"Options", u, postgres.Options{MaxConns: 5}, 5},
		{"OptionsOverURL", pgtest.WithParam(t, u, "pool_max_conns", "3"), postgres.Options{MaxConns: 7}, 7},
	} {
		t.Run(tt.name, func(t *testing.T) {
			s, err := postgres.OpenOptions(t.Context(), tt.url, tt.opt)
			if err != nil {
				t.Fatalf("OpenOptions: %v", err)
			}
			defer s.Close()
			if got := s.Pool().Config().MaxConns; got != tt.want {
				t.Errorf("MaxConns = %d, want %d", got, tt.want)
			}
		})
	}
	t.Run("Errors", func(t *testing.T) {
		for _, bad := range []string{
			"",
			"postgres://latchkey:s3cr3t-pw@127.0.0.1:notaport/db",
			"postgres://latchkey:s3cr3t-pw@127.0.0.1:1/db?sslmode=disable&connect_timeout=5",
		} {
			s, err := postgres.Open(t.Context(), bad)
			if err == nil {
				s.Close()
				t.Errorf("Open(%q) succeeded", bad)
				continue
			}
			if strings.Contains(err.Error(), "s3cr3t-pw") {
				t.Errorf("Open error %q contains the password", err)
			}
		}
		if _, err := postgres.OpenOptions(t.Context(), u, postgres.Options{MaxConns: -1}); err == nil {
			t.Error("OpenOptions(MaxConns -1) succeeded")
		}
	})
}

// TestSharedFeed runs two Stores on one database, as two nodes do: each
// sees the other's writes and follows the other's change feed.
func TestSharedFeed(t *testing.T) {
	u, _ := pgtest.NewSchema(t)
	a := openMigrated(t, u)
	b := openMigrated(t, u)
	ctx := t.Context()

	alice, err := a.CreateUser(ctx, user("alice"))
	if err != nil {
		t.Fatalf("CreateUser: %v", err)
	}
	if _, err := b.UserByUsername(ctx, "alice"); err != nil {
		t.Fatalf("b.UserByUsername: %v", err)
	}
	s1 := login(t, b, alice, "s1")
	s2 := login(t, a, alice, "s2")
	got, _, err := a.SessionByDigest(ctx, s1.Digest)
	if err != nil {
		t.Fatalf("a.SessionByDigest: %v", err)
	}
	if got.ID != s1.ID {
		t.Errorf("a.SessionByDigest: session %s, want %s", got.ID, s1.ID)
	}

	for _, step := range []struct {
		name           string
		writer, reader *postgres.Store
		sess           latchkey.Session
	}{
		{"AToB", a, b, s1},
		{"BToA", b, a, s2},
	} {
		t.Run(step.name, func(t *testing.T) {
			seen, err := step.reader.LastChange(ctx)
			if err != nil {
				t.Fatalf("LastChange: %v", err)
			}
			d, err := step.writer.DeleteSession(ctx, alice.ID, step.sess.ID, base)
			if err != nil {
				t.Fatalf("DeleteSession: %v", err)
			}
			cs, err := step.reader.Changes(ctx, seen, 100)
			if err != nil {
				t.Fatalf("Changes: %v", err)
			}
			if len(cs) != 1 || !cs[0].Session || cs[0].Digest != d || cs[0].UserID != alice.ID {
				t.Errorf("Changes = %+v, want the revocation of %s", cs, step.sess.ID)
			}
			if _, _, err := step.reader.SessionByDigest(ctx, step.sess.Digest); !errors.Is(err, latchkey.ErrNotFound) {
				t.Errorf("SessionByDigest after the other's revocation: %v, want ErrNotFound", err)
			}
		})
	}
}

// TestConcurrentCreateUser mixes imports (explicit ids) with assigned ids:
// moving the id sequence past an import never hands out an id that is
// taken. An import may find its id taken (ErrConflict); an assigned id
// never is.
func TestConcurrentCreateUser(t *testing.T) {
	s := newStore(t)
	const n = 20
	var (
		wg    sync.WaitGroup
		start = make(chan struct{})
		ids   = make([]int64, 2*n)
	)
	for i := range n {
		wg.Go(func() {
			<-start
			in := user(fmt.Sprintf("imported%02d", i))
			in.ID = int64(2*n - 2*i) // descending, among what the sequence hands out
			u, err := s.CreateUser(t.Context(), in)
			switch {
			case errors.Is(err, latchkey.ErrConflict):
			case err != nil:
				t.Errorf("CreateUser(ID %d): %v", in.ID, err)
			default:
				ids[i] = u.ID
			}
		})
		wg.Go(func() {
			<-start
			u, err := s.CreateUser(t.Context(), user(fmt.Sprintf("new%02d", i)))
			if err != nil {
				t.Errorf("CreateUser with an assigned ID: %v", err)
			}
			ids[n+i] = u.ID
		})
	}
	close(start)
	wg.Wait()
	seen := map[int64]bool{}
	var top int64
	for _, id := range ids {
		if id != 0 && seen[id] {
			t.Errorf("id %d returned twice", id)
		}
		seen[id] = true
		top = max(top, id)
	}
	if u := mustUser(t, s, "after"); u.ID <= top {
		t.Errorf("assigned ID %d after the imports, want one above %d", u.ID, top)
	}
}

// TestTouchSkipsLockedRows: a touch never waits for a row another
// transaction holds (so it can take part in no deadlock); it leaves that
// row as it was and touches the rest.
func TestTouchSkipsLockedRows(t *testing.T) {
	s := newStore(t)
	u := mustUser(t, s, "alice")
	held := login(t, s, u, "held")
	free := login(t, s, u, "free")

	tx, err := s.Pool().Begin(t.Context())
	if err != nil {
		t.Fatalf("Begin: %v", err)
	}
	defer tx.Rollback(context.Background())
	if _, err := tx.Exec(t.Context(), `SELECT FROM sessions WHERE id = $1 FOR UPDATE`, held.ID); err != nil {
		t.Fatalf("lock row: %v", err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	later := base.Add(time.Hour)
	touches := map[latchkey.Digest]time.Time{held.Digest: later, free.Digest: later}
	if err := s.TouchSessions(ctx, touches, 0); err != nil {
		t.Fatalf("TouchSessions beside a locked row: %v", err)
	}
	for _, c := range []struct {
		sess latchkey.Session
		want time.Time
	}{{held, base}, {free, later}} {
		got, _, err := s.SessionByDigest(t.Context(), c.sess.Digest)
		if err != nil {
			t.Fatalf("SessionByDigest: %v", err)
		}
		if !got.LastUsedAt.Equal(c.want) {
			t.Errorf("%s: LastUsedAt = %v, want %v", c.sess.ID, got.LastUsedAt, c.want)
		}
	}
	if err := tx.Rollback(t.Context()); err != nil {
		t.Fatalf("Rollback: %v", err)
	}
	if err := s.TouchSessions(t.Context(), touches, 0); err != nil {
		t.Fatalf("TouchSessions: %v", err)
	}
	if got, _, _ := s.SessionByDigest(t.Context(), held.Digest); !got.LastUsedAt.Equal(later) {
		t.Errorf("held: LastUsedAt = %v after the lock ended, want %v", got.LastUsedAt, later)
	}
}

func TestUTC(t *testing.T) {
	s := newStore(t)
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
	byID, err := s.UserByID(t.Context(), u.ID)
	if err != nil {
		t.Fatalf("UserByID: %v", err)
	}
	listed, err := s.ListSessions(t.Context(), u.ID, base)
	if err != nil || len(listed) != 1 {
		t.Fatalf("ListSessions = %v, %v; want one session", listed, err)
	}
	for name, tm := range map[string]time.Time{
		"CreateUser DateJoined":   u.DateJoined,
		"DateJoined":              gu.DateJoined,
		"LastLogin":               gu.LastLogin,
		"UserByID LastLogin":      byID.LastLogin,
		"UserByID DateJoined":     byID.DateJoined,
		"CreatedAt":               got.CreatedAt,
		"LastUsedAt":              got.LastUsedAt,
		"ExpiresAt":               got.ExpiresAt,
		"ListSessions CreatedAt":  listed[0].CreatedAt,
		"ListSessions LastUsedAt": listed[0].LastUsedAt,
		"ListSessions ExpiresAt":  listed[0].ExpiresAt,
	} {
		if tm.Location() != time.UTC {
			t.Errorf("%s in %v, want UTC", name, tm.Location())
		}
	}
}

// TestMicroseconds: times keep microseconds and lose what is finer, the
// same way in what CreateUser returns and what reads return.
func TestMicroseconds(t *testing.T) {
	s := newStore(t)
	in := user("alice")
	in.DateJoined = base.Add(999 * time.Nanosecond)
	u, err := s.CreateUser(t.Context(), in)
	if err != nil {
		t.Fatalf("CreateUser: %v", err)
	}
	got, err := s.UserByID(t.Context(), u.ID)
	if err != nil {
		t.Fatalf("UserByID: %v", err)
	}
	if want := base; !u.DateJoined.Equal(want) || !got.DateJoined.Equal(want) {
		t.Errorf("DateJoined: CreateUser returned %v, UserByID %v; want %v", u.DateJoined, got.DateJoined, want)
	}
}

// TestNoSecretsInErrors checks that a conflict names no hash or digest.
func TestNoSecretsInErrors(t *testing.T) {
	s := newStore(t)
	u := mustUser(t, s, "alice")
	in := login(t, s, u, "s1")
	dup := session(u, "s2")
	dup.Digest = in.Digest
	err := s.CreateSession(t.Context(), dup, latchkey.LoginUpdate{ExpectHash: u.PasswordHash, LastLogin: base})
	if !errors.Is(err, latchkey.ErrConflict) {
		t.Fatalf("CreateSession(duplicate digest): %v, want ErrConflict", err)
	}
	for _, secret := range []string{in.Digest.Hex(), fmt.Sprintf("%x", in.Digest[:4]), u.PasswordHash} {
		if msg := err.Error(); strings.Contains(strings.ToLower(msg), strings.ToLower(secret)) {
			t.Errorf("error %q contains a secret", msg)
		}
	}
	if _, err := s.CreateUser(t.Context(), user("alice")); !errors.Is(err, latchkey.ErrConflict) {
		t.Errorf("CreateUser(duplicate username): %v, want ErrConflict", err)
	}
}

func TestClosed(t *testing.T) {
	u, _ := pgtest.NewSchema(t)
	s := openMigrated(t, u)
	alice := mustUser(t, s, "alice")
	in := login(t, s, alice, "s1")
	if err := s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	ctx := context.Background()
	calls := map[string]func() error{
		"Ping":            func() error { return s.Ping(ctx) },
		"UserByID":        func() error { _, err := s.UserByID(ctx, alice.ID); return err },
		"SessionByDigest": func() error { _, _, err := s.SessionByDigest(ctx, in.Digest); return err },
		"CreateUser":      func() error { _, err := s.CreateUser(ctx, user("bob")); return err },
		"DeleteSessions":  func() error { _, err := s.DeleteSessions(ctx, alice.ID, nil); return err },
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

// BenchmarkCreateSession measures a login's write: one round trip, under
// the change feed lock. Parallel shows the ceiling that lock sets: change
// writers commit one at a time, each waiting for its own WAL flush.
func BenchmarkCreateSession(b *testing.B) {
	s := newStore(b)
	u := mustUser(b, s, "alice")
	var n atomic.Int64
	login := func(ctx context.Context) error {
		in := session(u, fmt.Sprintf("bench-%d", n.Add(1)))
		return s.CreateSession(ctx, in, latchkey.LoginUpdate{ExpectHash: u.PasswordHash, LastLogin: base})
	}
	b.Run("Serial", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if err := login(b.Context()); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("Parallel", func(b *testing.B) {
		b.ReportAllocs()
		b.SetParallelism(4) // 8 writers on 2 cores, within the pool's 10
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				if err := login(context.Background()); err != nil {
					b.Error(err)
					return
				}
			}
		})
	})
}

// BenchmarkChangesIdle measures what every node pays every 200ms: a read
// of the change feed with nothing new.
func BenchmarkChangesIdle(b *testing.B) {
	s := newStore(b)
	u := mustUser(b, s, "alice")
	login(b, s, u, "s1")
	last, err := s.LastChange(b.Context())
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if cs, err := s.Changes(b.Context(), last, 1000); err != nil || len(cs) != 0 {
			b.Fatalf("Changes = %v, %v", cs, err)
		}
	}
}

// benchStore returns a store with n users, each with one session, and the
// digests of those sessions. The rows are made by the server in bulk; the
// digests are those of the tokens "bench-<i>".
func benchStore(b *testing.B, n int) (*postgres.Store, []latchkey.Digest) {
	b.Helper()
	s := newStore(b)
	_, err := s.Pool().Exec(b.Context(), `
INSERT INTO users (id, username, password_hash, date_joined)
SELECT i, 'user' || i, 'hash' || i, now() FROM generate_series(1, $1::int) AS i`, n)
	if err != nil {
		b.Fatal(err)
	}
	_, err = s.Pool().Exec(b.Context(), `
INSERT INTO sessions (id, digest, user_id, created_at, last_used_at, expires_at)
SELECT 's' || i, sha256(convert_to('bench-' || i, 'UTF8')), i, now(), now(), now() + interval '1 day'
FROM generate_series(1, $1::int) AS i`, n)
	if err != nil {
		b.Fatal(err)
	}
	if _, err := s.Pool().Exec(b.Context(), `ANALYZE users; ANALYZE sessions`); err != nil {
		b.Fatal(err)
	}
	ds := make([]latchkey.Digest, n)
	for i := range ds {
		ds[i] = latchkey.Token(fmt.Sprintf("bench-%d", i+1)).Digest()
	}
	return s, ds
}
