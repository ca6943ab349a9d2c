package postgres_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/latchkeyhq/latchkey"
	"github.com/latchkeyhq/latchkey/postgres"
	"github.com/latchkeyhq/latchkey/postgres/pgtest"
	"github.com/latchkeyhq/latchkey/storetest"
)

// newSchema returns the URL of a new, empty schema, dropped when tb ends.
func newSchema(tb testing.TB) string {
	u, _ := pgtest.NewSchema(tb)
	return u
}

// openMigrated opens and migrates a Store on u, closed when tb ends.
func openMigrated(tb testing.TB, u string) *postgres.Store {
	return storetest.Open(tb, postgres.Open, u)
}

// newStore returns a migrated Store on a new schema.
func newStore(tb testing.TB) *postgres.Store { return openMigrated(tb, newSchema(tb)) }

func TestStore(t *testing.T) {
	pgtest.ServerURL(t)
	storetest.Run(t, func(tb testing.TB) latchkey.Store { return newStore(tb) })
}

func TestShared(t *testing.T) {
	pgtest.ServerURL(t)
	storetest.RunShared(t, newSchema, postgres.Open)
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

// TestMigrateOnce: however many nodes migrate one database, at once and
// again, each migration is applied and recorded once.
func TestMigrateOnce(t *testing.T) {
	files, err := os.ReadDir("migrations")
	if err != nil {
		t.Fatal(err)
	}
	migrations := len(files)
	u := newSchema(t)
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			s, err := postgres.Open(t.Context(), u)
			if err == nil {
				err = s.Migrate(t.Context())
				s.Close()
			}
			if err != nil {
				t.Errorf("Open and Migrate: %v", err)
			}
		})
	}
	wg.Wait()
	if n := migrationCount(t, openMigrated(t, u)); n != migrations {
		t.Errorf("schema_migrations has %d rows, want %d", n, migrations)
	}
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

func BenchmarkSessionByDigest(b *testing.B) {
	storetest.BenchmarkSessionByDigest(b, func(tb testing.TB) latchkey.Store { return newStore(tb) })
}

func BenchmarkCreateSession(b *testing.B) {
	storetest.BenchmarkCreateSession(b, func(tb testing.TB) latchkey.Store { return newStore(tb) })
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
