package sqlite

import (
	"context"
	"database/sql"
	"path/filepath"
	"testing"
	"time"

	"github.com/latchkeyhq/latchkey"
)

// TestPragmas checks the settings every connection of both pools runs with.
func TestPragmas(t *testing.T) {
	s, err := Open(t.Context(), filepath.Join(t.TempDir(), "latchkey.db"))
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	defer s.Close()
	for _, p := range []struct {
		pool *sql.DB
		name string
		want map[string]string
	}{
		{s.w, "writer", map[string]string{"journal_mode": "wal", "busy_timeout": "5000", "foreign_keys": "1", "synchronous": "1", "query_only": "0"}},
		{s.r, "reader", map[string]string{"journal_mode": "wal", "busy_timeout": "5000", "foreign_keys": "1", "query_only": "1"}},
	} {
		for pragma, want := range p.want {
			var got string
			if err := p.pool.QueryRowContext(t.Context(), "PRAGMA "+pragma).Scan(&got); err != nil {
				t.Fatalf("%s: PRAGMA %s: %v", p.name, pragma, err)
			}
			if got != want {
				t.Errorf("%s: PRAGMA %s = %s, want %s", p.name, pragma, got, want)
			}
		}
	}
	if got := s.w.Stats().MaxOpenConnections; got != 1 {
		t.Errorf("writer pool MaxOpenConnections = %d, want 1", got)
	}
	// A write through a reader fails: writes must take BEGIN IMMEDIATE.
	if _, err := s.r.ExecContext(t.Context(), "CREATE TABLE x (y)"); err == nil {
		t.Error("a reader connection wrote")
	}
}

// TestBeginImmediate checks that a write transaction holds the write lock
// from its start, so that another process's writer waits instead of both
// reading and then deadlocking on the upgrade.
func TestBeginImmediate(t *testing.T) {
	path := filepath.Join(t.TempDir(), "latchkey.db")
	a, err := Open(t.Context(), path)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	defer a.Close()
	if err := a.Migrate(t.Context()); err != nil {
		t.Fatalf("Migrate: %v", err)
	}
	b, err := Open(t.Context(), path)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	defer b.Close()

	tx, err := a.w.BeginTx(t.Context(), nil)
	if err != nil {
		t.Fatalf("BeginTx: %v", err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 200*time.Millisecond)
	defer cancel()
	_, err = b.CreateUser(ctx, latchkey.User{Username: "alice"})
	if err == nil {
		t.Error("a write went through while another transaction had just begun")
	}
	if err := tx.Rollback(); err != nil {
		t.Fatalf("Rollback: %v", err)
	}
	if _, err := b.CreateUser(t.Context(), latchkey.User{Username: "alice"}); err != nil {
		t.Errorf("CreateUser once the lock is free: %v", err)
	}
}
