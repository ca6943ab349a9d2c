package main

import (
	"log/slog"
	"os"

	"github.com/latchkeyhq/latchkey/internal/dial"
)

// warnFileModes logs a warning for each file of a SQLite database that
// users other than its owner may open. latchkey creates the files 0600
// (they hold password hashes, token digests, emails and addresses), but
// the mode of a file it did not create is its operator's to change.
func warnFileModes(log *slog.Logger, db dial.DatabaseURL) {
	if db.Kind != "sqlite" {
		return
	}
	for _, name := range []string{db.Path, db.Path + "-wal", db.Path + "-shm"} {
		fi, err := os.Stat(name)
		if err != nil || fi.Mode().Perm()&0o077 == 0 {
			continue
		}
		log.Warn("database file open to other users; chmod 600 it (and its -wal and -shm files)",
			"file", name, "mode", fi.Mode().Perm().String())
	}
}
