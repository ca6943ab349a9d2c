// Package djangotest gives tests the real Django data in
// shared/fixtures/django, beside the repository: its folder, the answers
// of users.json, and its PostgreSQL dump loaded into a database of its own.
package djangotest

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/latchkeyhq/latchkey/postgres/pgtest"
)

// Dir returns the fixtures folder, ../shared/fixtures/django from the
// repository root. Without it the test is skipped, except under CI=true,
// where it fails: CI must not pass without the Django tests.
func Dir(tb testing.TB) string {
	tb.Helper()
	_, file, _, ok := runtime.Caller(0)
	if !ok {
		tb.Fatal("djangotest: no caller information")
	}
	dir := filepath.Join(filepath.Dir(file), "..", "..", "..", "shared", "fixtures", "django")
	if _, err := os.Stat(filepath.Join(dir, "users.json")); err != nil {
		if os.Getenv("CI") == "true" {
			tb.Fatalf("Django fixtures missing (%v), and CI=true requires the Django tests to run: clone shared/ beside the repository", err)
		}
		tb.Skipf("Django tests skipped: no fixtures at %s (shared/ beside the repository)", dir)
	}
	return dir
}

// Path returns the path of a fixture file.
func Path(tb testing.TB, name string) string {
	tb.Helper()
	return filepath.Join(Dir(tb), name)
}

// User is an entry of users.json: what the fixtures hold for one user.
type User struct {
	ID       int64   `json:"id"`
	Password *string `json:"password"` // nil: unusable password
	Hasher   string  `json:"hasher"`
	Encoded  string  `json:"encoded"`
	Active   bool    `json:"active"`
	Token    *string `json:"token"` // nil: no DRF token
}

// Users returns users.json by username.
func Users(tb testing.TB) map[string]User {
	tb.Helper()
	b, err := os.ReadFile(Path(tb, "users.json"))
	if err != nil {
		tb.Fatal(err)
	}
	var us map[string]User
	if err := json.Unmarshal(b, &us); err != nil {
		tb.Fatalf("users.json: %v", err)
	}
	return us
}

// Created is when the fixtures were made: every token was created in the
// minute after it. Tests that keep tokens alive set their clock near it.
var Created = time.Date(2026, 11, 28, 19, 55, 50, 0, time.UTC)

// Postgres creates a database of its own for tb on the server named by
// LATCHKEY_TEST_POSTGRES_URL (skipping without it, as pgtest does), loads
// django-postgres.sql into it, and returns its URL. The database is
// dropped when tb ends.
func Postgres(tb testing.TB) string {
	tb.Helper()
	dump := Path(tb, "django-postgres.sql")
	server := pgtest.ServerURL(tb)
	var b [8]byte
	rand.Read(b[:])
	name := "latchkey_django_" + hex.EncodeToString(b[:])
	pgtest.Admin(tb, server, "CREATE DATABASE "+name)
	tb.Cleanup(func() { pgtest.Admin(tb, server, "DROP DATABASE "+name+" WITH (FORCE)") })
	u := withDatabase(tb, server, name)

	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	conn, err := pgx.Connect(ctx, u)
	if err != nil {
		tb.Fatalf("connect to the Django database: %v", err)
	}
	defer conn.Close(ctx)
	f, err := os.Open(dump)
	if err != nil {
		tb.Fatal(err)
	}
	defer f.Close()
	if err := LoadDump(ctx, conn, f); err != nil {
		tb.Fatalf("load %s: %v", dump, err)
	}
	return u
}

// withDatabase names another database in a URL or key=value string.
func withDatabase(tb testing.TB, conn, name string) string {
	tb.Helper()
	if !strings.HasPrefix(conn, "postgres://") && !strings.HasPrefix(conn, "postgresql://") {
		return conn + " dbname=" + name
	}
	u, err := url.Parse(conn)
	if err != nil {
		tb.Fatalf("LATCHKEY_TEST_POSTGRES_URL: %v", err)
	}
	u.Path = "/" + name
	return u.String()
}

// LoadDump runs a plain-text pg_dump file on conn as psql -f would: SQL
// statements, and COPY … FROM stdin with the data lines after it. The
// psql meta-commands pg_dump writes (\restrict, \unrestrict, \connect) are
// skipped; no other is expected. Statements end at a line ending in ";",
// which holds for pg_dump's tables, sequences, indexes and constraints
// (not for function bodies).
func LoadDump(ctx context.Context, conn *pgx.Conn, r io.Reader) error {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 64<<20)
	var stmt strings.Builder
	line := 0
	for sc.Scan() {
		line++
		text := sc.Text()
		if stmt.Len() == 0 {
			switch {
			case text == "", strings.HasPrefix(text, "--"):
				continue
			case strings.HasPrefix(text, `\restrict `), strings.HasPrefix(text, `\unrestrict `), strings.HasPrefix(text, `\connect `):
				continue
			case strings.HasPrefix(text, `\`):
				return fmt.Errorf("line %d: unexpected psql meta-command %q", line, text)
			}
		}
		stmt.WriteString(text)
		stmt.WriteByte('\n')
		if !strings.HasSuffix(text, ";") {
			continue
		}
		sql := strings.TrimSpace(stmt.String())
		stmt.Reset()
		if strings.HasPrefix(sql, "COPY ") && strings.HasSuffix(sql, " FROM stdin;") {
			var data bytes.Buffer
			for sc.Scan() {
				line++
				if sc.Text() == `\.` {
					break
				}
				data.WriteString(sc.Text())
				data.WriteByte('\n')
			}
			if _, err := conn.PgConn().CopyFrom(ctx, &data, strings.TrimSuffix(sql, ";")); err != nil {
				return fmt.Errorf("line %d: %s: %w", line, sql, err)
			}
			continue
		}
		// No arguments: pgx sends it with the simple protocol.
		if _, err := conn.Exec(ctx, sql); err != nil {
			return fmt.Errorf("line %d: %s: %w", line, sql, err)
		}
	}
	if err := sc.Err(); err != nil {
		return err
	}
	if stmt.Len() > 0 {
		return fmt.Errorf("unterminated statement at the end: %s", stmt.String())
	}
	return nil
}
