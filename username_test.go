package latchkey_test

import (
	"context"
	"strings"
	"testing"

	"github.com/latchkeyhq/latchkey"
)

// TestUsernamesNormalised: a username is stored, and looked up, in NFKC
// form, as Django keeps it: a look-alike that NFKC folds is the same
// name, for a new user, a login and an administrator alike. NFKC keeps
// look-alikes of other scripts apart.
func TestUsernamesNormalised(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, latchkey.Options{})
	alice := f.addUser(t, "alice")
	josé := f.addUser(t, "jos\u00e9")
	if bob := f.addUser(t, "ｂｏｂ"); bob.Username != "bob" {
		t.Fatalf("ｂｏｂ stored as %q, want bob", bob.Username)
	}
	f.addUser(t, "fi")
	for _, tc := range []struct{ typed, taken string }{
		{"alice", "alice"},
		{"ａｌｉｃｅ", "alice"},
		{"jose\u0301", "jos\u00e9"},
		{"\ufb01", "fi"}, // a ligature
	} {
		_, err := f.auth.AddUser(ctx, latchkey.NewUser{Username: tc.typed}, pw)
		msgs := latchkey.AsError(err).Fields["username"]
		if latchkey.ErrorKind(err) != latchkey.KindInvalid || len(msgs) != 1 || !strings.Contains(msgs[0], "A user named "+tc.taken+" already exists") {
			t.Errorf("AddUser(%q) = %v %q, want a taken username naming %s", tc.typed, err, msgs, tc.taken)
		}
	}
	cyrillic := f.addUser(t, "\u0430lice")
	if cyrillic.ID == alice.ID {
		t.Fatal("the Cyrillic look-alike is alice")
	}
	for typed, want := range map[string]int64{
		"alice":      alice.ID,
		"ａｌｉｃｅ":      alice.ID,
		"jos\u00e9":  josé.ID,
		"jose\u0301": josé.ID,
		"\u0430lice": cyrillic.ID,
	} {
		if is := f.login(t, typed); is.User.ID != want {
			t.Errorf("login as %q reached user %d (%s), want %d", typed, is.User.ID, is.User.Username, want)
		}
	}
	// The administrator's commands name users alike.
	if err := f.auth.SetUserActive(ctx, "ａｌｉｃｅ", false); err != nil {
		t.Fatal(err)
	}
	_, err := f.auth.Login(ctx, latchkey.LoginRequest{Username: "alice", Password: pw})
	wantErr(t, err, latchkey.ErrInvalidCredentials)
	if err := f.auth.SetUserPassword(ctx, "jose\u0301", "another long passphrase"); err != nil {
		t.Fatal(err)
	}
	// Names no user can have are invalid input, not unknown users.
	for _, name := range []string{"eve\x1b[2K", "nul\x00", "caf\xe9", "two words", "in\u200bvisible"} {
		_, err := f.auth.AddUser(ctx, latchkey.NewUser{Username: name}, pw)
		if latchkey.AsError(err).Fields["username"] == nil {
			t.Errorf("AddUser(%q) = %v, want an invalid username", name, err)
		}
	}
	for _, name := range []string{"eve\x1b[2K", "nul\x00", "caf\xe9"} {
		_, err := f.auth.Login(ctx, latchkey.LoginRequest{Username: name, Password: pw})
		if latchkey.AsError(err).Fields["username"] == nil {
			t.Errorf("Login(%q) = %v, want an invalid username", name, err)
		}
		if err := f.auth.SetUserActive(ctx, name, true); latchkey.AsError(err).Fields["username"] == nil {
			t.Errorf("SetUserActive(%q) = %v, want an invalid username", name, err)
		}
	}
}

// TestLegacyUsernames: a name stored before usernames were normalised
// (by `user add` or an import) keeps logging in typed as it was stored,
// and two users whose names differ only by normalisation stay apart, as
// they were; a new user cannot take the stored name either way.
func TestLegacyUsernames(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, latchkey.Options{})
	hash, err := cheapHasher(t).Hash(ctx, pw)
	if err != nil {
		t.Fatal(err)
	}
	legacy := func(name string) latchkey.User {
		u, err := f.store.CreateUser(ctx, latchkey.User{Username: name, PasswordHash: hash, Active: true, DateJoined: f.clock.Now()})
		if err != nil {
			t.Fatal(err)
		}
		return u
	}
	carol := legacy("ｃａｒｏｌ")
	if is := f.login(t, "ｃａｒｏｌ"); is.User.ID != carol.ID {
		t.Fatalf("login as ｃａｒｏｌ reached %s", is.User.Username)
	}
	// Not by its NFKC form: no user is stored under "carol".
	_, err = f.auth.Login(ctx, latchkey.LoginRequest{Username: "carol", Password: pw})
	wantErr(t, err, latchkey.ErrInvalidCredentials)
	_, err = f.auth.AddUser(ctx, latchkey.NewUser{Username: "ｃａｒｏｌ"}, pw)
	if msgs := latchkey.AsError(err).Fields["username"]; len(msgs) != 1 || !strings.Contains(msgs[0], `A user named "\uff43\uff41\uff52\uff4f\uff4c" already exists.`) {
		t.Fatalf("AddUser(ｃａｒｏｌ) = %v %q", err, msgs)
	}
	if err := f.auth.SetUserPassword(ctx, "ｃａｒｏｌ", "another long passphrase"); err != nil {
		t.Fatal(err)
	}

	// A pair made before: each keeps its own login.
	dave, daveFW := legacy("dave"), legacy("ｄａｖｅ")
	for typed, want := range map[string]int64{"dave": dave.ID, "ｄａｖｅ": daveFW.ID} {
		if is := f.login(t, typed); is.User.ID != want {
			t.Errorf("login as %q reached %s", typed, is.User.Username)
		}
	}
}
