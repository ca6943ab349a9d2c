package latchkey_test

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"strings"
	"testing"

	"github.com/latchkeyhq/latchkey"
)

// TestLoginLogNamesOnlyUsers: the login gate's log line names a user only
// when the user exists. A password typed into the username field never
// reaches the log; every line carries a keyed hash of the typed name, the
// same for the same name, so that attempts on one name can be told apart
// and counted, and matched with the lines that name the user.
func TestLoginLogNamesOnlyUsers(t *testing.T) {
	ctx := context.Background()
	var buf bytes.Buffer
	f := newFixture(t, latchkey.Options{Logger: slog.New(slog.NewJSONHandler(&buf, nil))})
	f.addUser(t, "alice")
	const typo = "alice's secret passphrase" // her password, typed as her name
	for _, tc := range []struct {
		user string
		pw   latchkey.Password
	}{
		{typo, "whatever"},
		{typo, pw},
		{"alice", "wrong passphrase"},
		{"alice", pw},
		{"ａｌｉｃｅ", pw}, // found under its NFKC form
		{"nobody", pw},
		{"nul\x00", pw}, // refused before the lookup
	} {
		f.auth.Login(ctx, latchkey.LoginRequest{Username: tc.user, Password: tc.pw})
	}
	if strings.Contains(buf.String(), "secret") {
		t.Fatalf("an unknown username reached the log:\n%s", &buf)
	}
	type line struct {
		Msg, Outcome, Username string
		Hash                   string `json:"username_hash"`
	}
	var lines []line
	for _, l := range strings.Split(strings.TrimSpace(buf.String()), "\n") {
		var v line
		if err := json.Unmarshal([]byte(l), &v); err != nil {
			t.Fatal(err)
		}
		if v.Msg == "login" {
			lines = append(lines, v)
		}
	}
	if len(lines) != 7 {
		t.Fatalf("%d login lines, want 7:\n%s", len(lines), &buf)
	}
	for i, want := range []string{"", "", "alice", "alice", "alice", "", ""} {
		if lines[i].Username != want {
			t.Errorf("line %d names %q, want %q", i, lines[i].Username, want)
		}
		if len(lines[i].Hash) != 16 {
			t.Errorf("line %d: username_hash %q", i, lines[i].Hash)
		}
	}
	h := func(i int) string { return lines[i].Hash }
	if h(0) != h(1) || h(2) != h(3) || h(3) != h(4) || h(0) == h(2) || h(0) == h(5) || h(5) == h(6) {
		t.Errorf("hashes do not follow the names: %q", lines)
	}
}
