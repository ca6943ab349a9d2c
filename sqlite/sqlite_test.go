package sqlite_test

import (
	"context"
	"io/fs"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/latchkeyhq/latchkey"
	"github.com/latchkeyhq/latchkey/sqlite"
	"github.com/latchkeyhq/latchkey/storetest"
)

// newFile returns the path of a new database file in tb's folder.
func newFile(tb testing.TB) string { return filepath.Join(tb.TempDir(), "latchkey.db") }

// newStore returns a migrated Store on a new file, closed when tb ends.
func newStore(tb testing.TB) latchkey.Store { return storetest.Open(tb, sqlite.Open, newFile(tb)) }

func TestStore(t *testing.T) { storetest.Run(t, newStore) }

func TestShared(t *testing.T) { storetest.RunShared(t, newFile, sqlite.Open) }

func TestOpen(t *testing.T) {
	t.Run("OddPath", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "a dir?#%", "latch key?.db")
		if _, err := sqlite.Open(t.Context(), path); err == nil {
			t.Fatal("Open in a missing directory succeeded")
		}
		path = filepath.Join(t.TempDir(), "latch key?#%41.db")
		storetest.Open(t, sqlite.Open, path)
		if matches, _ := filepath.Glob(filepath.Join(filepath.Dir(path), "*.db")); len(matches) != 1 || matches[0] != path {
			t.Errorf("database files %q, want [%q]", matches, path)
		}
	})
	// The files hold password hashes and token digests: a new database
	// and the -wal and -shm files SQLite makes beside it are the owner's
	// alone. SQLite gives those two the database file's mode, so an
	// existing file's mode, which Open leaves alone, is theirs too.
	t.Run("FileModes", func(t *testing.T) {
		for _, tc := range []struct {
			name     string
			existing fs.FileMode // 0: no file before Open
			want     fs.FileMode
		}{
			{"new", 0, 0o600},
			{"existing", 0o640, 0o640},
		} {
			t.Run(tc.name, func(t *testing.T) {
				path := newFile(t)
				if tc.existing != 0 {
					if err := os.WriteFile(path, nil, tc.existing); err != nil {
						t.Fatal(err)
					}
					if err := os.Chmod(path, tc.existing); err != nil { // whatever the umask
						t.Fatal(err)
					}
				}
				storetest.Open(t, sqlite.Open, path) // migrated: the -wal and -shm files exist
				for _, name := range []string{path, path + "-wal", path + "-shm"} {
					fi, err := os.Stat(name)
					if err != nil {
						t.Fatal(err)
					}
					if got := fi.Mode().Perm(); got != tc.want {
						t.Errorf("%s: mode %v, want %v", filepath.Base(name), got, tc.want)
					}
				}
			})
		}
	})
	t.Run("EmptyPath", func(t *testing.T) {
		if _, err := sqlite.Open(t.Context(), ""); err == nil {
			t.Error("Open(\"\") succeeded")
		}
	})
}

func BenchmarkSessionByDigest(b *testing.B) { storetest.BenchmarkSessionByDigest(b, newStore) }

func BenchmarkCreateSession(b *testing.B) { storetest.BenchmarkCreateSession(b, newStore) }

// base is when storetest.Fill's sessions were created and last used.
var base = time.Date(2030, time.March, 4, 5, 6, 7, 891011000, time.UTC)

// benchStore returns a store with n users, each with one session, and the
// digests of those sessions.
func benchStore(tb testing.TB, n int) (latchkey.Store, []latchkey.Digest) {
	s := newStore(tb)
	return s, storetest.Fill(tb, s, n)
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
	untouched, _, err := s.SessionByDigest(ctx, ds[0])
	if err != nil {
		t.Fatal(err)
	}
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
			want = untouched.LastUsedAt
		}
		if !got.LastUsedAt.Equal(want) {
			t.Fatalf("session %d: last used %v, want %v", i, got.LastUsedAt, want)
		}
	}
}

// TestTouchSessionsHints touches sessions that SessionByDigest found, by
// the rowid it found them at: a hint that went stale (the session
// deleted, its rowid taken by another) never moves another session's
// time, and the touch still reaches its session wherever it is now.
func TestTouchSessionsHints(t *testing.T) {
	ctx := t.Context()
	lastUsed := func(t *testing.T, s latchkey.Store, d latchkey.Digest) time.Time {
		t.Helper()
		got, _, err := s.SessionByDigest(ctx, d)
		if err != nil {
			t.Fatal(err)
		}
		return got.LastUsedAt
	}
	touch := func(t *testing.T, s latchkey.Store, touches map[latchkey.Digest]time.Time) {
		t.Helper()
		if err := s.TouchSessions(ctx, touches, time.Minute); err != nil {
			t.Fatal(err)
		}
	}
	t.Run("Found", func(t *testing.T) {
		s, ds := benchStore(t, 10)
		touches := map[latchkey.Digest]time.Time{}
		for i, d := range ds {
			lastUsed(t, s, d) // the hint
			if i%2 == 0 {
				touches[d] = base.Add(time.Hour + time.Duration(i)*time.Second)
			}
		}
		// One is not due: the rest are written all the same.
		touches[ds[1]] = base.Add(30 * time.Second)
		touch(t, s, touches)
		for i, d := range ds {
			want := base
			if i%2 == 0 {
				want = touches[d]
			}
			if got := lastUsed(t, s, d); !got.Equal(want) {
				t.Errorf("session %d: last used %v, want %v", i, got, want)
			}
		}
	})
	t.Run("RowidTaken", func(t *testing.T) {
		s := newStore(t)
		u, err := s.CreateUser(ctx, latchkey.User{Username: "alice", PasswordHash: "h", Active: true, DateJoined: base})
		if err != nil {
			t.Fatal(err)
		}
		create := func(id string) latchkey.Digest {
			t.Helper()
			sess := latchkey.Session{ID: id, UserID: u.ID, Digest: latchkey.Token("hints-" + id).Digest(),
				CreatedAt: base, LastUsedAt: base, ExpiresAt: base.Add(24 * time.Hour)}
			if err := s.CreateSession(ctx, sess, latchkey.LoginUpdate{ExpectHash: "h"}); err != nil {
				t.Fatal(err)
			}
			return sess.Digest
		}
		// The newest row's rowid is reused once it is deleted.
		gone := create("gone")
		lastUsed(t, s, gone)
		if _, err := s.DeleteSession(ctx, u.ID, "gone", base); err != nil {
			t.Fatal(err)
		}
		other := create("other")
		touch(t, s, map[latchkey.Digest]time.Time{gone: base.Add(time.Hour)})
		if got := lastUsed(t, s, other); !got.Equal(base) {
			t.Errorf("a touch of a deleted session moved the one in its rowid to %v", got)
		}
		// The same token stored again, at another rowid.
		again := create("gone")
		if again != gone {
			t.Fatal("digests differ")
		}
		lastUsed(t, s, other) // a hint for other, and none for the new gone
		touch(t, s, map[latchkey.Digest]time.Time{gone: base.Add(2 * time.Hour)})
		if got := lastUsed(t, s, gone); !got.Equal(base.Add(2 * time.Hour)) {
			t.Errorf("the session stored again: last used %v, want %v", got, base.Add(2*time.Hour))
		}
		if got := lastUsed(t, s, other); !got.Equal(base) {
			t.Errorf("other: last used %v, want %v", got, base)
		}
	})
}
