package dial

import (
	"errors"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestParseDatabaseURL(t *testing.T) {
	for _, tc := range []struct {
		setting, in string
		want        DatabaseURL
		wantErr     string
	}{
		{"database-url", "sqlite:latchkey.db", DatabaseURL{Kind: "sqlite", Path: "latchkey.db", URL: "sqlite:latchkey.db"}, ""},
		{"database-url", "sqlite:///var/lib/x.db", DatabaseURL{Kind: "sqlite", Path: "/var/lib/x.db", URL: "sqlite:///var/lib/x.db"}, ""},
		{"database-url", "sqlite:/tmp/x.db", DatabaseURL{Kind: "sqlite", Path: "/tmp/x.db", URL: "sqlite:/tmp/x.db"}, ""},
		{"database-url", "sqlite://rel/x.db", DatabaseURL{Kind: "sqlite", Path: "rel/x.db", URL: "sqlite://rel/x.db"}, ""},
		{"database-url", "postgres://localhost/x", DatabaseURL{Kind: "postgres", URL: "postgres://localhost/x"}, ""},
		{"database-url", "postgresql://u:pw@localhost/x", DatabaseURL{Kind: "postgres", URL: "postgresql://u:pw@localhost/x"}, ""},
		{"database-url", "sqlite:", DatabaseURL{}, "database-url: sqlite: needs a file path"},
		{"database-url", "sqlite://", DatabaseURL{}, "database-url: sqlite: needs a file path"},
		{"database-url", "latchkey.db", DatabaseURL{}, `database-url "latchkey.db" is not supported: use sqlite:PATH or postgres://…`},
		{"from-db", "sqlite:", DatabaseURL{}, "from-db: sqlite: needs a file path"},
		{"from-db", "mysql://u:pw@x/db", DatabaseURL{}, `from-db "mysql://u:xxxxx@x/db" is not supported: use sqlite:PATH or postgres://…`},
		{"database-url", "mysql://u:pw@x/db", DatabaseURL{}, `database-url "mysql://u:xxxxx@x/db" is not supported: use sqlite:PATH or postgres://…`},
	} {
		t.Run(tc.setting+" "+tc.in, func(t *testing.T) {
			got, err := ParseDatabaseURL(tc.setting, tc.in)
			if tc.wantErr != "" {
				if err == nil || err.Error() != tc.wantErr {
					t.Fatalf("ParseDatabaseURL(%q) = %+v, %v; want the error %q", tc.in, got, err, tc.wantErr)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Fatalf("ParseDatabaseURL(%q) = %+v, %v; want %+v", tc.in, got, err, tc.want)
			}
		})
	}
}

func TestDatabaseURLRedacted(t *testing.T) {
	d, err := ParseDatabaseURL("database-url", "postgres://u:secret@db/x")
	if err != nil {
		t.Fatal(err)
	}
	var log strings.Builder
	slog.New(slog.NewJSONHandler(&log, nil)).Info("listening", "database", d)
	for _, s := range []string{d.String(), log.String()} {
		if strings.Contains(s, "secret") || !strings.Contains(s, "postgres://u:xxxxx@db/x") {
			t.Errorf("%q: want the URL without its password", s)
		}
	}
}

// TestOpenStoreWithoutMigrations opens only a SQLite file that exists:
// a new one would be empty, without tables.
func TestOpenStoreWithoutMigrations(t *testing.T) {
	path := filepath.Join(t.TempDir(), "x.db")
	db, err := ParseDatabaseURL("database-url", "sqlite:"+path)
	if err != nil {
		t.Fatal(err)
	}
	if st, err := OpenStore(t.Context(), db, false); err == nil || !strings.Contains(err.Error(), "run latchkey migrate") {
		if st != nil {
			st.Close()
		}
		t.Fatalf("OpenStore of a missing file without migrations: %v, want an error", err)
	}
	if _, err := os.Stat(path); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("the file was created: %v", err)
	}
	st, err := OpenStore(t.Context(), db, true)
	if err != nil {
		t.Fatal(err)
	}
	st.Close()
	st, err = OpenStore(t.Context(), db, false)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if _, err := st.LastChange(t.Context()); err != nil {
		t.Fatal(err)
	}
}

func TestCheckCacheURL(t *testing.T) {
	for _, tc := range []struct{ in, wantErr string }{
		{"memory", ""},
		{"redis://127.0.0.1:6379/0", ""},
		{"redis+sentinel://s1:26379/0?master_name=m", ""},
		{"redis+cluster://n1:7000?addr=n2:7000", ""},
		{"memcached://:secret@cache/1", `cache-url "memcached://:xxxxx@cache/1": `},
		{"redis://:secret@cache/x", `cache-url "redis://:xxxxx@cache/x": `},
	} {
		err := CheckCacheURL("cache-url", tc.in)
		if tc.wantErr == "" && err != nil || tc.wantErr != "" && (err == nil || !strings.HasPrefix(err.Error(), tc.wantErr) || strings.Contains(err.Error(), "secret")) {
			t.Errorf("CheckCacheURL(%q) = %v, want %q", tc.in, err, tc.wantErr)
		}
	}
}
