package main

import (
	"bufio"
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/base64"
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
	db       string // database file
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
	created := now.Add(-time.Hour).UnixMicro()
	used := now.Add(-lastUsed).UnixMicro()
	expires := now.Add(23 * time.Hour).UnixMicro()
	rnd := bufio.NewReaderSize(rand.Reader, 64<<10)

	// Each set's tokens take the next rows; the last row is the hit
	// token, user1's, in no file.
	var (
		files  [][]*bufio.Writer // by set, then by file
		firsts []int             // by set: its first row
		total  int
	)
	for _, ts := range sets {
		var ws []*bufio.Writer
		for t := range ts.files {
			f, err := os.Create(filepath.Join(dir, ts.prefix+strconv.Itoa(t)))
			if err != nil {
				return nil, fmt.Errorf("seed: %w", err)
			}
			defer f.Close()
			ws = append(ws, bufio.NewWriterSize(f, 256<<10))
		}
		files = append(files, ws)
		firsts = append(firsts, total)
		total += ts.n
	}
	set := 0
	err = bulkInsert(ctx, db, total+1, "INSERT INTO sessions (id, digest, user_id, created_at, last_used_at, expires_at, ip, user_agent) VALUES ",
		"(?, ?, ?, ?, ?, ?, '127.0.0.1', 'latchkey-bench')", func(i int, args []any) ([]any, error) {
			tok, err := latchkey.NewToken(rnd)
			if err != nil {
				return nil, err
			}
			var id [16]byte
			if _, err := io.ReadFull(rnd, id[:]); err != nil {
				return nil, err
			}
			user := i%users + 1
			for set < len(sets) && i >= firsts[set]+sets[set].n {
				set++
			}
			if set == len(sets) {
				s.hitToken, user = tok.Reveal(), 1
			} else {
				ws := files[set]
				if _, err := ws[(i-firsts[set])%len(ws)].WriteString(tok.Reveal() + "\n"); err != nil {
					return nil, err
				}
			}
			d := tok.Digest()
			return append(args, base64.RawURLEncoding.EncodeToString(id[:]), d[:], user, created, used, expires), nil
		})
	if err != nil {
		return nil, fmt.Errorf("seed sessions: %w", err)
	}
	for _, ws := range files {
		for _, w := range ws {
			if err := w.Flush(); err != nil {
				return nil, fmt.Errorf("seed: write tokens: %w", err)
			}
		}
	}
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
