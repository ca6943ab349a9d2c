package main

import (
	"bufio"
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/latchkeyhq/latchkey"
	"github.com/latchkeyhq/latchkey/sqlite"
	_ "modernc.org/sqlite" // the "sqlite" database/sql driver, for the bulk insert
)

// benchPassword is every seeded user's password.
const benchPassword = "correct horse battery staple"

// seeded is what seed made.
type seeded struct {
	db       string // database file (SQLite)
	url      string // the server's --database-url
	hitToken string // a live token of user1 that is in no file
	took     time.Duration
}

// Rows per multi-row INSERT, and per transaction. Larger statements save
// little: past a few dozen rows the per-call cost is gone, and SQLite's
// statement journal copies every page a statement touches.
const (
	rowsPerInsert = 100
	rowsPerTx     = 100_000
)

// times are the seeded sessions' times: each was issued an hour ago (its
// 24 h lifetime has 23 h to run) and last used lastUsed ago.
type times struct{ created, used, expires time.Time }

func seedTimes(now time.Time, lastUsed time.Duration) times {
	return times{created: now.Add(-time.Hour), used: now.Add(-lastUsed), expires: now.Add(23 * time.Hour)}
}

// sessionGen draws the seeded sessions: the tokens of each set, whose
// sessions take the next rows and go round-robin over the users, then
// the hit token, user1's, in no file. Only the tokens' digests are
// stored; the tokens go to the sets' files.
type sessionGen struct {
	users    int
	sets     []tokenSet
	files    [][]*os.File      // by set, then by file
	ws       [][]*bufio.Writer // the same, buffered
	firsts   []int             // by set: its first row
	total    int               // rows of the sets
	set      int               // the set of the last row drawn
	rnd      io.Reader
	hitToken string
}

// sessionRow is one seeded session.
type sessionRow struct {
	id     string
	digest latchkey.Digest
	user   int
}

func newSessionGen(dir string, users int, sets []tokenSet) (*sessionGen, error) {
	g := &sessionGen{users: users, sets: sets, rnd: bufio.NewReaderSize(rand.Reader, 64<<10)}
	for _, ts := range sets {
		var (
			fs []*os.File
			ws []*bufio.Writer
		)
		for t := range ts.files {
			f, err := os.Create(filepath.Join(dir, ts.prefix+strconv.Itoa(t)))
			if err != nil {
				for _, f := range fs {
					f.Close()
				}
				g.close()
				return nil, fmt.Errorf("seed: %w", err)
			}
			fs, ws = append(fs, f), append(ws, bufio.NewWriterSize(f, 256<<10))
		}
		g.files, g.ws = append(g.files, fs), append(g.ws, ws)
		g.firsts = append(g.firsts, g.total)
		g.total += ts.n
	}
	return g, nil
}

// rows is the number of sessions: the sets' and the hit token's.
func (g *sessionGen) rows() int { return g.total + 1 }

// row draws row i; rows are drawn in order, from 0.
func (g *sessionGen) row(i int) (sessionRow, error) {
	tok, err := latchkey.NewToken(g.rnd)
	if err != nil {
		return sessionRow{}, err
	}
	var id [16]byte
	if _, err := io.ReadFull(g.rnd, id[:]); err != nil {
		return sessionRow{}, err
	}
	user := i%g.users + 1
	for g.set < len(g.sets) && i >= g.firsts[g.set]+g.sets[g.set].n {
		g.set++
	}
	if g.set == len(g.sets) {
		g.hitToken, user = tok.Reveal(), 1
	} else {
		ws := g.ws[g.set]
		if _, err := ws[(i-g.firsts[g.set])%len(ws)].WriteString(tok.Reveal() + "\n"); err != nil {
			return sessionRow{}, err
		}
	}
	return sessionRow{id: base64.RawURLEncoding.EncodeToString(id[:]), digest: tok.Digest(), user: user}, nil
}

// close writes the token files out and closes them; a second call does
// nothing.
func (g *sessionGen) close() error {
	var errs []error
	for i, fs := range g.files {
		for j, f := range fs {
			errs = append(errs, g.ws[i][j].Flush(), f.Close())
		}
	}
	g.files = nil
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("seed: write tokens: %w", err)
	}
	return nil
}

// tokenSet is a number of live tokens written round-robin to files
// named prefix0, prefix1, …: one per wrk thread that walks them.
type tokenSet struct {
	prefix string
	n      int
	files  int
}

// seed creates a fresh database at dir/latchkey.db through latchkey's own
// migrations, then fills it directly: users user1…userN, all with the
// same argon2id hash (hashing once per user would take hours), then the
// tokens of each set, spread round-robin over the users, then the hit
// token. Only the tokens' digests are stored, as latchkey stores them;
// the tokens themselves go to the sets' files in dir.
func seed(ctx context.Context, dir string, users int, sets []tokenSet, hash string, lastUsed time.Duration) (*seeded, error) {
	start := time.Now()
	s := &seeded{db: filepath.Join(dir, "latchkey.db")}
	s.url = "sqlite:" + s.db
	st, err := sqlite.Open(ctx, s.db)
	if err != nil {
		return nil, err
	}
	if err := st.Migrate(ctx); err != nil {
		st.Close()
		return nil, err
	}
	if err := st.Close(); err != nil {
		return nil, err
	}

	// A connection of our own, tuned for a bulk load: no fsync (a crash
	// only loses a benchmark database) and a page cache large enough to
	// hold the indexes being filled in random order.
	name := "file:" + strings.NewReplacer("%", "%25", "?", "%3f", "#", "%23").Replace(s.db)
	db, err := sql.Open("sqlite", name+"?_pragma=busy_timeout(5000)&_pragma=synchronous(OFF)&_pragma=cache_size(-524288)&_pragma=temp_store(MEMORY)&_pragma=foreign_keys(0)")
	if err != nil {
		return nil, fmt.Errorf("seed: %w", err)
	}
	defer db.Close()
	db.SetMaxOpenConns(1)

	now := time.Now().UTC()
	joined := now.Add(-30 * 24 * time.Hour).UnixMicro()
	err = bulkInsert(ctx, db, users, "INSERT INTO users (id, username, email, password_hash, is_active, date_joined) VALUES ",
		"(?, ?, ?, ?, 1, ?)", func(i int, args []any) ([]any, error) {
			id := i + 1
			name := "user" + strconv.Itoa(id)
			return append(args, id, name, name+"@example.com", hash, joined), nil
		})
	if err != nil {
		return nil, fmt.Errorf("seed users: %w", err)
	}

	// Each token was issued an hour ago (its 24 h lifetime has 23 h to
	// run) and last used lastUsed ago.
	tm := seedTimes(now, lastUsed)
	g, err := newSessionGen(dir, users, sets)
	if err != nil {
		return nil, err
	}
	defer g.close()
	err = bulkInsert(ctx, db, g.rows(), "INSERT INTO sessions (id, digest, user_id, created_at, last_used_at, expires_at, ip, user_agent) VALUES ",
		"(?, ?, ?, ?, ?, ?, '127.0.0.1', 'latchkey-bench')", func(i int, args []any) ([]any, error) {
			r, err := g.row(i)
			if err != nil {
				return nil, err
			}
			return append(args, r.id, r.digest[:], r.user, tm.created.UnixMicro(), tm.used.UnixMicro(), tm.expires.UnixMicro()), nil
		})
	if err != nil {
		return nil, fmt.Errorf("seed sessions: %w", err)
	}
	if err := g.close(); err != nil {
		return nil, err
	}
	s.hitToken = g.hitToken
	// Leave the server a database whose write-ahead log is empty.
	if _, err := db.ExecContext(ctx, "PRAGMA wal_checkpoint(TRUNCATE)"); err != nil {
		return nil, fmt.Errorf("seed: checkpoint: %w", err)
	}
	s.took = time.Since(start)
	return s, nil
}

// bulkInsert inserts n rows, rowsPerInsert to a statement and rowsPerTx
// to a transaction; row appends row i's values to args.
func bulkInsert(ctx context.Context, db *sql.DB, n int, head, tuple string, row func(i int, args []any) ([]any, error)) error {
	args := make([]any, 0, 8*rowsPerInsert)
	for txStart := 0; txStart < n; txStart += rowsPerTx {
		if err := insertTx(ctx, db, txStart, min(txStart+rowsPerTx, n), head, tuple, row, args); err != nil {
			return err
		}
	}
	return nil
}

// insertTx inserts rows from..to-1 in one transaction. Its statements are
// prepared on the transaction: the pool's one connection is the
// transaction's until it ends.
func insertTx(ctx context.Context, db *sql.DB, from, to int, head, tuple string, row func(i int, args []any) ([]any, error), args []any) error {
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	stmts := map[int]*sql.Stmt{}
	for i := from; i < to; i += rowsPerInsert {
		rows := min(rowsPerInsert, to-i)
		args = args[:0]
		for j := range rows {
			if args, err = row(i+j, args); err != nil {
				return err
			}
		}
		st, ok := stmts[rows]
		if !ok {
			st, err = tx.PrepareContext(ctx, head+strings.TrimSuffix(strings.Repeat(tuple+",", rows), ","))
			if err != nil {
				return err
			}
			stmts[rows] = st
		}
		if _, err := st.ExecContext(ctx, args...); err != nil {
			return err
		}
	}
	return tx.Commit()
}
