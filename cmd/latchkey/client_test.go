package main

import (
	"bytes"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// TestClientCommands runs latchkey client add, list and remove in process
// on one SQLite file: add prints the secret alone on stdout, a secret that
// neither list nor the database shows again.
func TestClientCommands(t *testing.T) {
	env := envOf("LATCHKEY_DATABASE_URL", "sqlite:"+filepath.Join(t.TempDir(), "l.db"))
	runOK := func(args ...string) (stdout, stderr string) {
		t.Helper()
		var out, errOut bytes.Buffer
		if err := run(t.Context(), args, env, strings.NewReader(""), &out, &errOut); err != nil {
			t.Fatalf("run(%q): %v\n%s", args, err, errOut.String())
		}
		return out.String(), errOut.String()
	}
	runErr := func(want string, args ...string) {
		t.Helper()
		var out bytes.Buffer
		err := run(t.Context(), args, env, strings.NewReader(""), &out, &out)
		if err == nil || err.Error() != want || exitCode(err) != 1 {
			t.Fatalf("run(%q) = %v (exit %d), want the error %q", args, err, exitCode(err), want)
		}
	}

	secret, note := runOK("client", "add", "billing")
	if !regexp.MustCompile(`^lkc_[A-Za-z0-9_-]{43}\n$`).MatchString(secret) {
		t.Fatalf("client add printed %q on stdout, want the secret alone", secret)
	}
	if !strings.Contains(note, "billing") || strings.Contains(note, secret[4:40]) {
		t.Fatalf("client add wrote %q on stderr", note)
	}
	other, _ := runOK("client", "add", "reports")
	if other == secret {
		t.Fatal("two clients got one secret")
	}
	runErr("name: A service client named billing already exists.", "client", "add", "billing")

	list, _ := runOK("client", "list")
	lines := strings.Split(strings.TrimSpace(list), "\n")
	if len(lines) != 3 || !strings.HasPrefix(lines[0], "NAME") || !strings.HasPrefix(lines[1], "billing ") || !strings.HasPrefix(lines[2], "reports ") {
		t.Fatalf("client list:\n%s", list)
	}
	created, err := time.Parse(time.RFC3339, strings.TrimSpace(strings.TrimPrefix(lines[1], "billing")))
	if err != nil || time.Since(created) > time.Minute {
		t.Fatalf("client list: creation time of billing %q: %v", lines[1], err)
	}
	if strings.Contains(list, secret[4:40]) || strings.Contains(list, "lkc_") {
		t.Fatalf("client list shows a secret:\n%s", list)
	}

	if out, _ := runOK("client", "remove", "billing"); !strings.Contains(out, "billing removed") {
		t.Fatalf("client remove: %q", out)
	}
	runErr("no such service client: billing", "client", "remove", "billing")
	if list, _ := runOK("client", "list"); strings.Contains(list, "billing") || !strings.Contains(list, "reports") {
		t.Fatalf("client list after remove:\n%s", list)
	}
	// A removed name can be added again, with a new secret.
	if again, _ := runOK("client", "add", "billing"); again == secret {
		t.Fatal("a client added again got its old secret")
	}
}
