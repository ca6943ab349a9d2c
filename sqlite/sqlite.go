// Package sqlite keeps latchkey's users, sessions and change feed in a
// SQLite database file, through the pure Go driver modernc.org/sqlite.
//
// Several processes (servers and the command line tool) may share one file
// at once. The file runs in WAL mode so that readers never wait for the
// writer; each Store writes through a single connection whose transactions
// take the write lock when they begin (BEGIN IMMEDIATE), so that two
// processes never deadlock upgrading a read lock, and waits up to
// 5 seconds (busy_timeout) for another process's transaction to end. Every
// process learns of the others' revocations from the change feed
// (Store.Changes).
package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/latchkeyhq/latchkey"
	msqlite "modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"
)

var (
	_ latchkey.Store    = (*Store)(nil)
	_ latchkey.Importer = (*Store)(nil)
)

// Connection settings. busy_timeout comes first so that switching the file
// to WAL waits for other processes instead of failing; journal_mode is a
// property of the file, the rest are per connection. Readers are
// query_only: a write through the reader pool would bypass BEGIN IMMEDIATE.
const (
	readers      = 4
	writerParams = "_pragma=busy_timeout(5000)&_pragma=journal_mode(WAL)&_pragma=synchronous(NORMAL)&_pragma=foreign_keys(1)&_txlock=immediate"
	readerParams = "_pragma=busy_timeout(5000)&_pragma=foreign_keys(1)&_pragma=query_only(1)"
)

// Store is a latchkey.Store on one SQLite file. It is safe for concurrent
// use, and several Stores (in one process or several) may share a file.
type Store struct {
	w *sql.DB // one connection: SQLite has one writer at a time
	r *sql.DB // a few connections; WAL lets them read beside the writer

	// prepared holds the statements of the token check's miss and of
	// the login (see prepare), by stmtKey; writesPrepared is set once it
	// has writerStatements.
	prepared       sync.Map
	writesPrepared atomic.Bool

	hints hints // where SessionByDigest found sessions, for TouchSessions

	now func() time.Time // stamps change entries
}

// Open opens the database file at path, creating it if it is missing, and
// switches it to WAL mode. It does not create or update the schema: call
// Migrate.
//
// The file holds password hashes, token digests, emails and addresses, so
// Open creates it readable and writable by its owner only (0600). SQLite
// creates the -wal and -shm files beside it with the database file's mode,
// so they are 0600 too. An existing file keeps the mode it has.
func Open(ctx context.Context, path string) (*Store, error) {
	if path == "" {
		return nil, errors.New("sqlite: open: empty path")
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, fmt.Errorf("sqlite: open: %w", err)
	}
	// SQLite creates a missing file 0644 (less the umask): create it
	// first, empty, which SQLite reads as an empty database.
	switch f, err := os.OpenFile(abs, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600); {
	case err == nil:
		f.Close()
	case !errors.Is(err, fs.ErrExist):
		return nil, fmt.Errorf("sqlite: open %s: %w", path, err)
	}
	// A file: URI, so that SQLite itself parses the name; the characters
	// that would end the path are escaped.
	name := "file:" + strings.NewReplacer("%", "%25", "?", "%3f", "#", "%23").Replace(abs)

	w, err := sql.Open("sqlite", name+"?"+writerParams)
	if err != nil {
		return nil, fmt.Errorf("sqlite: open: %w", err)
	}
	w.SetMaxOpenConns(1)
	w.SetMaxIdleConns(1)
	// The writer connects first: it creates the file and turns on WAL
	// before any reader sees it.
	if err := w.PingContext(ctx); err != nil {
		w.Close()
		return nil, fmt.Errorf("sqlite: open %s: %w", path, err)
	}
	r, err := sql.Open("sqlite", name+"?"+readerParams)
	if err != nil {
		w.Close()
		return nil, fmt.Errorf("sqlite: open: %w", err)
	}
	r.SetMaxOpenConns(readers)
	r.SetMaxIdleConns(readers)
	if err := r.PingContext(ctx); err != nil {
		r.Close()
		w.Close()
		return nil, fmt.Errorf("sqlite: open %s: %w", path, err)
	}
	return &Store{w: w, r: r, now: time.Now}, nil
}

// Ping reports whether the database answers a read.
func (s *Store) Ping(ctx context.Context) error {
	var one int
	if err := s.r.QueryRowContext(ctx, `SELECT 1`).Scan(&one); err != nil {
		return fail("ping", err)
	}
	return nil
}

// Close closes the database. Calls after Close fail.
func (s *Store) Close() error {
	var errs []error
	s.prepared.Range(func(k, st any) bool {
		s.prepared.Delete(k)
		errs = append(errs, st.(*sql.Stmt).Close())
		return true
	})
	errs = append(errs, s.r.Close(), s.w.Close())
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("sqlite: close: %w", err)
	}
	return nil
}

// write runs fn in one write transaction. The transaction holds the write
// lock from its start, so fn's reads see what it is about to change.
func (s *Store) write(ctx context.Context, op string, fn func(tx *sql.Tx) error) error {
	s.prepareWrites(ctx)
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return fail(op, err)
	}
	defer tx.Rollback()
	if err := fn(tx); err != nil {
		return fail(op, err)
	}
	if err := tx.Commit(); err != nil {
		return fail(op, err)
	}
	return nil
}

// stmtKey names a prepared statement: its text, and whether it is the
// writer's.
type stmtKey struct {
	write bool
	query string
}

// prepare returns query prepared on the writer (write) or the readers,
// once: SQLite parses a statement in about the time it takes to run it,
// a quarter of a login's own CPU when each of its statements was parsed
// anew. A statement is prepared on first use, because Open does not
// require the schema to exist yet; SQLite prepares it again by itself
// when a migration changes the schema.
func (s *Store) prepare(ctx context.Context, write bool, query string) (*sql.Stmt, error) {
	k := stmtKey{write, query}
	if st, ok := s.prepared.Load(k); ok {
		return st.(*sql.Stmt), nil
	}
	db := s.r
	if write {
		db = s.w
	}
	st, err := db.PrepareContext(ctx, query)
	if err != nil {
		return nil, err
	}
	if prev, loaded := s.prepared.LoadOrStore(k, st); loaded {
		st.Close()
		return prev.(*sql.Stmt), nil
	}
	return st, nil
}

// txExec runs query in tx: prepared, when prepareWrites has prepared it.
func (s *Store) txExec(ctx context.Context, tx *sql.Tx, query string, args ...any) (sql.Result, error) {
	if st, ok := s.prepared.Load(stmtKey{true, query}); ok {
		return tx.StmtContext(ctx, st.(*sql.Stmt)).ExecContext(ctx, args...)
	}
	return tx.ExecContext(ctx, query, args...)
}

// txQueryRow runs query in tx: prepared, when prepareWrites has prepared
// it.
func (s *Store) txQueryRow(ctx context.Context, tx *sql.Tx, query string, args ...any) *sql.Row {
	if st, ok := s.prepared.Load(stmtKey{true, query}); ok {
		return tx.StmtContext(ctx, st.(*sql.Stmt)).QueryRowContext(ctx, args...)
	}
	return tx.QueryRowContext(ctx, query, args...)
}

// writerStatements are the statements of a login's write, which
// prepareWrites prepares on the writer.
var writerStatements = []string{sessionUserState, loginUpdate, sessionInsert, changedUser}

// prepareWrites prepares writerStatements on the writer, once they all
// prepare (the schema may not exist yet). It must run outside any of the
// writer's transactions: the writer has one connection, and a transaction
// that waited for it to prepare a statement would wait for itself.
func (s *Store) prepareWrites(ctx context.Context) {
	if s.writesPrepared.Load() {
		return
	}
	for _, q := range writerStatements {
		if _, err := s.prepare(ctx, true, q); err != nil {
			return
		}
	}
	s.writesPrepared.Store(true)
}

// fail translates a driver error into latchkey's error kinds: no rows is
// NotFound, a broken uniqueness rule is Conflict, anything else Internal.
// Driver messages name constraints, never values, so no secret leaks.
func fail(op string, err error) error {
	var (
		le *latchkey.Error
		se *msqlite.Error
	)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return fmt.Errorf("sqlite: %s: %w", op, latchkey.ErrNotFound)
	case errors.As(err, &se) && (se.Code() == sqlite3.SQLITE_CONSTRAINT_UNIQUE || se.Code() == sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY):
		return fmt.Errorf("sqlite: %s: %w", op, latchkey.ErrConflict)
	case errors.As(err, &le):
		return fmt.Errorf("sqlite: %s: %w", op, err)
	}
	return latchkey.Internal("sqlite: %s: %w", op, err)
}

// Times are stored as unix microseconds: the precision every latchkey store
// keeps.

func micros(t time.Time) int64 { return t.UnixMicro() }

func fromMicros(us int64) time.Time { return time.UnixMicro(us).UTC() }

// nullMicros stores the zero time as NULL.
func nullMicros(t time.Time) sql.NullInt64 {
	if t.IsZero() {
		return sql.NullInt64{}
	}
	return sql.NullInt64{Int64: t.UnixMicro(), Valid: true}
}

func fromNullMicros(us sql.NullInt64) time.Time {
	if !us.Valid {
		return time.Time{}
	}
	return fromMicros(us.Int64)
}

// normal returns t as it reads back from the database.
func normal(t time.Time) time.Time { return fromMicros(micros(t)) }

// digest converts a stored digest, checking its length.
func digest(b []byte) (latchkey.Digest, error) {
	var d latchkey.Digest
	if len(b) != len(d) {
		return d, fmt.Errorf("stored digest has %d bytes, want %d", len(b), len(d))
	}
	copy(d[:], b)
	return d, nil
}
