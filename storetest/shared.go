package storetest

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/latchkeyhq/latchkey"
)

// Migrator is a Store that brings its own schema up to date, as every
// store does: Migrate is no method of latchkey.Store, which serves a
// migrated database.
type Migrator interface {
	latchkey.Store
	Migrate(ctx context.Context) error
}

// Open opens a store with open (sqlite.Open, postgres.Open) on db,
// migrates it, and closes it when tb ends.
func Open[S Migrator](tb testing.TB, open func(ctx context.Context, db string) (S, error), db string) S {
	tb.Helper()
	s := openOnly(tb, open, db)
	if err := s.Migrate(tb.Context()); err != nil {
		tb.Fatalf("Migrate: %v", err)
	}
	return s
}

// openOnly opens a store on db without migrating it, and closes it when
// tb ends.
func openOnly[S Migrator](tb testing.TB, open func(ctx context.Context, db string) (S, error), db string) S {
	tb.Helper()
	s, err := open(tb.Context(), db)
	if err != nil {
		tb.Fatalf("Open: %v", err)
	}
	tb.Cleanup(func() { s.Close() })
	return s
}

// RunShared runs the cases of several stores on one database, as several
// server processes or nodes run: they migrate it at once, see each
// other's writes and follow each other's change feed. newDB returns a
// new, empty database (a file's path, a URL) that open opens.
func RunShared[S Migrator](t *testing.T, newDB func(tb testing.TB) string, open func(ctx context.Context, db string) (S, error)) {
	t.Run("Migrate", func(t *testing.T) {
		t.Run("Idempotent", func(t *testing.T) {
			db := newDB(t)
			s := Open(t, open, db)
			u := mustUser(t, s, "alice")
			if err := s.Migrate(t.Context()); err != nil {
				t.Fatalf("second Migrate: %v", err)
			}
			other := Open(t, open, db)
			if _, err := other.UserByID(t.Context(), u.ID); err != nil {
				t.Errorf("UserByID after migrating again: %v", err)
			}
		})
		t.Run("Concurrent", func(t *testing.T) {
			// Several processes starting at once on a new database.
			db := newDB(t)
			stores := make([]S, 4)
			for i := range stores {
				stores[i] = openOnly(t, open, db)
			}
			var wg sync.WaitGroup
			errs := make([]error, len(stores))
			for i, s := range stores {
				wg.Go(func() { errs[i] = s.Migrate(t.Context()) })
			}
			wg.Wait()
			for i, err := range errs {
				if err != nil {
					t.Errorf("Migrate %d: %v", i, err)
				}
			}
			mustUser(t, stores[1], "alice")
		})
		t.Run("NotMigrated", func(t *testing.T) {
			s := openOnly(t, open, newDB(t))
			if _, _, err := s.SessionByDigest(t.Context(), latchkey.Digest{}); err == nil || errors.Is(err, latchkey.ErrNotFound) {
				t.Errorf("SessionByDigest before Migrate: error %v, want an internal error", err)
			}
			if err := s.Migrate(t.Context()); err != nil {
				t.Fatalf("Migrate: %v", err)
			}
			wantErr(t, "SessionByDigest after Migrate", third(s.SessionByDigest(t.Context(), latchkey.Digest{})), latchkey.ErrNotFound)
		})
	})
	t.Run("Feed", func(t *testing.T) {
		db := newDB(t)
		a, b := Open(t, open, db), Open(t, open, db)
		alice := mustUser(t, a, "alice")
		if _, err := b.UserByUsername(t.Context(), "alice"); err != nil {
			t.Fatalf("b.UserByUsername: %v", err)
		}
		s1 := mustSession(t, b, alice, "s1", base, time.Hour)
		s2 := mustSession(t, a, alice, "s2", base, time.Hour)
		wantSession(t, a, s1)
		for _, step := range []struct {
			name           string
			writer, reader S
			sess           latchkey.Session
		}{
			{"AToB", a, b, s1},
			{"BToA", b, a, s2},
		} {
			t.Run(step.name, func(t *testing.T) {
				seen := mustLastChange(t, step.reader)
				d, err := step.writer.DeleteSession(t.Context(), alice.ID, step.sess.ID, base)
				if err != nil {
					t.Fatalf("DeleteSession: %v", err)
				}
				want := []latchkey.Change{{UserID: alice.ID, Session: true, Digest: d}}
				checkChanges(t, "the other's revocation", changesSince(t, step.reader, seen), want)
				wantNoSession(t, step.reader, step.sess.Digest)
			})
		}
	})
	t.Run("ConcurrentWrites", func(t *testing.T) {
		// The stores write at once: each waits for the others' locks
		// instead of failing.
		db := newDB(t)
		stores := []S{Open(t, open, db), Open(t, open, db), Open(t, open, db)}
		u := mustUser(t, stores[0], "alice")
		const perStore = 20
		var wg sync.WaitGroup
		for i, s := range stores {
			for j := range perStore {
				wg.Go(func() {
					id := fmt.Sprintf("s%d-%d", i, j)
					in := sessionFor(u, id, base, time.Hour)
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
	})
}

func third[T, U any](_ T, _ U, err error) error { return err }
