package main

import (
	"context"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/latchkeyhq/latchkey/internal/thousands"
	"github.com/latchkeyhq/latchkey/postgres"
)

// pgResult is what the cache miss measured on PostgreSQL at one size.
type pgResult struct {
	users, tokens int
	seedTook      time.Duration
	solo, miss    result // 1 connection, -connections
}

// runPostgres seeds a database of its own on the -postgres server, runs
// the cache misses on 1 connection and on -connections against it, and
// drops the database.
func (b *bench) runPostgres(ctx context.Context, name string, users, tokens int) (*pgResult, error) {
	dir := filepath.Join(b.tmp, name)
	if err := os.Mkdir(dir, 0o755); err != nil {
		return nil, err
	}
	dbName := "latchkey_bench_" + strconv.Itoa(os.Getpid()) + "_" + name
	dbURL, drop, err := createDatabase(ctx, b.cfg.postgres, dbName)
	if err != nil {
		return nil, err
	}
	defer func() {
		if err := drop(); err != nil {
			b.logf("%s: drop database %s: %v", name, dbName, err)
		}
	}()
	b.logf("%s: seeding PostgreSQL database %s with %s users and %s tokens", name, dbName, thousands.Format(int64(users)), thousands.Format(int64(tokens)))
	sd, err := seedPostgres(ctx, dir, dbURL, users, b.sets(tokens), b.hash, b.cfg.lastUsed)
	if err != nil {
		return nil, err
	}
	b.logf("%s: seeded in %v", name, sd.took.Round(100*time.Millisecond))
	s, err := b.serve(ctx, sd, dir, tokens, "server.log")
	if err != nil {
		return nil, err
	}
	defer b.stopServer(s)
	r := &pgResult{users: users, tokens: tokens, seedTook: sd.took}
	if err := b.misses(ctx, s, &r.solo, &r.miss); err != nil {
		return nil, err
	}
	return r, nil
}

// createDatabase creates the database name on the server of base (a
// postgres:// URL) and returns its URL and a function that drops it.
func createDatabase(ctx context.Context, base, name string) (string, func() error, error) {
	u, err := url.Parse(base)
	if err != nil {
		return "", nil, fmt.Errorf("-postgres: %w", err)
	}
	admin, err := pgx.Connect(ctx, base)
	if err != nil {
		return "", nil, fmt.Errorf("-postgres: %w", err)
	}
	ident := pgx.Identifier{name}.Sanitize()
	if _, err := admin.Exec(ctx, "DROP DATABASE IF EXISTS "+ident); err != nil {
		admin.Close(ctx)
		return "", nil, fmt.Errorf("-postgres: %w", err)
	}
	if _, err := admin.Exec(ctx, "CREATE DATABASE "+ident); err != nil {
		admin.Close(ctx)
		return "", nil, fmt.Errorf("-postgres: %w", err)
	}
	drop := func() error {
		defer admin.Close(context.Background())
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		_, err := admin.Exec(ctx, "DROP DATABASE IF EXISTS "+ident+" WITH (FORCE)")
		return err
	}
	u.Path = "/" + name
	return u.String(), drop, nil
}

// seedPostgres migrates the database at dbURL with latchkey's own
// migrations, then fills it as seed fills a SQLite file, with COPY.
func seedPostgres(ctx context.Context, dir, dbURL string, users int, sets []tokenSet, hash string, lastUsed time.Duration) (*seeded, error) {
	start := time.Now()
	st, err := postgres.Open(ctx, dbURL)
	if err != nil {
		return nil, err
	}
	if err := st.Migrate(ctx); err != nil {
		st.Close()
		return nil, err
	}
	st.Close()

	conn, err := pgx.Connect(ctx, dbURL)
	if err != nil {
		return nil, fmt.Errorf("seed: %w", err)
	}
	defer conn.Close(ctx)
	now := time.Now().UTC()
	joined := now.Add(-30 * 24 * time.Hour)
	i := 0
	_, err = conn.CopyFrom(ctx, pgx.Identifier{"users"}, []string{"id", "username", "email", "password_hash", "is_active", "date_joined"},
		pgx.CopyFromFunc(func() ([]any, error) {
			if i == users {
				return nil, nil
			}
			i++
			name := "user" + strconv.Itoa(i)
			return []any{int64(i), name, name + "@example.com", hash, true, joined}, nil
		}))
	if err != nil {
		return nil, fmt.Errorf("seed users: %w", err)
	}
	// The ids were given: move the identity past them, as an import does.
	if _, err := conn.Exec(ctx, `SELECT setval(pg_get_serial_sequence('users', 'id'), $1)`, users); err != nil {
		return nil, fmt.Errorf("seed users: %w", err)
	}

	tm := seedTimes(now, lastUsed)
	g, err := newSessionGen(dir, users, sets)
	if err != nil {
		return nil, err
	}
	defer g.close()
	i = 0
	_, err = conn.CopyFrom(ctx, pgx.Identifier{"sessions"}, []string{"id", "digest", "user_id", "created_at", "last_used_at", "expires_at", "ip", "user_agent"},
		pgx.CopyFromFunc(func() ([]any, error) {
			if i == g.rows() {
				return nil, nil
			}
			r, err := g.row(i)
			if err != nil {
				return nil, err
			}
			i++
			return []any{r.id, r.digest[:], int64(r.user), tm.created, tm.used, tm.expires, "127.0.0.1", "latchkey-bench"}, nil
		}))
	if err != nil {
		return nil, fmt.Errorf("seed sessions: %w", err)
	}
	if err := g.close(); err != nil {
		return nil, err
	}
	// Statistics for the planner, and the new rows' hint bits and
	// visibility map, now rather than during the measurement.
	if _, err := conn.Exec(ctx, "VACUUM (ANALYZE) users, sessions"); err != nil {
		return nil, fmt.Errorf("seed: vacuum: %w", err)
	}
	return &seeded{url: dbURL, hitToken: g.hitToken, took: time.Since(start)}, nil
}
