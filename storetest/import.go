package storetest

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/latchkeyhq/latchkey"
)

// The conformance cases of latchkey.Importer: every Store of latchkey
// implements it.

var importTests = []test{
	{"Creates", func(t *testing.T, s latchkey.Store) {
		alice, bob := imported(1, "alice"), imported(2, "bob")
		bob.Active, bob.LastLogin = false, time.Time{}
		alice.LastLogin = base.Add(-time.Hour).In(time.FixedZone("UTC+2", 2*60*60))
		alice.DateJoined = base.Add(-48*time.Hour + 123*time.Nanosecond)
		in := importSessionFor(alice, "a1", base, time.Hour)
		last := mustLastChange(t, s)
		var res []latchkey.ImportResult
		mustImport(t, s, func(tx latchkey.ImportTx) error {
			res = append(res, put(t, tx, alice), put(t, tx, bob), putSession(t, tx, in))
			return nil
		})
		for i, r := range res {
			wantResult(t, fmt.Sprintf("result %d", i), r, latchkey.ImportCreated, "")
		}
		alice.DateJoined = alice.DateJoined.Truncate(time.Microsecond)
		checkUser(t, "UserByID(alice)", mustUserByID(t, s, 1), alice)
		checkUser(t, "UserByID(bob)", mustUserByID(t, s, 2), bob)
		wantSession(t, s, in)
		if got := mustLastChange(t, s); got != last {
			t.Errorf("LastChange = %d after an import that only created, want %d: nothing new can be cached", got, last)
		}
		// Users created later get ids past the imported ones.
		u := mustUser(t, s, "carol")
		if u.ID <= 2 {
			t.Errorf("CreateUser after an import assigned ID %d, want more than 2", u.ID)
		}
	}},
	{"RerunChangesNothing", func(t *testing.T, s latchkey.Store) {
		alice, bob := imported(1, "alice"), imported(2, "bob")
		bob.Active = false
		a1 := importSessionFor(alice, "a1", base, time.Hour)
		all := func(tx latchkey.ImportTx) []latchkey.ImportResult {
			return []latchkey.ImportResult{put(t, tx, alice), put(t, tx, bob), putSession(t, tx, a1)}
		}
		mustImport(t, s, func(tx latchkey.ImportTx) error { all(tx); return nil })
		last := mustLastChange(t, s)
		var again []latchkey.ImportResult
		// Even with a later expiry, a stored session is never extended.
		a1.ExpiresAt = a1.ExpiresAt.Add(time.Hour)
		mustImport(t, s, func(tx latchkey.ImportTx) error { again = all(tx); return nil })
		for i, r := range again {
			wantResult(t, fmt.Sprintf("second import, result %d", i), r, latchkey.ImportUnchanged, "")
		}
		a1.ExpiresAt = a1.ExpiresAt.Add(-time.Hour)
		wantSession(t, s, a1)
		checkUser(t, "UserByID(bob)", mustUserByID(t, s, 2), bob)
		if got := mustLastChange(t, s); got != last {
			t.Errorf("LastChange = %d after an import that changed nothing, want %d", got, last)
		}
	}},
	{"SameUserTwice", func(t *testing.T, s latchkey.Store) {
		alice := imported(1, "alice")
		mustImport(t, s, func(tx latchkey.ImportTx) error {
			wantResult(t, "first put", put(t, tx, alice), latchkey.ImportCreated, "")
			wantResult(t, "second put", put(t, tx, alice), latchkey.ImportUnchanged, "")
			return nil
		})
	}},
	{"Updates", func(t *testing.T, s latchkey.Store) {
		alice, bob := imported(1, "alice"), imported(2, "bob")
		mustImport(t, s, func(tx latchkey.ImportTx) error { put(t, tx, alice); put(t, tx, bob); return nil })
		kept := mustSession(t, s, alice, "a1", base, time.Hour)
		alice = mustUserByID(t, s, 1) // the login set the last login
		last := mustLastChange(t, s)
		alice.Email, alice.FirstName, alice.LastName = "alicia@example.com", "Alicia", "Ångström"
		alice.DateJoined = alice.DateJoined.Add(-time.Hour)
		var res latchkey.ImportResult
		mustImport(t, s, func(tx latchkey.ImportTx) error { res = put(t, tx, alice); return nil })
		wantResult(t, "PutUser(new email and names)", res, latchkey.ImportUpdated, "")
		checkDigests(t, "PutUser.Revoked", res.Revoked, nil)
		checkUser(t, "UserByID", mustUserByID(t, s, 1), alice)
		// New names or email revoke nothing; the cached record changed.
		wantSession(t, s, kept)
		checkChanges(t, "the import", changesSince(t, s, last), []latchkey.Change{{UserID: 1}})
	}},
	{"Taken", func(t *testing.T, s latchkey.Store) {
		// admin was created in latchkey before the import, with the id
		// that a Django user has.
		admin := mustUser(t, s, "admin")
		alice := imported(admin.ID+1, "alice")
		mustImport(t, s, func(tx latchkey.ImportTx) error { put(t, tx, alice); return nil })
		adminSession := mustSession(t, s, admin, "admin1", base, time.Hour)
		admin = mustUserByID(t, s, admin.ID)
		last := mustLastChange(t, s)
		cases := []struct {
			u      latchkey.User
			reason string
		}{
			{imported(admin.ID, "root"), latchkey.SkipIDTaken},          // never a rename
			{imported(admin.ID, "alice"), latchkey.SkipIDTaken},         // nor a merge
			{imported(admin.ID+2, "alice"), latchkey.SkipUsernameTaken}, // a new user, a taken name
			{imported(admin.ID+2, "admin"), latchkey.SkipUsernameTaken}, // the same with a native user's name
			{imported(alice.ID, "alicia"), latchkey.SkipIDTaken},        // a rename in Django
			{func() latchkey.User { u := alice; u.Username = "admin"; return u }(), latchkey.SkipIDTaken},
		}
		mustImport(t, s, func(tx latchkey.ImportTx) error {
			for _, c := range cases {
				wantResult(t, fmt.Sprintf("PutUser(%d, %s)", c.u.ID, c.u.Username), put(t, tx, c.u), latchkey.ImportSkipped, c.reason)
			}
			return nil
		})
		checkUser(t, "UserByID(admin)", mustUserByID(t, s, admin.ID), admin)
		checkUser(t, "UserByID(alice)", mustUserByID(t, s, alice.ID), alice)
		wantErr(t, "UserByID(new)", second(s.UserByID(t.Context(), admin.ID+2)), latchkey.ErrNotFound)
		wantSession(t, s, adminSession)
		if got := mustLastChange(t, s); got != last {
			t.Errorf("LastChange = %d after skips, want %d", got, last)
		}
	}},
	{"KeepsLatchkeyHash", func(t *testing.T, s latchkey.Store) {
		alice := imported(1, "alice")
		mustImport(t, s, func(tx latchkey.ImportTx) error { put(t, tx, alice); return nil })
		// The user logs in to latchkey, which rehashes the password.
		rehashed := ownHashPrefix + "rehashed-at-login"
		in := sessionFor(alice, "a1", base, time.Hour)
		if err := s.CreateSession(t.Context(), in, latchkey.LoginUpdate{ExpectHash: alice.PasswordHash, NewHash: rehashed, LastLogin: base}); err != nil {
			t.Fatalf("CreateSession: %v", err)
		}
		last := mustLastChange(t, s)
		for _, hash := range []string{alice.PasswordHash, "pbkdf2_sha256$600000$other$changed-in-django="} {
			again := alice
			again.PasswordHash = hash
			var res latchkey.ImportResult
			mustImport(t, s, func(tx latchkey.ImportTx) error { res = put(t, tx, again); return nil })
			wantResult(t, "PutUser(Django hash over latchkey's)", res, latchkey.ImportUnchanged, "")
			if !res.KeptPassword {
				t.Error("KeptPassword = false, want true")
			}
		}
		// Another field changes: the update still keeps the hash, and
		// revokes nothing.
		alice.Email = "new@example.com"
		var res latchkey.ImportResult
		mustImport(t, s, func(tx latchkey.ImportTx) error { res = put(t, tx, alice); return nil })
		wantResult(t, "PutUser(new email)", res, latchkey.ImportUpdated, "")
		if !res.KeptPassword || len(res.Revoked) > 0 {
			t.Errorf("KeptPassword = %v, Revoked = %d digests; want true, 0", res.KeptPassword, len(res.Revoked))
		}
		got := mustUserByID(t, s, 1)
		if got.PasswordHash != rehashed || got.Email != alice.Email {
			t.Errorf("stored user has hash %q, email %q; want latchkey's hash and %q", got.PasswordHash, got.Email, alice.Email)
		}
		wantSession(t, s, in)
		checkChanges(t, "the imports", changesSince(t, s, last), []latchkey.Change{{UserID: 1}})
	}},
	{"LaterLastLogin", func(t *testing.T, s latchkey.Store) {
		alice := imported(1, "alice")
		alice.LastLogin = base
		mustImport(t, s, func(tx latchkey.ImportTx) error { put(t, tx, alice); return nil })
		for _, step := range []struct {
			in, want time.Time
			action   latchkey.ImportAction
		}{
			{time.Time{}, base, latchkey.ImportUnchanged},
			{base.Add(-time.Hour), base, latchkey.ImportUnchanged},
			{base.Add(time.Hour), base.Add(time.Hour), latchkey.ImportUpdated},
		} {
			alice.LastLogin = step.in
			var res latchkey.ImportResult
			mustImport(t, s, func(tx latchkey.ImportTx) error { res = put(t, tx, alice); return nil })
			wantResult(t, fmt.Sprintf("PutUser(last login %v)", step.in), res, step.action, "")
			if got := mustUserByID(t, s, 1).LastLogin; !got.Equal(step.want) {
				t.Errorf("after importing last login %v: LastLogin = %v, want %v", step.in, got, step.want)
			}
		}
	}},
	{"Revokes", func(t *testing.T, s latchkey.Store) {
		for i, tc := range []struct {
			name   string
			change func(u *latchkey.User)
			revoke bool
		}{
			{"Disable", func(u *latchkey.User) { u.Active = false }, true},
			{"NewHash", func(u *latchkey.User) { u.PasswordHash = "pbkdf2_sha256$600000$new$changed-in-django=" }, true},
			{"Unusable", func(u *latchkey.User) { u.PasswordHash = "!unusable" }, true},
			{"Email", func(u *latchkey.User) { u.Email = "new@example.com" }, false},
		} {
			t.Run(tc.name, func(t *testing.T) {
				id := int64(i+1) * 10 // distinct per case: the cases share s
				u := imported(id, "user-"+tc.name)
				other := imported(id+1, "other-"+tc.name)
				mustImport(t, s, func(tx latchkey.ImportTx) error { put(t, tx, u); put(t, tx, other); return nil })
				ss := []latchkey.Session{
					mustSession(t, s, u, tc.name+"1", base, time.Hour),
					mustSession(t, s, u, tc.name+"2", base, time.Hour),
				}
				theirs := mustSession(t, s, other, tc.name+"-theirs", base, time.Hour)
				u = mustUserByID(t, s, id)
				last := mustLastChange(t, s)
				tc.change(&u)
				var res latchkey.ImportResult
				mustImport(t, s, func(tx latchkey.ImportTx) error { res = put(t, tx, u); return nil })
				wantResult(t, "PutUser", res, latchkey.ImportUpdated, "")
				checkUser(t, "UserByID", mustUserByID(t, s, id), u)
				wantSession(t, s, theirs)
				want := []latchkey.Change{{UserID: id}}
				if !tc.revoke {
					checkDigests(t, "PutUser.Revoked", res.Revoked, nil)
					for _, in := range ss {
						wantSession(t, s, in)
					}
				} else {
					checkDigests(t, "PutUser.Revoked", res.Revoked, digests(ss))
					for _, in := range ss {
						wantNoSession(t, s, in.Digest)
						want = append(want, latchkey.Change{UserID: id, Session: true, Digest: in.Digest})
					}
				}
				checkChanges(t, "the import", changesSince(t, s, last), want)
			})
		}
	}},
	{"Enable", func(t *testing.T, s latchkey.Store) {
		u := imported(1, "alice")
		u.Active = false
		mustImport(t, s, func(tx latchkey.ImportTx) error { put(t, tx, u); return nil })
		last := mustLastChange(t, s)
		u.Active = true
		var res latchkey.ImportResult
		mustImport(t, s, func(tx latchkey.ImportTx) error { res = put(t, tx, u); return nil })
		wantResult(t, "PutUser(enabled)", res, latchkey.ImportUpdated, "")
		checkDigests(t, "PutUser(enabled).Revoked", res.Revoked, nil)
		checkChanges(t, "the import", changesSince(t, s, last), []latchkey.Change{{UserID: 1}})
		mustSession(t, s, u, "s1", base, time.Hour)
	}},
	{"SessionSkips", func(t *testing.T, s latchkey.Store) {
		alice, bob, leo := imported(1, "alice"), imported(2, "bob"), imported(3, "leo")
		leo.Active = false
		taken := importSessionFor(alice, "a1", base, time.Hour)
		mustImport(t, s, func(tx latchkey.ImportTx) error {
			put(t, tx, alice)
			put(t, tx, bob)
			put(t, tx, leo)
			putSession(t, tx, taken)
			return nil
		})
		last := mustLastChange(t, s)
		stolen := taken
		stolen.UserID, stolen.ID = bob.ID, "other-id"
		cases := []struct {
			s      latchkey.Session
			reason string
		}{
			{importSessionFor(imported(99, "ghost"), "g1", base, time.Hour), latchkey.SkipUserMissing},
			{importSessionFor(leo, "l1", base, time.Hour), latchkey.SkipUserInactive},
			{stolen, latchkey.SkipTokenTaken},
		}
		mustImport(t, s, func(tx latchkey.ImportTx) error {
			for _, c := range cases {
				wantResult(t, "PutSession("+c.s.ID+")", putSession(t, tx, c.s), latchkey.ImportSkipped, c.reason)
			}
			return nil
		})
		wantNoSession(t, s, cases[0].s.Digest)
		wantNoSession(t, s, cases[1].s.Digest)
		wantSession(t, s, taken)
		if got := mustLastChange(t, s); got != last {
			t.Errorf("LastChange = %d after skips, want %d", got, last)
		}
	}},
	{"SessionOfUserDisabledInSameImport", func(t *testing.T, s latchkey.Store) {
		alice := imported(1, "alice")
		mustImport(t, s, func(tx latchkey.ImportTx) error { put(t, tx, alice); return nil })
		alice.Active = false
		in := importSessionFor(alice, "a1", base, time.Hour)
		mustImport(t, s, func(tx latchkey.ImportTx) error {
			put(t, tx, alice)
			wantResult(t, "PutSession", putSession(t, tx, in), latchkey.ImportSkipped, latchkey.SkipUserInactive)
			return nil
		})
		wantNoSession(t, s, in.Digest)
	}},
	{"RollsBack", func(t *testing.T, s latchkey.Store) {
		alice := imported(1, "alice")
		mustImport(t, s, func(tx latchkey.ImportTx) error { put(t, tx, alice); return nil })
		live := mustSession(t, s, alice, "a1", base, time.Hour)
		alice = mustUserByID(t, s, 1)
		last := mustLastChange(t, s)
		sentinel := errors.New("dry run")
		err := importer(t, s).Import(t.Context(), importOptions, func(tx latchkey.ImportTx) error {
			changed := alice
			changed.Active = false
			put(t, tx, changed)
			bob := imported(2, "bob")
			put(t, tx, bob)
			putSession(t, tx, importSessionFor(bob, "b1", base, time.Hour))
			return fmt.Errorf("counting done: %w", sentinel)
		})
		if !errors.Is(err, sentinel) {
			t.Fatalf("Import = %v, want fn's error", err)
		}
		checkUser(t, "UserByID(alice)", mustUserByID(t, s, 1), alice)
		wantSession(t, s, live)
		wantErr(t, "UserByID(bob)", second(s.UserByID(t.Context(), 2)), latchkey.ErrNotFound)
		wantNoSession(t, s, importSessionFor(imported(2, "bob"), "b1", base, time.Hour).Digest)
		if got := mustLastChange(t, s); got != last {
			t.Errorf("LastChange = %d after a rolled back import, want %d", got, last)
		}
		// The store is usable afterwards.
		mustImport(t, s, func(tx latchkey.ImportTx) error {
			wantResult(t, "PutUser(bob) after the rollback", put(t, tx, imported(2, "bob")), latchkey.ImportCreated, "")
			return nil
		})
	}},
	{"NeedsKeepHash", func(t *testing.T, s latchkey.Store) {
		// Without KeepHash an import could overwrite a hash latchkey
		// wrote: it refuses to start.
		ran := false
		err := importer(t, s).Import(t.Context(), latchkey.ImportOptions{}, func(tx latchkey.ImportTx) error {
			ran = true
			_, err := tx.PutUser(t.Context(), imported(1, "alice"))
			return err
		})
		if latchkey.ErrorKind(err) != latchkey.KindInvalid || ran {
			t.Errorf("Import(no KeepHash) = %v, fn ran: %v; want an invalid error, fn not run", err, ran)
		}
		wantErr(t, "UserByID(alice)", second(s.UserByID(t.Context(), 1)), latchkey.ErrNotFound)
	}},
	{"InvalidID", func(t *testing.T, s latchkey.Store) {
		err := importer(t, s).Import(t.Context(), importOptions, func(tx latchkey.ImportTx) error {
			_, err := tx.PutUser(t.Context(), imported(0, "nobody"))
			return err
		})
		if latchkey.ErrorKind(err) != latchkey.KindInvalid {
			t.Errorf("Import(PutUser with ID 0) = %v, want an invalid error", err)
		}
		wantErr(t, "UserByUsername(nobody)", second(s.UserByUsername(t.Context(), "nobody")), latchkey.ErrNotFound)
	}},
}

// ownHashPrefix marks the password hashes the suite calls latchkey's own:
// not those of any real hasher, so that a store that kept hashes by a rule
// of its own, not by ImportOptions.KeepHash, fails.
const ownHashPrefix = "storetest-own$"

// importOptions are the suite's ImportOptions.
var importOptions = latchkey.ImportOptions{
	KeepHash: func(stored string) bool { return strings.HasPrefix(stored, ownHashPrefix) },
}

// imported is a user as an import brings it: its own id, a foreign hash.
func imported(id int64, username string) latchkey.User {
	u := userFor(username)
	u.ID = id
	u.PasswordHash = "pbkdf2_sha256$260000$salt" + username + "$a2V5"
	return u
}

// importSessionFor is a session as an import brings it: no client, no
// device name.
func importSessionFor(u latchkey.User, id string, created time.Time, ttl time.Duration) latchkey.Session {
	in := sessionFor(u, id, created, ttl)
	in.IP, in.UserAgent, in.DeviceName = "", "", ""
	return in
}

func importer(t *testing.T, s latchkey.Store) latchkey.Importer {
	t.Helper()
	imp, ok := s.(latchkey.Importer)
	if !ok {
		t.Fatalf("%T does not implement latchkey.Importer", s)
	}
	return imp
}

func mustImport(t *testing.T, s latchkey.Store, fn func(tx latchkey.ImportTx) error) {
	t.Helper()
	if err := importer(t, s).Import(t.Context(), importOptions, fn); err != nil {
		t.Fatalf("Import: %v", err)
	}
}

func put(t *testing.T, tx latchkey.ImportTx, u latchkey.User) latchkey.ImportResult {
	t.Helper()
	res, err := tx.PutUser(t.Context(), u)
	if err != nil {
		t.Fatalf("PutUser(%s): %v", u.Username, err)
	}
	return res
}

func putSession(t *testing.T, tx latchkey.ImportTx, in latchkey.Session) latchkey.ImportResult {
	t.Helper()
	res, err := tx.PutSession(t.Context(), in)
	if err != nil {
		t.Fatalf("PutSession(%s): %v", in.ID, err)
	}
	return res
}

func mustUserByName(t *testing.T, s latchkey.Store, username string) latchkey.User {
	t.Helper()
	u, err := s.UserByUsername(t.Context(), username)
	if err != nil {
		t.Fatalf("UserByUsername(%s): %v", username, err)
	}
	return u
}

func wantResult(t *testing.T, what string, got latchkey.ImportResult, action latchkey.ImportAction, reason string) {
	t.Helper()
	if got.Action != action || got.Reason != reason {
		t.Errorf("%s = %v %q, want %v %q", what, got.Action, got.Reason, action, reason)
	}
}
