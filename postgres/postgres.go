// Package postgres keeps latchkey's users, sessions and change feed in a
// PostgreSQL database, so that several server nodes can share them.
//
// Every node follows the change feed (Store.Changes) by sequence number to
// evict what other nodes revoked, which only works if the feed is read in
// commit order: a reader that has seen seq 6 never looks at 5 again. A
// PostgreSQL sequence hands out numbers in the order transactions ask, not
// the order they commit, so every transaction that writes change entries
// first takes one advisory lock, held until it commits, and only then draws
// its seqs. Change writers therefore commit one at a time, in seq order,
// each waiting for its own WAL flush: logins and revocations across all
// nodes are bounded by the server's flush rate (group commit cannot batch
// them).
//
// Each write is one statement (data-modifying WITH clauses) sent in one
// round trip together with the lock, as one implicit transaction: the lock
// is held for the server's work and the commit only, never across a round
// trip to a client.
//
// A Store needs a session-level connection (direct, or a pooler in session
// mode): statements are prepared per connection.
package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgtype"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/latchkeyhq/latchkey"
)

var (
	_ latchkey.Store    = (*Store)(nil)
	_ latchkey.Importer = (*Store)(nil)
)

// DefaultMaxConns bounds a Store's connections when neither Options nor the
// URL's pool_max_conns says otherwise.
const DefaultMaxConns = 10

// Advisory lock keys: the first of the two 32-bit keys names the lock
// ("lat" in ASCII and a number), the second is a hash of the schema, so
// that stores in several schemas of one database (tests, or deployments
// side by side) never wait on each other. pg_locks shows classid
// 0x6c617401 to 0x6c617404, objid the schema's hash and objsubid 2.
const (
	lockNamespace int32 = 0x6c617400
	// lockChanges serializes the transactions that insert change entries,
	// making seq order commit order.
	lockChanges = lockNamespace | 1
	// lockUsers serializes CreateUser, so that moving the id sequence past
	// imported ids never moves it below an id another transaction drew.
	lockUsers = lockNamespace | 2
	// lockPrune serializes DeleteExpired across nodes.
	lockPrune = lockNamespace | 3
	// lockMigrate serializes Migrate across processes.
	lockMigrate = lockNamespace | 4
)

// lockSQL takes one of the locks above, for the current schema, until the
// transaction ends.
const lockSQL = `SELECT pg_advisory_xact_lock($1::int4, hashtext(current_schema()))`

// Options configures a Store beyond its URL.
type Options struct {
	// MaxConns bounds the connection pool. Zero takes the URL's
	// pool_max_conns, or DefaultMaxConns.
	MaxConns int32
}

// Store is a latchkey.Store on one PostgreSQL database (the first schema of
// its search_path). It is safe for concurrent use, and any number of Stores,
// in one process or many, may share a database.
type Store struct {
	pool *pgxpool.Pool
}

// Open connects to the database at url (a postgres:// URL or a key=value
// string, as pgx parses them, pool_ settings included) with default
// Options. It does not create or update the schema: call Migrate.
func Open(ctx context.Context, url string) (*Store, error) {
	return OpenOptions(ctx, url, Options{})
}

// OpenOptions is Open with options. It checks that the database answers.
func OpenOptions(ctx context.Context, url string, opt Options) (*Store, error) {
	if url == "" {
		return nil, errors.New("postgres: open: empty URL")
	}
	// pgx redacts passwords from its parse errors; the URL itself is never
	// put in an error.
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		return nil, fmt.Errorf("postgres: open: %w", err)
	}
	switch {
	case opt.MaxConns > 0:
		cfg.MaxConns = opt.MaxConns
	case opt.MaxConns < 0:
		return nil, fmt.Errorf("postgres: open: MaxConns %d is negative", opt.MaxConns)
	case !setsMaxConns(url):
		cfg.MaxConns = DefaultMaxConns
	}
	if cfg.MinConns > cfg.MaxConns {
		cfg.MinConns = cfg.MaxConns
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("postgres: open: %w", err)
	}
	if err := pool.Ping(ctx); err != nil {
		pool.Close()
		return nil, fmt.Errorf("postgres: open: %w", clean(err))
	}
	return &Store{pool: pool}, nil
}

// setsMaxConns reports whether url sets pool_max_conns; pgxpool replaces a
// missing one with its own default, which is not ours.
func setsMaxConns(url string) bool {
	cfg, err := pgx.ParseConfig(url)
	if err != nil {
		return false
	}
	_, ok := cfg.RuntimeParams["pool_max_conns"]
	return ok
}

// Ping reports whether the database answers.
func (s *Store) Ping(ctx context.Context) error {
	if err := s.pool.Ping(ctx); err != nil {
		return fail("ping", err)
	}
	return nil
}

// Close closes every connection, waiting for those in use to be released.
// Calls after Close fail.
func (s *Store) Close() error {
	s.pool.Close()
	return nil
}

// send runs b in one round trip as one implicit transaction: a failing
// statement rolls back the ones before it and skips the rest. read consumes
// the results in order; Close then reports the commit's own failure.
func (s *Store) send(ctx context.Context, op string, b *pgx.Batch, read func(pgx.BatchResults) error) error {
	br := s.pool.SendBatch(ctx, b)
	err := read(br)
	if cerr := br.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fail(op, err)
	}
	return nil
}

// writeChanges runs query, which inserts change entries, after taking the
// change feed lock, in one transaction; row scans each row query returns.
// Every insert into changes goes through here.
func (s *Store) writeChanges(ctx context.Context, op, query string, args []any, row func(pgx.Rows) error) error {
	b := &pgx.Batch{}
	b.Queue(lockSQL, lockChanges)
	b.Queue(query, args...)
	return s.send(ctx, op, b, func(br pgx.BatchResults) error {
		if _, err := br.Exec(); err != nil {
			return err
		}
		rows, err := br.Query()
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			if err := row(rows); err != nil {
				return err
			}
		}
		return rows.Err()
	})
}

// userExists tells the refusals of a conditional write apart: no such user
// (NotFound) or a broken condition (Conflict).
func (s *Store) userExists(ctx context.Context, id int64) error {
	var ok bool
	if err := s.pool.QueryRow(ctx, `SELECT EXISTS (SELECT FROM users WHERE id = $1)`, id).Scan(&ok); err != nil {
		return err
	}
	if !ok {
		return pgx.ErrNoRows
	}
	return latchkey.ErrConflict
}

// SQLSTATE codes that have a latchkey kind.
const uniqueViolation = "23505"

// fail translates a driver error into latchkey's error kinds: no rows is
// NotFound, a broken uniqueness rule is Conflict, anything else Internal.
// The server's detail (which quotes the offending values, such as a
// digest) is dropped; constraint names stay.
func fail(op string, err error) error {
	var (
		le *latchkey.Error
		pe *pgconn.PgError
	)
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		return fmt.Errorf("postgres: %s: %w", op, latchkey.ErrNotFound)
	case errors.As(err, &pe) && pe.Code == uniqueViolation:
		return fmt.Errorf("postgres: %s: %s: %w", op, pe.ConstraintName, latchkey.ErrConflict)
	case errors.As(err, &le):
		return fmt.Errorf("postgres: %s: %w", op, err)
	}
	return latchkey.Internal("postgres: %s: %w", op, clean(err))
}

// clean returns err with a server error's detail, hint and context
// removed: they may quote row values. Error() of the result is unchanged.
func clean(err error) error {
	var pe *pgconn.PgError
	if !errors.As(err, &pe) {
		return err
	}
	return &pgconn.PgError{
		Severity:            pe.Severity,
		SeverityUnlocalized: pe.SeverityUnlocalized,
		Code:                pe.Code,
		Message:             pe.Message,
		SchemaName:          pe.SchemaName,
		TableName:           pe.TableName,
		ColumnName:          pe.ColumnName,
		DataTypeName:        pe.DataTypeName,
		ConstraintName:      pe.ConstraintName,
	}
}

// normal returns t as it reads back from the database: pgx sends whole
// microseconds, rounded down, and times come back in UTC.
func normal(t time.Time) time.Time { return t.Truncate(time.Microsecond).UTC() }

// nullTime stores the zero time as NULL.
func nullTime(t time.Time) pgtype.Timestamptz {
	return pgtype.Timestamptz{Time: t, Valid: !t.IsZero()}
}

// fromNull reads a nullable time; NULL is the zero time.
func fromNull(t pgtype.Timestamptz) time.Time {
	if !t.Valid {
		return time.Time{}
	}
	return t.Time.UTC()
}

// digest converts a stored digest, checking its length.
func digest(b []byte) (latchkey.Digest, error) {
	var d latchkey.Digest
	if len(b) != len(d) {
		return d, fmt.Errorf("stored digest has %d bytes, want %d", len(b), len(d))
	}
	copy(d[:], b)
	return d, nil
}
