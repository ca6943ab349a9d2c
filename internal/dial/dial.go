// Package dial opens what latchkey's URLs name: the store of a database
// URL (sqlite:PATH or postgres://…) and the token cache of a cache URL
// (memory, or Redis). The commands of cmd/latchkey and package verify open
// them here alike, so that a service's verifier reaches the servers'
// database and cache exactly as the servers do, from the same settings.
package dial

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"strings"

	"github.com/latchkeyhq/latchkey"
	"github.com/latchkeyhq/latchkey/postgres"
	"github.com/latchkeyhq/latchkey/sqlite"
)

// DatabaseURL is a database URL, parsed: the backend it names, and what
// that backend opens.
type DatabaseURL struct {
	Kind string // "sqlite" or "postgres"
	Path string // the file of a sqlite database
	URL  string // the URL as given
}

// ParseDatabaseURL parses the database URL of the setting named setting:
// sqlite:PATH (sqlite://relative/path and sqlite:///absolute/path too) or
// postgres://USER@HOST/DB. The error quotes an unsupported URL without its
// password.
func ParseDatabaseURL(setting, s string) (DatabaseURL, error) {
	switch {
	case strings.HasPrefix(s, "postgres://"), strings.HasPrefix(s, "postgresql://"):
		return DatabaseURL{Kind: "postgres", URL: s}, nil
	case strings.HasPrefix(s, "sqlite:"):
		path := strings.TrimPrefix(strings.TrimPrefix(s, "sqlite:"), "//")
		if path == "" {
			return DatabaseURL{}, fmt.Errorf("%s: sqlite: needs a file path", setting)
		}
		return DatabaseURL{Kind: "sqlite", Path: path, URL: s}, nil
	}
	return DatabaseURL{}, fmt.Errorf("%s %q is not supported: use sqlite:PATH or postgres://…", setting, RedactURL(s))
}

// String is the URL without its password, for logs and reports.
func (d DatabaseURL) String() string { return RedactURL(d.URL) }

// LogValue keeps the password out of logs in every format.
func (d DatabaseURL) LogValue() slog.Value { return slog.StringValue(d.String()) }

// Store is a store with its migrations.
type Store interface {
	latchkey.Store
	Migrate(ctx context.Context) error
}

// OpenStore opens the database with the backend its URL names, an
// explicit switch, and, when migrate is set, applies its migrations.
// Without migrate, a SQLite file must exist already: opening would create
// an empty one, without the tables that only migrations make.
func OpenStore(ctx context.Context, db DatabaseURL, migrate bool) (Store, error) {
	var (
		st  Store
		err error
	)
	switch db.Kind {
	case "postgres":
		st, err = postgres.Open(ctx, db.URL)
	case "sqlite":
		if !migrate {
			if _, err := os.Stat(db.Path); errors.Is(err, fs.ErrNotExist) {
				return nil, fmt.Errorf("open store: %s does not exist: run latchkey migrate (or latchkey serve) on it first", db.Path)
			}
		}
		st, err = sqlite.Open(ctx, db.Path)
	default:
		return nil, errors.New("open store: the database URL was not parsed")
	}
	if err != nil {
		return nil, err
	}
	if migrate {
		if err := st.Migrate(ctx); err != nil {
			st.Close()
			return nil, err
		}
	}
	return st, nil
}
