// Package pgtest gives tests a PostgreSQL schema of their own on the
// server named by LATCHKEY_TEST_POSTGRES_URL.
package pgtest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
)

// ExampleURL shows what LATCHKEY_TEST_POSTGRES_URL looks like.
const ExampleURL = "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable"

// ServerURL returns LATCHKEY_TEST_POSTGRES_URL. Without it the test is
// skipped, except under CI=true, where it fails: CI must not pass without
// having run the PostgreSQL tests.
func ServerURL(tb testing.TB) string {
	tb.Helper()
	u := os.Getenv("LATCHKEY_TEST_POSTGRES_URL")
	if u == "" {
		if os.Getenv("CI") == "true" {
			tb.Fatalf("LATCHKEY_TEST_POSTGRES_URL is not set, and CI=true requires the PostgreSQL tests to run (e.g. %s)", ExampleURL)
		}
		tb.Skipf("PostgreSQL tests skipped: set LATCHKEY_TEST_POSTGRES_URL to a database they may create schemas in (e.g. %s)", ExampleURL)
	}
	return u
}

// Admin runs one statement on the server itself, outside any test schema.
func Admin(tb testing.TB, server, sql string) {
	tb.Helper()
	// Not tb.Context: cleanups run after it is canceled.
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	pool, err := pgxpool.New(ctx, server)
	if err != nil {
		tb.Fatalf("connect to LATCHKEY_TEST_POSTGRES_URL: %v", err)
	}
	defer pool.Close()
	if _, err := pool.Exec(ctx, sql); err != nil {
		tb.Fatalf("%s: %v", sql, err)
	}
}

// NewSchema creates an empty schema of its own for tb, dropped when tb
// ends, and returns its name and a URL whose search_path is it: tests,
// reruns and parallel packages never share tables.
func NewSchema(tb testing.TB) (u, schema string) {
	tb.Helper()
	server := ServerURL(tb)
	var b [8]byte
	rand.Read(b[:])
	schema = "latchkey_test_" + hex.EncodeToString(b[:])
	Admin(tb, server, "CREATE SCHEMA "+schema)
	tb.Cleanup(func() { Admin(tb, server, "DROP SCHEMA "+schema+" CASCADE") })
	return WithParam(tb, server, "search_path", schema), schema
}

// WithParam sets a connection parameter in a URL or a key=value string.
func WithParam(tb testing.TB, conn, key, value string) string {
	tb.Helper()
	if !strings.HasPrefix(conn, "postgres://") && !strings.HasPrefix(conn, "postgresql://") {
		return conn + " " + key + "=" + value
	}
	u, err := url.Parse(conn)
	if err != nil {
		tb.Fatalf("LATCHKEY_TEST_POSTGRES_URL: %v", err)
	}
	q := u.Query()
	q.Set(key, value)
	u.RawQuery = q.Encode()
	return u.String()
}
