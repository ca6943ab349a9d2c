package main

import (
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// wantModes checks the permission bits of files.
func wantModes(t *testing.T, want fs.FileMode, files ...string) {
	t.Helper()
	for _, f := range files {
		fi, err := os.Stat(f)
		if err != nil {
			t.Fatal(err)
		}
		if got := fi.Mode().Perm(); got != want {
			t.Errorf("%s: mode %v, want %v", filepath.Base(f), got, want)
		}
	}
}

// TestEndToEndFileModes checks that the database files, which hold
// password hashes and token digests, are created for their owner alone,
// by serve and by the user commands, and that a file made by someone else
// keeps its mode but is warned about.
func TestEndToEndFileModes(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	const warning = "database file open to other users"
	dir := t.TempDir()

	served := filepath.Join(dir, "served.db")
	p := serve(t, []string{"LATCHKEY_DATABASE_URL=sqlite:" + served})
	wantModes(t, 0o600, served, served+"-wal", served+"-shm")
	if strings.Contains(p.output(), warning) {
		t.Errorf("a warning about the files serve created:\n%s", p.output())
	}

	added := filepath.Join(dir, "added.db")
	addUser(t, []string{"LATCHKEY_DATABASE_URL=sqlite:" + added}, "alice")
	wantModes(t, 0o600, added)

	// SQLite gives the -wal and -shm files the database file's mode.
	existing := filepath.Join(dir, "existing.db")
	if err := os.WriteFile(existing, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(existing, 0o644); err != nil { // whatever the umask
		t.Fatal(err)
	}
	p = serve(t, []string{"LATCHKEY_DATABASE_URL=sqlite:" + existing})
	wantModes(t, 0o644, existing, existing+"-wal", existing+"-shm")
	for _, f := range []string{existing, existing + "-wal", existing + "-shm"} {
		if !strings.Contains(p.output(), `"file":"`+f+`"`) || !strings.Contains(p.output(), warning) {
			t.Errorf("no warning about %s:\n%s", filepath.Base(f), p.output())
		}
	}
}
