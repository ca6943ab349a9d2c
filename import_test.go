package latchkey_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/latchkeyhq/latchkey"
)

// ownHash is the tests' ImportOptions.KeepHash.
func ownHash(stored string) bool { return strings.HasPrefix(stored, "own$") }

func importedUser(id int64, username string) latchkey.User {
	return latchkey.User{ID: id, Username: username, PasswordHash: "django$" + username, Active: true}
}

func TestDecideImportUser(t *testing.T) {
	alice := importedUser(1, "alice")
	with := func(u latchkey.User, f func(*latchkey.User)) latchkey.User { f(&u); return u }
	for _, tt := range []struct {
		name   string
		stored []latchkey.User
		in     latchkey.User
		action latchkey.ImportAction
		reason string
		want   latchkey.User // for Created and Updated
		revoke bool
	}{
		{"New", nil, alice, latchkey.ImportCreated, "", alice, false},
		{"Same", []latchkey.User{alice}, alice, latchkey.ImportUnchanged, "", latchkey.User{}, false},
		{"IDTaken", []latchkey.User{importedUser(1, "admin")}, alice, latchkey.ImportSkipped, latchkey.SkipIDTaken, latchkey.User{}, false},
		{"UsernameTaken", []latchkey.User{importedUser(2, "alice")}, alice, latchkey.ImportSkipped, latchkey.SkipUsernameTaken, latchkey.User{}, false},
		// The id decides first: never a rename, nor a merge.
		{"BothTaken", []latchkey.User{importedUser(1, "admin"), importedUser(2, "alice")}, alice, latchkey.ImportSkipped, latchkey.SkipIDTaken, latchkey.User{}, false},
		{"NewEmail", []latchkey.User{alice}, with(alice, func(u *latchkey.User) { u.Email = "a@example.com" }),
			latchkey.ImportUpdated, "", with(alice, func(u *latchkey.User) { u.Email = "a@example.com" }), false},
		{"NewHash", []latchkey.User{alice}, with(alice, func(u *latchkey.User) { u.PasswordHash = "django$new" }),
			latchkey.ImportUpdated, "", with(alice, func(u *latchkey.User) { u.PasswordHash = "django$new" }), true},
		{"Disabled", []latchkey.User{alice}, with(alice, func(u *latchkey.User) { u.Active = false }),
			latchkey.ImportUpdated, "", with(alice, func(u *latchkey.User) { u.Active = false }), true},
		// A name imported before usernames were normalised takes its
		// NFKC form, unless another user holds it.
		{"NormalisedName", []latchkey.User{with(alice, func(u *latchkey.User) { u.Username = "ａｌｉｃｅ" })}, alice,
			latchkey.ImportUpdated, "", alice, false},
		{"NormalisedNameTaken", []latchkey.User{with(alice, func(u *latchkey.User) { u.Username = "ａｌｉｃｅ" }), importedUser(2, "alice")}, alice,
			latchkey.ImportSkipped, latchkey.SkipUsernameTaken, latchkey.User{}, false},
		{"KeepsOwnHash", []latchkey.User{with(alice, func(u *latchkey.User) { u.PasswordHash = "own$hash" })},
			with(alice, func(u *latchkey.User) { u.PasswordHash = "django$new" }), latchkey.ImportUnchanged, "", latchkey.User{}, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got, res, revoke := latchkey.DecideImportUser(tt.in, tt.stored, ownHash)
			if res.Action != tt.action || res.Reason != tt.reason || revoke != tt.revoke {
				t.Fatalf("DecideImportUser = %v %q, revoke %v; want %v %q, revoke %v", res.Action, res.Reason, revoke, tt.action, tt.reason, tt.revoke)
			}
			if (tt.action == latchkey.ImportCreated || tt.action == latchkey.ImportUpdated) && got != tt.want {
				t.Errorf("DecideImportUser stores %+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestDecideImportSession(t *testing.T) {
	s := latchkey.Session{ID: "s1", UserID: 1}
	id := func(v int64) *int64 { return &v }
	yes, no := true, false
	for _, tt := range []struct {
		name   string
		owner  *int64
		active *bool
		action latchkey.ImportAction
		reason string
	}{
		{"New", nil, &yes, latchkey.ImportCreated, ""},
		{"Stored", id(1), &yes, latchkey.ImportUnchanged, ""},
		// A stored session stays as it is, whatever its user became.
		{"StoredUserInactive", id(1), &no, latchkey.ImportUnchanged, ""},
		{"TokenTaken", id(2), &yes, latchkey.ImportSkipped, latchkey.SkipTokenTaken},
		{"UserMissing", nil, nil, latchkey.ImportSkipped, latchkey.SkipUserMissing},
		{"UserInactive", nil, &no, latchkey.ImportSkipped, latchkey.SkipUserInactive},
	} {
		t.Run(tt.name, func(t *testing.T) {
			res := latchkey.DecideImportSession(s, tt.owner, tt.active)
			if res.Action != tt.action || res.Reason != tt.reason {
				t.Errorf("DecideImportSession = %v %q, want %v %q", res.Action, res.Reason, tt.action, tt.reason)
			}
		})
	}
}

// TestUserImportPut runs UserImport over a map, counting its statements:
// a first import inserts each user in one, a re-run reads each in one.
func TestUserImportPut(t *testing.T) {
	stored := map[int64]latchkey.User{}
	var calls []string
	p := &latchkey.UserImport{
		KeepHash: ownHash,
		Insert: func(_ context.Context, u latchkey.User) (bool, error) {
			calls = append(calls, "insert "+u.Username)
			for _, x := range stored {
				if x.ID == u.ID || x.Username == u.Username {
					return false, nil
				}
			}
			stored[u.ID] = u
			return true, nil
		},
		Find: func(_ context.Context, u latchkey.User) ([]latchkey.User, error) {
			calls = append(calls, "find "+u.Username)
			var us []latchkey.User
			for _, x := range stored {
				if x.ID == u.ID || x.Username == u.Username {
					us = append(us, x)
				}
			}
			return us, nil
		},
		Update: func(_ context.Context, m latchkey.User, revoke bool) ([]latchkey.Digest, error) {
			calls = append(calls, fmt.Sprintf("update %s revoke %v", m.Username, revoke))
			stored[m.ID] = m
			return nil, nil
		},
		Fail: func(op string, err error) error { return fmt.Errorf("test: %s: %w", op, err) },
	}
	put := func(u latchkey.User) latchkey.ImportResult {
		t.Helper()
		res, err := p.Put(t.Context(), u)
		if err != nil {
			t.Fatalf("Put(%s): %v", u.Username, err)
		}
		return res
	}
	steps := []struct {
		u      latchkey.User
		action latchkey.ImportAction
		calls  string
	}{
		{importedUser(1, "alice"), latchkey.ImportCreated, "insert alice"},
		{importedUser(2, "bob"), latchkey.ImportCreated, "insert bob"},
		{importedUser(1, "alice"), latchkey.ImportUnchanged, "insert alice, find alice"},
		{importedUser(2, "bob"), latchkey.ImportUnchanged, "find bob"},
		{func() latchkey.User { u := importedUser(2, "bob"); u.Active = false; return u }(), latchkey.ImportUpdated, "find bob, update bob revoke true"},
		{importedUser(3, "carol"), latchkey.ImportCreated, "find carol, insert carol"},
		{importedUser(4, "dan"), latchkey.ImportCreated, "insert dan"},
	}
	for _, step := range steps {
		calls = nil
		if res := put(step.u); res.Action != step.action {
			t.Errorf("Put(%s) = %v, want %v", step.u.Username, res.Action, step.action)
		}
		if got := strings.Join(calls, ", "); got != step.calls {
			t.Errorf("Put(%s) ran %q, want %q", step.u.Username, got, step.calls)
		}
	}

	// Names are stored in NFKC form; one that is no username is skipped,
	// and so is one whose NFKC form is taken.
	for _, tc := range []struct {
		u      latchkey.User
		reason string
	}{
		{importedUser(5, "ｅｒｉｎ"), ""},
		{importedUser(6, "erin"), latchkey.SkipUsernameTaken},
		{importedUser(7, "ｄａｎ"), latchkey.SkipNormalizedUsernameTaken},
		{importedUser(8, "eve\x1b[2K"), latchkey.SkipInvalidUsername},
		{importedUser(9, "two words"), latchkey.SkipInvalidUsername},
		{importedUser(10, ""), latchkey.SkipInvalidUsername},
	} {
		if res := put(tc.u); res.Reason != tc.reason {
			t.Errorf("Put(%q) = %v %q, want %q", tc.u.Username, res.Action, res.Reason, tc.reason)
		}
	}
	if u := stored[5]; u.Username != "erin" {
		t.Errorf("stored %q, want erin", u.Username)
	}

	_, err := p.Put(t.Context(), importedUser(0, "nobody"))
	if latchkey.ErrorKind(err) != latchkey.KindInvalid || !strings.HasPrefix(err.Error(), "test: import user: ") {
		t.Errorf("Put(ID 0) = %v, want an invalid error through Fail", err)
	}
	broken := errors.New("broken")
	p.Find = func(context.Context, latchkey.User) ([]latchkey.User, error) { return nil, broken }
	if _, err := p.Put(t.Context(), importedUser(1, "alice")); !errors.Is(err, broken) || !strings.HasPrefix(err.Error(), "test: import user: ") {
		t.Errorf("Put with a failing Find = %v, want its error through Fail", err)
	}
}
