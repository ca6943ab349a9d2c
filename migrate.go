package latchkey

import (
	"fmt"
	"io/fs"
	"strconv"
	"strings"
)

// Migration is one schema change of a store, read from a file named
// NNNN_what.sql: Version is NNNN, Name the file's name, SQL its text.
type Migration struct {
	Version int64
	Name    string
	SQL     string
}

// LoadMigrations reads the migrations in the directory "migrations" of
// fsys (a store's embedded files) and returns them in the order of their
// versions. Every file must be named for a positive version and '_', and
// the versions must increase in the order of the names, so that a
// misnamed file fails every Migrate instead of running out of turn. Each
// store applies them by its own transaction rules.
func LoadMigrations(fsys fs.FS) ([]Migration, error) {
	entries, err := fs.ReadDir(fsys, "migrations")
	if err != nil {
		return nil, err
	}
	var ms []Migration
	for _, e := range entries {
		prefix, _, ok := strings.Cut(e.Name(), "_")
		v, err := strconv.ParseInt(prefix, 10, 64)
		if !ok || err != nil || v <= 0 {
			return nil, fmt.Errorf("migration %s: name must start with a positive number and '_'", e.Name())
		}
		if len(ms) > 0 && ms[len(ms)-1].Version >= v {
			return nil, fmt.Errorf("migration %s: version %d is not after %d", e.Name(), v, ms[len(ms)-1].Version)
		}
		b, err := fs.ReadFile(fsys, "migrations/"+e.Name())
		if err != nil {
			return nil, err
		}
		ms = append(ms, Migration{Version: v, Name: e.Name(), SQL: string(b)})
	}
	return ms, nil
}
