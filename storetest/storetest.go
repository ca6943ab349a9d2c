// Package storetest is the conformance suite of latchkey.Store: every
// implementation runs it, so that SQLite and PostgreSQL keep the same
// contract (the same results, the same error kinds, the same change feed).
//
// Run runs the cases of one store, RunShared those of several stores on
// one database, as several processes or nodes use it; the benchmarks that
// every store runs are here too. The cases test only what the Store
// interface documents, and Migrate, which every store has (Migrator).
// Times are built from a fixed base time at microsecond precision, the
// precision every store keeps; the one clock a test cannot inject is the
// store's own, which stamps change entries, so pruning tests pass times
// far from today.
package storetest

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/latchkeyhq/latchkey"
)

// base is the fixed "now" of the suite.
var base = time.Date(2030, time.March, 4, 5, 6, 7, 891011000, time.UTC)

// Run runs the suite. open must return a fresh, migrated, empty store; Run
// closes it when the subtest ends (after the case Closed/CallsFail has
// closed it once: a second Close must not fail).
func Run(t *testing.T, open func(tb testing.TB) latchkey.Store) {
	groups := []struct {
		name  string
		tests []test
	}{
		{"CreateUser", createUserTests},
		{"UserByID", userByIDTests},
		{"UserByUsername", userByUsernameTests},
		{"ListUsers", listUsersTests},
		{"PasswordHashes", passwordHashesTests},
		{"CreateSession", createSessionTests},
		{"SessionByDigest", sessionByDigestTests},
		{"SessionByID", sessionByIDTests},
		{"ListSessions", listSessionsTests},
		{"DeleteSession", deleteSessionTests},
		{"DeleteSessions", deleteSessionsTests},
		{"SetPassword", setPasswordTests},
		{"SetActive", setActiveTests},
		{"TouchSessions", touchSessionsTests},
		{"DeleteExpired", deleteExpiredTests},
		{"Changes", changesTests},
		{"Context", contextTests},
		{"Concurrency", concurrencyTests},
		{"Import", importTests},
		{"Readers", readerTests},
		{"ServiceClients", serviceClientTests},
		{"Events", eventTests},
		{"MFA", mfaTests},
		{"Passkeys", passkeyTests},
		{"Closed", closedTests},
		{"Times", timeTests},
	}
	for _, g := range groups {
		t.Run(g.name, func(t *testing.T) {
			for _, tt := range g.tests {
				t.Run(tt.name, func(t *testing.T) {
					s := open(t)
					t.Cleanup(func() {
						if err := s.Close(); err != nil {
							t.Errorf("Close: %v", err)
						}
					})
					tt.fn(t, s)
				})
			}
		})
	}
}

type test struct {
	name string
	fn   func(t *testing.T, s latchkey.Store)
}

var createUserTests = []test{
	{"AssignsIDs", func(t *testing.T, s latchkey.Store) {
		in := userFor("alice")
		a, err := s.CreateUser(t.Context(), in)
		if err != nil {
			t.Fatalf("CreateUser: %v", err)
		}
		if a.ID == 0 {
			t.Fatal("CreateUser assigned no ID")
		}
		in.ID = a.ID
		checkUser(t, "CreateUser", a, in)
		b := mustUser(t, s, "bob")
		if b.ID == 0 || b.ID == a.ID {
			t.Errorf("IDs %d and %d: want two distinct non-zero IDs", a.ID, b.ID)
		}
	}},
	{"KeepsExplicitID", func(t *testing.T, s latchkey.Store) {
		in := userFor("imported")
		in.ID = 4242
		u, err := s.CreateUser(t.Context(), in)
		if err != nil {
			t.Fatalf("CreateUser: %v", err)
		}
		if u.ID != 4242 {
			t.Fatalf("ID = %d, want 4242", u.ID)
		}
		got, err := s.UserByID(t.Context(), 4242)
		if err != nil {
			t.Fatalf("UserByID: %v", err)
		}
		checkUser(t, "UserByID", got, in)
	}},
	{"AssignsAfterExplicitIDs", func(t *testing.T, s latchkey.Store) {
		// An import keeps the old ids, starting at 1; users created after
		// it must not collide with them.
		for id := int64(1); id <= 3; id++ {
			in := userFor(fmt.Sprintf("imported%d", id))
			in.ID = id
			if _, err := s.CreateUser(t.Context(), in); err != nil {
				t.Fatalf("CreateUser(ID %d): %v", id, err)
			}
		}
		u, err := s.CreateUser(t.Context(), userFor("new"))
		if err != nil {
			t.Fatalf("CreateUser after import: %v", err)
		}
		if u.ID >= 1 && u.ID <= 3 || u.ID == 0 {
			t.Errorf("assigned ID %d, want a new non-zero ID", u.ID)
		}
	}},
	{"DuplicateUsername", func(t *testing.T, s latchkey.Store) {
		first := mustUser(t, s, "alice")
		dup := userFor("alice")
		dup.Email = "other@example.com"
		_, err := s.CreateUser(t.Context(), dup)
		wantErr(t, "CreateUser(duplicate username)", err, latchkey.ErrConflict)
		wantNoSecret(t, err, first.PasswordHash)
		got, err := s.UserByUsername(t.Context(), "alice")
		if err != nil {
			t.Fatalf("UserByUsername: %v", err)
		}
		checkUser(t, "UserByUsername", got, first)
	}},
	{"DuplicateID", func(t *testing.T, s latchkey.Store) {
		first := mustUser(t, s, "alice")
		dup := userFor("bob")
		dup.ID = first.ID
		_, err := s.CreateUser(t.Context(), dup)
		wantErr(t, "CreateUser(duplicate ID)", err, latchkey.ErrConflict)
		wantErr(t, "UserByUsername(bob)", second(s.UserByUsername(t.Context(), "bob")), latchkey.ErrNotFound)
	}},
}

// roundTripUsers covers every field: set, empty, inactive, never logged
// in, and times given in another zone.
func roundTripUsers() []latchkey.User {
	full := userFor("alice")
	full.FirstName, full.LastName = "Alice", "Ångström"
	full.LastLogin = base.Add(-time.Hour)
	bare := latchkey.User{
		Username:     "bare",
		PasswordHash: "",
		Active:       false,
		DateJoined:   base.Add(-48 * time.Hour).In(time.FixedZone("UTC+2", 2*60*60)),
	}
	return []latchkey.User{full, bare}
}

var userByIDTests = []test{
	{"RoundTrip", func(t *testing.T, s latchkey.Store) {
		for _, in := range roundTripUsers() {
			u, err := s.CreateUser(t.Context(), in)
			if err != nil {
				t.Fatalf("CreateUser(%s): %v", in.Username, err)
			}
			in.ID = u.ID
			got, err := s.UserByID(t.Context(), u.ID)
			if err != nil {
				t.Fatalf("UserByID(%d): %v", u.ID, err)
			}
			checkUser(t, "UserByID", got, in)
			if in.LastLogin.IsZero() && !got.LastLogin.IsZero() {
				t.Errorf("UserByID(%s).LastLogin = %v, want zero", in.Username, got.LastLogin)
			}
		}
	}},
	{"NotFound", func(t *testing.T, s latchkey.Store) {
		u := mustUser(t, s, "alice")
		wantErr(t, "UserByID(unknown)", second(s.UserByID(t.Context(), u.ID+1000)), latchkey.ErrNotFound)
	}},
}

var userByUsernameTests = []test{
	{"RoundTrip", func(t *testing.T, s latchkey.Store) {
		for _, in := range roundTripUsers() {
			u, err := s.CreateUser(t.Context(), in)
			if err != nil {
				t.Fatalf("CreateUser(%s): %v", in.Username, err)
			}
			in.ID = u.ID
			got, err := s.UserByUsername(t.Context(), in.Username)
			if err != nil {
				t.Fatalf("UserByUsername(%s): %v", in.Username, err)
			}
			checkUser(t, "UserByUsername", got, in)
		}
	}},
	{"NotFound", func(t *testing.T, s latchkey.Store) {
		mustUser(t, s, "alice")
		wantErr(t, "UserByUsername(unknown)", second(s.UserByUsername(t.Context(), "bob")), latchkey.ErrNotFound)
		wantErr(t, "UserByUsername(empty)", second(s.UserByUsername(t.Context(), "")), latchkey.ErrNotFound)
	}},
	{"CaseSensitive", func(t *testing.T, s latchkey.Store) {
		upper := mustUser(t, s, "Alice")
		for _, name := range []string{"alice", "ALICE"} {
			wantErr(t, "UserByUsername("+name+")", second(s.UserByUsername(t.Context(), name)), latchkey.ErrNotFound)
		}
		lower := mustUser(t, s, "alice")
		if lower.ID == upper.ID {
			t.Fatalf("alice and Alice share ID %d", lower.ID)
		}
		got, err := s.UserByUsername(t.Context(), "Alice")
		if err != nil {
			t.Fatalf("UserByUsername(Alice): %v", err)
		}
		checkUser(t, "UserByUsername(Alice)", got, upper)
	}},
}

var listUsersTests = []test{
	{"Empty", func(t *testing.T, s latchkey.Store) {
		us, err := s.ListUsers(t.Context())
		if err != nil {
			t.Fatalf("ListUsers: %v", err)
		}
		if len(us) != 0 {
			t.Errorf("ListUsers on an empty store returned %d users", len(us))
		}
	}},
	{"OrderedByID", func(t *testing.T, s latchkey.Store) {
		var want []latchkey.User
		for _, id := range []int64{30, 10, 20} {
			in := userFor(fmt.Sprintf("user%d", id))
			in.ID = id
			u, err := s.CreateUser(t.Context(), in)
			if err != nil {
				t.Fatalf("CreateUser(%d): %v", id, err)
			}
			want = append(want, u)
		}
		slices.SortFunc(want, func(a, b latchkey.User) int { return cmp.Compare(a.ID, b.ID) })
		got, err := s.ListUsers(t.Context())
		if err != nil {
			t.Fatalf("ListUsers: %v", err)
		}
		if len(got) != len(want) {
			t.Fatalf("ListUsers returned %d users, want %d", len(got), len(want))
		}
		for i := range want {
			checkUser(t, fmt.Sprintf("ListUsers[%d]", i), got[i], want[i])
		}
	}},
}

var createSessionTests = []test{
	{"RoundTrip", func(t *testing.T, s latchkey.Store) {
		u := mustUser(t, s, "alice")
		in := sessionFor(u, "s1", base, 24*time.Hour)
		in.LastUsedAt = base.Add(time.Minute)
		if err := s.CreateSession(t.Context(), in, latchkey.LoginUpdate{ExpectHash: u.PasswordHash, LastLogin: base}); err != nil {
			t.Fatalf("CreateSession: %v", err)
		}
		got, gu, err := s.SessionByDigest(t.Context(), in.Digest)
		if err != nil {
			t.Fatalf("SessionByDigest: %v", err)
		}
		checkSession(t, "SessionByDigest", got, in)
		u.LastLogin = base
		checkUser(t, "SessionByDigest user", gu, u)
	}},
	{"DeviceNames", func(t *testing.T, s latchkey.Store) {
		// Every name the Authenticator accepts comes back as it went in,
		// from each way of reading a session; none is a session without
		// a device name.
		u := mustUser(t, s, "alice")
		names := []string{"", "Alice's laptop", "Téléphone d'Anaïs", "山田の iPad 📱", "👩‍💻 work",
			strings.Repeat("é", latchkey.MaxDeviceNameLength), `quotes " and \ backslashes`}
		var want []latchkey.Session
		for i, name := range names {
			in := sessionFor(u, fmt.Sprintf("dn%d", i), base.Add(time.Duration(i)*time.Second), time.Hour)
			in.DeviceName = name
			if err := s.CreateSession(t.Context(), in, latchkey.LoginUpdate{ExpectHash: u.PasswordHash}); err != nil {
				t.Fatalf("CreateSession(%q): %v", name, err)
			}
			wantSession(t, s, in)
			want = append([]latchkey.Session{in}, want...)
		}
		got, err := s.ListSessions(t.Context(), u.ID, base)
		if err != nil {
			t.Fatalf("ListSessions: %v", err)
		}
		if len(got) != len(want) {
			t.Fatalf("ListSessions returned %v, want %v", ids(got), ids(want))
		}
		for i := range want {
			checkSession(t, fmt.Sprintf("ListSessions[%d]", i), got[i], want[i])
		}
	}},
	{"SetsLastLogin", func(t *testing.T, s latchkey.Store) {
		u := mustUser(t, s, "alice")
		login := base.Add(3 * time.Second)
		in := sessionFor(u, "s1", login, time.Hour)
		if err := s.CreateSession(t.Context(), in, latchkey.LoginUpdate{ExpectHash: u.PasswordHash, LastLogin: login}); err != nil {
			t.Fatalf("CreateSession: %v", err)
		}
		got := mustUserByID(t, s, u.ID)
		u.LastLogin = login
		checkUser(t, "UserByID", got, u)
	}},
	{"ZeroLastLogin", func(t *testing.T, s latchkey.Store) {
		// A login without a last login time leaves the stored one as it
		// was.
		u := mustUser(t, s, "alice")
		mustSession(t, s, u, "s1", base, time.Hour)
		if err := s.CreateSession(t.Context(), sessionFor(u, "s2", base, time.Hour), latchkey.LoginUpdate{ExpectHash: u.PasswordHash}); err != nil {
			t.Fatalf("CreateSession: %v", err)
		}
		if got := mustUserByID(t, s, u.ID).LastLogin; !got.Equal(base) {
			t.Errorf("LastLogin = %v, want %v", got, base)
		}
	}},
	{"Rehash", func(t *testing.T, s latchkey.Store) {
		u := mustUser(t, s, "alice")
		in := sessionFor(u, "s1", base, time.Hour)
		upd := latchkey.LoginUpdate{ExpectHash: u.PasswordHash, NewHash: "rehashed", LastLogin: base}
		if err := s.CreateSession(t.Context(), in, upd); err != nil {
			t.Fatalf("CreateSession: %v", err)
		}
		if got := mustUserByID(t, s, u.ID).PasswordHash; got != "rehashed" {
			t.Errorf("PasswordHash = %q, want %q", got, "rehashed")
		}
	}},
	{"StaleHash", func(t *testing.T, s latchkey.Store) {
		u := mustUser(t, s, "alice")
		last := mustLastChange(t, s)
		in := sessionFor(u, "s1", base, time.Hour)
		upd := latchkey.LoginUpdate{ExpectHash: "not-the-hash", NewHash: "rehashed", LastLogin: base}
		wantErr(t, "CreateSession(stale hash)", s.CreateSession(t.Context(), in, upd), latchkey.ErrConflict)
		wantNoSession(t, s, in.Digest)
		checkUser(t, "UserByID", mustUserByID(t, s, u.ID), u)
		if got := mustLastChange(t, s); got != last {
			t.Errorf("LastChange = %d after a failed login, want %d", got, last)
		}
	}},
	{"InactiveUser", func(t *testing.T, s latchkey.Store) {
		u := mustUser(t, s, "alice")
		mustSetActive(t, s, u.ID, false)
		in := sessionFor(u, "s1", base, time.Hour)
		upd := latchkey.LoginUpdate{ExpectHash: u.PasswordHash, LastLogin: base}
		wantErr(t, "CreateSession(inactive user)", s.CreateSession(t.Context(), in, upd), latchkey.ErrConflict)
		wantNoSession(t, s, in.Digest)
		if got := mustUserByID(t, s, u.ID).LastLogin; !got.IsZero() {
			t.Errorf("LastLogin = %v after a refused login, want zero", got)
		}
	}},
	{"DuplicateDigest", func(t *testing.T, s latchkey.Store) {
		u := mustUser(t, s, "alice")
		first := mustSession(t, s, u, "s1", base, time.Hour)
		dup := sessionFor(u, "s2", base, time.Hour)
		dup.Digest = first.Digest
		err := s.CreateSession(t.Context(), dup, latchkey.LoginUpdate{ExpectHash: u.PasswordHash, LastLogin: base})
		wantErr(t, "CreateSession(duplicate digest)", err, latchkey.ErrConflict)
		wantNoSecret(t, err, first.Digest.Hex(), fmt.Sprintf("%x", first.Digest[:4]), u.PasswordHash)
		got, _, err := s.SessionByDigest(t.Context(), first.Digest)
		if err != nil {
			t.Fatalf("SessionByDigest: %v", err)
		}
		checkSession(t, "SessionByDigest", got, first)
	}},
	{"DuplicateID", func(t *testing.T, s latchkey.Store) {
		u := mustUser(t, s, "alice")
		mustSession(t, s, u, "s1", base, time.Hour)
		dup := sessionFor(u, "s2", base, time.Hour)
		dup.ID = "s1"
		err := s.CreateSession(t.Context(), dup, latchkey.LoginUpdate{ExpectHash: u.PasswordHash, LastLogin: base})
		wantErr(t, "CreateSession(duplicate ID)", err, latchkey.ErrConflict)
		wantNoSession(t, s, dup.Digest)
	}},
	{"UnknownUser", func(t *testing.T, s latchkey.Store) {
		u := mustUser(t, s, "alice")
		ghost := u
		ghost.ID = u.ID + 1000
		in := sessionFor(ghost, "s1", base, time.Hour)
		if err := s.CreateSession(t.Context(), in, latchkey.LoginUpdate{ExpectHash: u.PasswordHash, LastLogin: base}); err == nil {
			t.Fatal("CreateSession for an unknown user succeeded")
		}
		wantNoSession(t, s, in.Digest)
	}},
}

var sessionByDigestTests = []test{
	{"Expired", func(t *testing.T, s latchkey.Store) {
		u := mustUser(t, s, "alice")
		in := mustSession(t, s, u, "old", base.Add(-48*time.Hour), 24*time.Hour)
		got, _, err := s.SessionByDigest(t.Context(), in.Digest)
		if err != nil {
			t.Fatalf("SessionByDigest(expired): %v", err)
		}
		checkSession(t, "SessionByDigest", got, in)
	}},
	{"NotFound", func(t *testing.T, s latchkey.Store) {
		u := mustUser(t, s, "alice")
		mustSession(t, s, u, "s1", base, time.Hour)
		wantNoSession(t, s, latchkey.Token("unknown").Digest())
	}},
}

var sessionByIDTests = []test{
	{"Found", func(t *testing.T, s latchkey.Store) {
		alice, bob := mustUser(t, s, "alice"), mustUser(t, s, "bob")
		a := mustSession(t, s, alice, "a1", base, time.Hour)
		b := mustSession(t, s, bob, "b1", base, time.Hour)
		for _, want := range []latchkey.Session{a, b} {
			got, err := s.SessionByID(t.Context(), want.ID)
			if err != nil {
				t.Fatalf("SessionByID(%s): %v", want.ID, err)
			}
			checkSession(t, "SessionByID", got, want)
		}
	}},
	{"Expired", func(t *testing.T, s latchkey.Store) {
		u := mustUser(t, s, "alice")
		in := mustSession(t, s, u, "old", base.Add(-48*time.Hour), 24*time.Hour)
		got, err := s.SessionByID(t.Context(), in.ID)
		if err != nil {
			t.Fatalf("SessionByID(expired): %v", err)
		}
		checkSession(t, "SessionByID", got, in)
	}},
	{"NotFound", func(t *testing.T, s latchkey.Store) {
		u := mustUser(t, s, "alice")
		in := mustSession(t, s, u, "s1", base, time.Hour)
		for _, id := range []string{"unknown", "", strings.ToUpper(in.ID), in.ID + " "} {
			_, err := s.SessionByID(t.Context(), id)
			wantErr(t, fmt.Sprintf("SessionByID(%q)", id), err, latchkey.ErrNotFound)
		}
		if _, err := s.DeleteSession(t.Context(), u.ID, in.ID, base); err != nil {
			t.Fatalf("DeleteSession: %v", err)
		}
		_, err := s.SessionByID(t.Context(), in.ID)
		wantErr(t, "SessionByID(deleted)", err, latchkey.ErrNotFound)
	}},
}

var listSessionsTests = []test{
	{"LiveNewestFirst", func(t *testing.T, s latchkey.Store) {
		u := mustUser(t, s, "alice")
		other := mustUser(t, s, "bob")
		s1 := mustSession(t, s, u, "s1", base.Add(-3*time.Hour), 24*time.Hour)
		mustSession(t, s, u, "expired", base.Add(-30*time.Hour), 24*time.Hour)
		s3 := mustSession(t, s, u, "s3", base.Add(-1*time.Hour), 24*time.Hour)
		mustSession(t, s, u, "ends-now", base.Add(-24*time.Hour), 24*time.Hour)
		s2 := mustSession(t, s, u, "s2", base.Add(-2*time.Hour), 24*time.Hour)
		mustSession(t, s, other, "bob1", base, 24*time.Hour)
		got, err := s.ListSessions(t.Context(), u.ID, base)
		if err != nil {
			t.Fatalf("ListSessions: %v", err)
		}
		want := []latchkey.Session{s3, s2, s1}
		if len(got) != len(want) {
			t.Fatalf("ListSessions returned %d sessions %v, want %v", len(got), ids(got), ids(want))
		}
		for i := range want {
			checkSession(t, fmt.Sprintf("ListSessions[%d]", i), got[i], want[i])
		}
	}},
	{"None", func(t *testing.T, s latchkey.Store) {
		u := mustUser(t, s, "alice")
		other := mustUser(t, s, "bob")
		mustSession(t, s, other, "bob1", base, time.Hour)
		got, err := s.ListSessions(t.Context(), u.ID, base)
		if err != nil {
			t.Fatalf("ListSessions: %v", err)
		}
		if len(got) != 0 {
			t.Errorf("ListSessions returned %v, want none", ids(got))
		}
	}},
}

var deleteSessionTests = []test{
	{"ReturnsDigest", func(t *testing.T, s latchkey.Store) {
		u := mustUser(t, s, "alice")
		in := mustSession(t, s, u, "s1", base, time.Hour)
		keep := mustSession(t, s, u, "s2", base, time.Hour)
		d, err := s.DeleteSession(t.Context(), u.ID, "s1", base)
		if err != nil {
			t.Fatalf("DeleteSession: %v", err)
		}
		if d != in.Digest {
			t.Errorf("DeleteSession returned digest %.8s, want %.8s", d.Hex(), in.Digest.Hex())
		}
		wantNoSession(t, s, in.Digest)
		wantSession(t, s, keep)
		_, err = s.DeleteSession(t.Context(), u.ID, "s1", base)
		wantErr(t, "DeleteSession(again)", err, latchkey.ErrNotFound)
	}},
	{"OtherUsersSession", func(t *testing.T, s latchkey.Store) {
		u := mustUser(t, s, "alice")
		other := mustUser(t, s, "bob")
		theirs := mustSession(t, s, other, "bob1", base, time.Hour)
		_, err := s.DeleteSession(t.Context(), u.ID, "bob1", base)
		wantErr(t, "DeleteSession(another user's session)", err, latchkey.ErrNotFound)
		wantSession(t, s, theirs)
	}},
	{"Expired", func(t *testing.T, s latchkey.Store) {
		u := mustUser(t, s, "alice")
		past := mustSession(t, s, u, "past", base.Add(-2*time.Hour), time.Hour)
		now := mustSession(t, s, u, "now", base.Add(-time.Hour), time.Hour) // expires at base
		for _, in := range []latchkey.Session{past, now} {
			_, err := s.DeleteSession(t.Context(), u.ID, in.ID, base)
			wantErr(t, "DeleteSession("+in.ID+")", err, latchkey.ErrNotFound)
			wantSession(t, s, in)
		}
	}},
	{"ZeroNowMatchesAny", func(t *testing.T, s latchkey.Store) {
		// Every session expires after the zero time: a local logout
		// passes it to revoke its own session whatever its age.
		u := mustUser(t, s, "alice")
		in := mustSession(t, s, u, "old", base.Add(-48*time.Hour), time.Hour)
		d, err := s.DeleteSession(t.Context(), u.ID, "old", time.Time{})
		if err != nil {
			t.Fatalf("DeleteSession(zero now): %v", err)
		}
		if d != in.Digest {
			t.Errorf("DeleteSession returned the wrong digest")
		}
		wantNoSession(t, s, in.Digest)
	}},
	{"Unknown", func(t *testing.T, s latchkey.Store) {
		u := mustUser(t, s, "alice")
		_, err := s.DeleteSession(t.Context(), u.ID, "nope", base)
		wantErr(t, "DeleteSession(unknown)", err, latchkey.ErrNotFound)
	}},
}

var deleteSessionsTests = []test{
	{"All", func(t *testing.T, s latchkey.Store) {
		u := mustUser(t, s, "alice")
		other := mustUser(t, s, "bob")
		ss := []latchkey.Session{
			mustSession(t, s, u, "s1", base, time.Hour),
			mustSession(t, s, u, "s2", base, time.Hour),
			mustSession(t, s, u, "expired", base.Add(-48*time.Hour), time.Hour),
		}
		theirs := mustSession(t, s, other, "bob1", base, time.Hour)
		ds, err := s.DeleteSessions(t.Context(), u.ID, nil)
		if err != nil {
			t.Fatalf("DeleteSessions: %v", err)
		}
		checkDigests(t, "DeleteSessions", ds, digests(ss))
		for _, in := range ss {
			wantNoSession(t, s, in.Digest)
		}
		wantSession(t, s, theirs)
	}},
	{"Keep", func(t *testing.T, s latchkey.Store) {
		u := mustUser(t, s, "alice")
		s1 := mustSession(t, s, u, "s1", base, time.Hour)
		s2 := mustSession(t, s, u, "s2", base, time.Hour)
		s3 := mustSession(t, s, u, "s3", base, time.Hour)
		keep := s2.Digest
		ds, err := s.DeleteSessions(t.Context(), u.ID, &keep)
		if err != nil {
			t.Fatalf("DeleteSessions: %v", err)
		}
		checkDigests(t, "DeleteSessions", ds, digests([]latchkey.Session{s1, s3}))
		wantNoSession(t, s, s1.Digest)
		wantNoSession(t, s, s3.Digest)
		wantSession(t, s, s2)
	}},
	{"None", func(t *testing.T, s latchkey.Store) {
		u := mustUser(t, s, "alice")
		ds, err := s.DeleteSessions(t.Context(), u.ID, nil)
		if err != nil {
			t.Fatalf("DeleteSessions: %v", err)
		}
		checkDigests(t, "DeleteSessions", ds, nil)
	}},
}

var setPasswordTests = []test{
	{"RevokesAll", func(t *testing.T, s latchkey.Store) {
		u := mustUser(t, s, "alice")
		other := mustUser(t, s, "bob")
		ss := []latchkey.Session{
			mustSession(t, s, u, "s1", base, time.Hour),
			mustSession(t, s, u, "s2", base, time.Hour),
		}
		theirs := mustSession(t, s, other, "bob1", base, time.Hour)
		ds, err := s.SetPassword(t.Context(), u.ID, latchkey.PasswordUpdate{NewHash: "new-hash"})
		if err != nil {
			t.Fatalf("SetPassword: %v", err)
		}
		checkDigests(t, "SetPassword", ds, digests(ss))
		for _, in := range ss {
			wantNoSession(t, s, in.Digest)
		}
		wantSession(t, s, theirs)
		if got := mustUserByID(t, s, u.ID).PasswordHash; got != "new-hash" {
			t.Errorf("PasswordHash = %q, want %q", got, "new-hash")
		}
	}},
	{"CreatesSession", func(t *testing.T, s latchkey.Store) {
		u := mustUser(t, s, "alice")
		old := mustSession(t, s, u, "s1", base, time.Hour)
		in := sessionFor(u, "new", base.Add(time.Minute), time.Hour)
		ds, err := s.SetPassword(t.Context(), u.ID, latchkey.PasswordUpdate{ExpectHash: u.PasswordHash, NewHash: "new-hash", Session: &in})
		if err != nil {
			t.Fatalf("SetPassword: %v", err)
		}
		checkDigests(t, "SetPassword", ds, []latchkey.Digest{old.Digest})
		wantNoSession(t, s, old.Digest)
		wantSession(t, s, in)
		got, err := s.ListSessions(t.Context(), u.ID, base)
		if err != nil {
			t.Fatalf("ListSessions: %v", err)
		}
		if len(got) != 1 || got[0].ID != in.ID {
			t.Errorf("ListSessions = %v, want [%s]", ids(got), in.ID)
		}
	}},
	{"StaleHash", func(t *testing.T, s latchkey.Store) {
		u := mustUser(t, s, "alice")
		old := mustSession(t, s, u, "s1", base, time.Hour)
		last := mustLastChange(t, s)
		in := sessionFor(u, "new", base, time.Hour)
		_, err := s.SetPassword(t.Context(), u.ID, latchkey.PasswordUpdate{ExpectHash: "not-the-hash", NewHash: "new-hash", Session: &in})
		wantErr(t, "SetPassword(stale hash)", err, latchkey.ErrConflict)
		u.LastLogin = base
		checkUser(t, "UserByID", mustUserByID(t, s, u.ID), u)
		wantSession(t, s, old)
		wantNoSession(t, s, in.Digest)
		if got := mustLastChange(t, s); got != last {
			t.Errorf("LastChange = %d after a refused SetPassword, want %d", got, last)
		}
	}},
	{"UnknownUser", func(t *testing.T, s latchkey.Store) {
		u := mustUser(t, s, "alice")
		_, err := s.SetPassword(t.Context(), u.ID+1000, latchkey.PasswordUpdate{NewHash: "new-hash"})
		wantErr(t, "SetPassword(unknown user)", err, latchkey.ErrNotFound)
	}},
}

var setActiveTests = []test{
	{"Disable", func(t *testing.T, s latchkey.Store) {
		u := mustUser(t, s, "alice")
		other := mustUser(t, s, "bob")
		ss := []latchkey.Session{
			mustSession(t, s, u, "s1", base, time.Hour),
			mustSession(t, s, u, "s2", base, time.Hour),
		}
		theirs := mustSession(t, s, other, "bob1", base, time.Hour)
		ds, err := s.SetActive(t.Context(), u.ID, false)
		if err != nil {
			t.Fatalf("SetActive(false): %v", err)
		}
		checkDigests(t, "SetActive(false)", ds, digests(ss))
		for _, in := range ss {
			wantNoSession(t, s, in.Digest)
		}
		wantSession(t, s, theirs)
		if mustUserByID(t, s, u.ID).Active {
			t.Error("user still active after SetActive(false)")
		}
	}},
	{"Enable", func(t *testing.T, s latchkey.Store) {
		u := mustUser(t, s, "alice")
		mustSetActive(t, s, u.ID, false)
		ds, err := s.SetActive(t.Context(), u.ID, true)
		if err != nil {
			t.Fatalf("SetActive(true): %v", err)
		}
		checkDigests(t, "SetActive(true)", ds, nil)
		if !mustUserByID(t, s, u.ID).Active {
			t.Fatal("user inactive after SetActive(true)")
		}
		mustSession(t, s, u, "s1", base, time.Hour)
	}},
	{"UnknownUser", func(t *testing.T, s latchkey.Store) {
		u := mustUser(t, s, "alice")
		for _, active := range []bool{false, true} {
			_, err := s.SetActive(t.Context(), u.ID+1000, active)
			wantErr(t, fmt.Sprintf("SetActive(unknown user, %v)", active), err, latchkey.ErrNotFound)
		}
	}},
}

var touchSessionsTests = []test{
	{"ForwardByMinInterval", func(t *testing.T, s latchkey.Store) {
		u := mustUser(t, s, "alice")
		in := mustSession(t, s, u, "s1", base, time.Hour)
		steps := []struct {
			at, want time.Time
		}{
			{base.Add(30 * time.Second), base},                  // too soon
			{base.Add(time.Minute), base.Add(time.Minute)},      // exactly minInterval
			{base, base.Add(time.Minute)},                       // backwards
			{base.Add(90 * time.Second), base.Add(time.Minute)}, // too soon again
			{base.Add(5 * time.Minute), base.Add(5 * time.Minute)},
		}
		for _, st := range steps {
			if err := s.TouchSessions(t.Context(), map[latchkey.Digest]time.Time{in.Digest: st.at}, time.Minute); err != nil {
				t.Fatalf("TouchSessions: %v", err)
			}
			got, _, err := s.SessionByDigest(t.Context(), in.Digest)
			if err != nil {
				t.Fatalf("SessionByDigest: %v", err)
			}
			if !got.LastUsedAt.Equal(st.want) {
				t.Errorf("after a touch at %v: LastUsedAt = %v, want %v", st.at, got.LastUsedAt, st.want)
			}
		}
	}},
	{"Batch", func(t *testing.T, s latchkey.Store) {
		u := mustUser(t, s, "alice")
		s1 := mustSession(t, s, u, "s1", base, time.Hour)
		s2 := mustSession(t, s, u, "s2", base, time.Hour)
		last := mustLastChange(t, s)
		touches := map[latchkey.Digest]time.Time{
			s1.Digest:                          base.Add(time.Minute),
			s2.Digest:                          base.Add(2 * time.Minute),
			latchkey.Token("unknown").Digest(): base.Add(time.Minute),
		}
		if err := s.TouchSessions(t.Context(), touches, 0); err != nil {
			t.Fatalf("TouchSessions: %v", err)
		}
		s1.LastUsedAt, s2.LastUsedAt = base.Add(time.Minute), base.Add(2*time.Minute)
		wantSession(t, s, s1)
		wantSession(t, s, s2)
		// A touch revokes nothing.
		for _, c := range changesSince(t, s, last) {
			if c.Session {
				t.Errorf("TouchSessions wrote a revocation: %s", fmtChange(c))
			}
		}
	}},
	{"Empty", func(t *testing.T, s latchkey.Store) {
		if err := s.TouchSessions(t.Context(), nil, time.Minute); err != nil {
			t.Fatalf("TouchSessions(nil): %v", err)
		}
	}},
	// Every read of a session shows the last use a touch recorded.
	{"EveryRead", func(t *testing.T, s latchkey.Store) {
		u := mustUser(t, s, "alice")
		in := mustSession(t, s, u, "s1", base, time.Hour)
		at := base.Add(10 * time.Minute)
		if err := s.TouchSessions(t.Context(), map[latchkey.Digest]time.Time{in.Digest: at}, time.Minute); err != nil {
			t.Fatalf("TouchSessions: %v", err)
		}
		in.LastUsedAt = at
		wantSession(t, s, in)
		got, err := s.SessionByID(t.Context(), in.ID)
		if err != nil {
			t.Fatalf("SessionByID: %v", err)
		}
		checkSession(t, "SessionByID", got, in)
		list, err := s.ListSessions(t.Context(), u.ID, base)
		if err != nil || len(list) != 1 {
			t.Fatalf("ListSessions = %d sessions, %v; want 1", len(list), err)
		}
		checkSession(t, "ListSessions", list[0], in)
	}},
	// A session's last use goes with it, however it goes: the same
	// digest stored again starts from its own last use.
	{"GoneWithSession", func(t *testing.T, s latchkey.Store) {
		for _, tc := range []struct {
			name string
			del  func(t *testing.T, u latchkey.User, in latchkey.Session) error
		}{
			{"DeleteSession", func(t *testing.T, u latchkey.User, in latchkey.Session) error {
				_, err := s.DeleteSession(t.Context(), u.ID, in.ID, base)
				return err
			}},
			{"DeleteSessions", func(t *testing.T, u latchkey.User, _ latchkey.Session) error {
				_, err := s.DeleteSessions(t.Context(), u.ID, nil)
				return err
			}},
			{"SetPassword", func(t *testing.T, u latchkey.User, _ latchkey.Session) error {
				_, err := s.SetPassword(t.Context(), u.ID, latchkey.PasswordUpdate{NewHash: u.PasswordHash})
				return err
			}},
			{"SetActive", func(t *testing.T, u latchkey.User, _ latchkey.Session) error {
				if _, err := s.SetActive(t.Context(), u.ID, false); err != nil {
					return err
				}
				_, err := s.SetActive(t.Context(), u.ID, true)
				return err
			}},
			{"DeleteExpired", func(t *testing.T, _ latchkey.User, in latchkey.Session) error {
				_, err := s.DeleteExpired(t.Context(), in.ExpiresAt.Add(time.Microsecond))
				return err
			}},
		} {
			t.Run(tc.name, func(t *testing.T) {
				u := mustUser(t, s, "user-"+tc.name)
				in := mustSession(t, s, u, tc.name, base, time.Hour)
				if err := s.TouchSessions(t.Context(), map[latchkey.Digest]time.Time{in.Digest: base.Add(30 * time.Minute)}, time.Minute); err != nil {
					t.Fatalf("TouchSessions: %v", err)
				}
				if err := tc.del(t, u, in); err != nil {
					t.Fatalf("%s: %v", tc.name, err)
				}
				wantNoSession(t, s, in.Digest)
				again := mustSession(t, s, mustUserByID(t, s, u.ID), tc.name, base.Add(2*time.Hour), time.Hour)
				wantSession(t, s, again)
			})
		}
	}},
}

var deleteExpiredTests = []test{
	{"Sessions", func(t *testing.T, s latchkey.Store) {
		u := mustUser(t, s, "alice")
		gone := []latchkey.Session{
			mustSession(t, s, u, "2h-ago", base.Add(-3*time.Hour), time.Hour),
			mustSession(t, s, u, "1h-ago", base.Add(-2*time.Hour), time.Hour),
		}
		kept := []latchkey.Session{
			mustSession(t, s, u, "at-t", base.Add(-time.Hour), time.Hour),
			mustSession(t, s, u, "live", base, time.Hour),
		}
		n, err := s.DeleteExpired(t.Context(), base)
		if err != nil {
			t.Fatalf("DeleteExpired: %v", err)
		}
		if n != int64(len(gone)) {
			t.Errorf("DeleteExpired = %d, want %d", n, len(gone))
		}
		for _, in := range gone {
			wantNoSession(t, s, in.Digest)
		}
		for _, in := range kept {
			wantSession(t, s, in)
		}
		if n, err := s.DeleteExpired(t.Context(), base); err != nil || n != 0 {
			t.Errorf("DeleteExpired again = %d, %v; want 0, nil", n, err)
		}
	}},
	{"KeepsNewerChanges", func(t *testing.T, s latchkey.Store) {
		u := mustUser(t, s, "alice")
		mustSession(t, s, u, "s1", base, time.Hour)
		mustSession(t, s, u, "s2", base, time.Hour)
		all := changesSince(t, s, 0)
		// The store stamps entries with its own clock: every entry is
		// newer than 2000.
		if _, err := s.DeleteExpired(t.Context(), time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC)); err != nil {
			t.Fatalf("DeleteExpired: %v", err)
		}
		got, err := s.Changes(t.Context(), 0, 100)
		if err != nil {
			t.Fatalf("Changes(0) after pruning nothing: %v", err)
		}
		if len(got) != len(all) {
			t.Errorf("Changes(0) returned %d entries after pruning nothing, want %d", len(got), len(all))
		}
	}},
}

var changesTests = []test{
	{"Empty", func(t *testing.T, s latchkey.Store) {
		if last := mustLastChange(t, s); last != 0 {
			t.Errorf("LastChange on an empty store = %d, want 0", last)
		}
		cs, err := s.Changes(t.Context(), 0, 10)
		if err != nil {
			t.Fatalf("Changes: %v", err)
		}
		if len(cs) != 0 {
			t.Errorf("Changes on an empty store returned %d entries", len(cs))
		}
	}},
	{"Revocations", func(t *testing.T, s latchkey.Store) {
		// Each revoking call writes one session entry per revoked session,
		// and one user entry when it changed the user record.
		bystander := mustUser(t, s, "bystander")
		mustSession(t, s, bystander, "bystander1", base, time.Hour)
		revoked := func(ss ...latchkey.Session) []latchkey.Change {
			var cs []latchkey.Change
			for _, in := range ss {
				cs = append(cs, latchkey.Change{UserID: in.UserID, Session: true, Digest: in.Digest})
			}
			return cs
		}
		steps := []struct {
			name string
			// call revokes some of ss, sessions of u (ss[2] expired),
			// and returns the entries it must write.
			call func(t *testing.T, u latchkey.User, ss []latchkey.Session) []latchkey.Change
		}{
			{"DeleteSession", func(t *testing.T, u latchkey.User, ss []latchkey.Session) []latchkey.Change {
				if _, err := s.DeleteSession(t.Context(), u.ID, ss[0].ID, base); err != nil {
					t.Fatalf("DeleteSession: %v", err)
				}
				return revoked(ss[0])
			}},
			{"DeleteSessions", func(t *testing.T, u latchkey.User, ss []latchkey.Session) []latchkey.Change {
				if _, err := s.DeleteSessions(t.Context(), u.ID, nil); err != nil {
					t.Fatalf("DeleteSessions: %v", err)
				}
				return revoked(ss...)
			}},
			{"DeleteSessionsKeep", func(t *testing.T, u latchkey.User, ss []latchkey.Session) []latchkey.Change {
				if _, err := s.DeleteSessions(t.Context(), u.ID, &ss[1].Digest); err != nil {
					t.Fatalf("DeleteSessions: %v", err)
				}
				return revoked(ss[0], ss[2])
			}},
			{"SetPassword", func(t *testing.T, u latchkey.User, ss []latchkey.Session) []latchkey.Change {
				in := sessionFor(u, u.Username+"-new", base, time.Hour)
				if _, err := s.SetPassword(t.Context(), u.ID, latchkey.PasswordUpdate{NewHash: "new", Session: &in}); err != nil {
					t.Fatalf("SetPassword: %v", err)
				}
				return append(revoked(ss...), latchkey.Change{UserID: u.ID})
			}},
			{"SetActiveFalse", func(t *testing.T, u latchkey.User, ss []latchkey.Session) []latchkey.Change {
				if _, err := s.SetActive(t.Context(), u.ID, false); err != nil {
					t.Fatalf("SetActive(false): %v", err)
				}
				return append(revoked(ss...), latchkey.Change{UserID: u.ID})
			}},
		}
		for _, st := range steps {
			t.Run(st.name, func(t *testing.T) {
				u := mustUser(t, s, st.name)
				ss := []latchkey.Session{
					mustSession(t, s, u, st.name+"0", base, time.Hour),
					mustSession(t, s, u, st.name+"1", base, time.Hour),
					mustSession(t, s, u, st.name+"2", base.Add(-48*time.Hour), time.Hour),
				}
				last := mustLastChange(t, s)
				want := st.call(t, u, ss)
				checkChanges(t, st.name, changesSince(t, s, last), want)
			})
		}
	}},
	{"UserChanges", func(t *testing.T, s latchkey.Store) {
		u := mustUser(t, s, "alice")
		user := []latchkey.Change{{UserID: u.ID}}

		last := mustLastChange(t, s)
		mustSession(t, s, u, "s1", base, time.Hour)
		checkChanges(t, "CreateSession", changesSince(t, s, last), user)

		mustSetActive(t, s, u.ID, false)
		last = mustLastChange(t, s)
		if _, err := s.SetActive(t.Context(), u.ID, true); err != nil {
			t.Fatalf("SetActive(true): %v", err)
		}
		checkChanges(t, "SetActive(true)", changesSince(t, s, last), user)

		last = mustLastChange(t, s)
		if _, err := s.SetPassword(t.Context(), u.ID, latchkey.PasswordUpdate{NewHash: "new"}); err != nil {
			t.Fatalf("SetPassword: %v", err)
		}
		checkChanges(t, "SetPassword(no sessions)", changesSince(t, s, last), user)
	}},
	{"OrderAndLimit", func(t *testing.T, s latchkey.Store) {
		u := mustUser(t, s, "alice")
		for i := range 6 {
			mustSession(t, s, u, fmt.Sprintf("s%d", i), base, time.Hour)
		}
		all, err := s.Changes(t.Context(), 0, 100)
		if err != nil {
			t.Fatalf("Changes(0, 100): %v", err)
		}
		if len(all) != 6 {
			t.Fatalf("Changes(0, 100) returned %d entries, want 6", len(all))
		}
		for i := 1; i < len(all); i++ {
			if all[i].Seq <= all[i-1].Seq {
				t.Fatalf("Changes not in ascending order: seq %d after %d", all[i].Seq, all[i-1].Seq)
			}
		}
		if last := mustLastChange(t, s); last != all[len(all)-1].Seq {
			t.Errorf("LastChange = %d, want %d", last, all[len(all)-1].Seq)
		}
		// Page through with limit 4: 4 entries, then 2, then none.
		after := int64(0)
		for _, want := range [][]latchkey.Change{all[:4], all[4:], nil} {
			page, err := s.Changes(t.Context(), after, 4)
			if err != nil {
				t.Fatalf("Changes(%d, 4): %v", after, err)
			}
			if len(page) != len(want) {
				t.Fatalf("Changes(%d, 4) returned %d entries, want %d", after, len(page), len(want))
			}
			for i := range want {
				if page[i] != want[i] {
					t.Errorf("Changes(%d, 4)[%d] = %s, want %s", after, i, fmtChange(page[i]), fmtChange(want[i]))
				}
			}
			if len(page) > 0 {
				after = page[len(page)-1].Seq
			}
		}
		page, err := s.Changes(t.Context(), all[1].Seq, 1)
		if err != nil {
			t.Fatalf("Changes(%d, 1): %v", all[1].Seq, err)
		}
		if len(page) != 1 || page[0] != all[2] {
			t.Errorf("Changes(%d, 1) = %v, want [%s]", all[1].Seq, page, fmtChange(all[2]))
		}
	}},
	{"Pruned", func(t *testing.T, s latchkey.Store) {
		u := mustUser(t, s, "alice")
		for i := range 5 {
			mustSession(t, s, u, fmt.Sprintf("s%d", i), base, time.Hour)
		}
		last := mustLastChange(t, s)
		// The store stamps entries with its own clock: every entry is
		// older than 3000.
		future := time.Date(3000, 1, 1, 0, 0, 0, 0, time.UTC)
		for range 2 {
			if _, err := s.DeleteExpired(t.Context(), future); err != nil {
				t.Fatalf("DeleteExpired: %v", err)
			}
			if got := mustLastChange(t, s); got != last {
				t.Fatalf("LastChange = %d after pruning, want %d: the newest entry is kept", got, last)
			}
		}
		_, err := s.Changes(t.Context(), 0, 100)
		wantErr(t, "Changes(0) after pruning", err, latchkey.ErrChangesLost)
		cs, err := s.Changes(t.Context(), last, 100)
		if err != nil || len(cs) != 0 {
			t.Errorf("Changes(LastChange) = %v, %v; want none, nil", cs, err)
		}
		cs, err = s.Changes(t.Context(), last-1, 100)
		if err != nil || len(cs) != 1 || cs[0].Seq != last {
			t.Errorf("Changes(LastChange-1) = %v, %v; want the newest entry", cs, err)
		}
		// The feed goes on from there.
		u2 := mustUser(t, s, "bob")
		mustSession(t, s, u2, "bob1", base, time.Hour)
		checkChanges(t, "CreateSession after pruning", changesSince(t, s, last), []latchkey.Change{{UserID: u2.ID}})
	}},
}

var contextTests = []test{
	{"Canceled", func(t *testing.T, s latchkey.Store) {
		u := mustUser(t, s, "alice")
		in := mustSession(t, s, u, "s1", base, time.Hour)
		ctx, cancel := context.WithCancel(t.Context())
		cancel()
		calls := []op{
			{"CreateUser", func() error { return second(s.CreateUser(ctx, userFor("bob"))) }},
			{"UserByID", func() error { return second(s.UserByID(ctx, u.ID)) }},
			{"UserByUsername", func() error { return second(s.UserByUsername(ctx, u.Username)) }},
			{"ListUsers", func() error { return second(s.ListUsers(ctx)) }},
			{"PasswordHashes", func() error { return s.PasswordHashes(ctx, func(string) error { return nil }) }},
			{"SetActive", func() error { return second(s.SetActive(ctx, u.ID, false)) }},
			{"SetPassword", func() error { return second(s.SetPassword(ctx, u.ID, latchkey.PasswordUpdate{NewHash: "x"})) }},
			{"CreateSession", func() error {
				return s.CreateSession(ctx, sessionFor(u, "s2", base, time.Hour), latchkey.LoginUpdate{ExpectHash: u.PasswordHash, LastLogin: base})
			}},
			{"SessionByDigest", func() error { _, _, err := s.SessionByDigest(ctx, in.Digest); return err }},
			{"SessionByID", func() error { return second(s.SessionByID(ctx, in.ID)) }},
			{"ListSessions", func() error { return second(s.ListSessions(ctx, u.ID, base)) }},
			{"DeleteSession", func() error { return second(s.DeleteSession(ctx, u.ID, in.ID, base)) }},
			{"DeleteSessions", func() error { return second(s.DeleteSessions(ctx, u.ID, nil)) }},
			{"TouchSessions", func() error {
				return s.TouchSessions(ctx, map[latchkey.Digest]time.Time{in.Digest: base.Add(time.Hour)}, 0)
			}},
			{"DeleteExpired", func() error { return second(s.DeleteExpired(ctx, base.Add(time.Hour))) }},
			{"Changes", func() error { return second(s.Changes(ctx, 0, 10)) }},
			{"LastChange", func() error { return second(s.LastChange(ctx)) }},
			{"RenewReader", func() error { return s.RenewReader(ctx, "r", base.Add(time.Hour)) }},
			{"OtherReaders", func() error { return second(s.OtherReaders(ctx, "r", base)) }},
			{"Ping", func() error { return s.Ping(ctx) }},
		}
		for _, c := range calls {
			if err := c.call(); err == nil {
				t.Errorf("%s with a canceled context succeeded", c.name)
			}
		}
		// Nothing was written.
		wantSession(t, s, in)
		u.LastLogin = base
		checkUser(t, "UserByID", mustUserByID(t, s, u.ID), u)
	}},
}

var concurrencyTests = []test{
	{"CreateSessions", func(t *testing.T, s latchkey.Store) {
		u := mustUser(t, s, "alice")
		const n = 20
		var (
			wg    sync.WaitGroup
			start = make(chan struct{})
			errs  = make([]error, n)
			ss    = make([]latchkey.Session, n)
		)
		for i := range n {
			ss[i] = sessionFor(u, fmt.Sprintf("s%02d", i), base.Add(time.Duration(i)*time.Second), time.Hour)
			wg.Go(func() {
				<-start
				errs[i] = s.CreateSession(t.Context(), ss[i], latchkey.LoginUpdate{ExpectHash: u.PasswordHash, LastLogin: ss[i].CreatedAt})
			})
		}
		close(start)
		wg.Wait()
		for i, err := range errs {
			if err != nil {
				t.Errorf("CreateSession %d: %v", i, err)
			}
		}
		got, err := s.ListSessions(t.Context(), u.ID, base)
		if err != nil {
			t.Fatalf("ListSessions: %v", err)
		}
		if len(got) != n {
			t.Errorf("ListSessions returned %d sessions, want %d", len(got), n)
		}
	}},
	{"RevokeWhileLogin", func(t *testing.T, s latchkey.Store) {
		// Logins racing a global logout: every session is either revoked
		// (its digest returned) or still there, never lost between.
		u := mustUser(t, s, "alice")
		const n = 20
		var (
			wg      sync.WaitGroup
			start   = make(chan struct{})
			ss      = make([]latchkey.Session, n)
			mu      sync.Mutex
			revoked = map[latchkey.Digest]bool{}
		)
		for i := range n {
			ss[i] = sessionFor(u, fmt.Sprintf("s%02d", i), base, time.Hour)
			wg.Go(func() {
				<-start
				if err := s.CreateSession(t.Context(), ss[i], latchkey.LoginUpdate{ExpectHash: u.PasswordHash, LastLogin: base}); err != nil {
					t.Errorf("CreateSession: %v", err)
				}
			})
			if i%5 == 0 {
				wg.Go(func() {
					<-start
					ds, err := s.DeleteSessions(t.Context(), u.ID, nil)
					if err != nil {
						t.Errorf("DeleteSessions: %v", err)
					}
					mu.Lock()
					for _, d := range ds {
						if revoked[d] {
							t.Errorf("a digest was revoked twice")
						}
						revoked[d] = true
					}
					mu.Unlock()
				})
			}
		}
		close(start)
		wg.Wait()
		for _, in := range ss {
			_, _, err := s.SessionByDigest(t.Context(), in.Digest)
			switch {
			case err == nil && revoked[in.Digest]:
				t.Errorf("session %s was revoked and still exists", in.ID)
			case errors.Is(err, latchkey.ErrNotFound) && !revoked[in.Digest]:
				t.Errorf("session %s vanished without being revoked", in.ID)
			case err != nil && !errors.Is(err, latchkey.ErrNotFound):
				t.Errorf("SessionByDigest: %v", err)
			}
		}
		var inFeed int
		for _, c := range changesSince(t, s, 0) {
			if c.Session {
				inFeed++
				if !revoked[c.Digest] {
					t.Errorf("change feed revokes a digest no call returned")
				}
			}
		}
		if inFeed != len(revoked) {
			t.Errorf("change feed has %d revocations, calls returned %d", inFeed, len(revoked))
		}
	}},
}

// Fixtures.

func userFor(username string) latchkey.User {
	return latchkey.User{
		Username:     username,
		Email:        username + "@example.com",
		FirstName:    "First " + username,
		LastName:     "Last " + username,
		PasswordHash: "$argon2id$v=19$m=19456,t=2,p=1$" + username,
		Active:       true,
		DateJoined:   base.Add(-24 * time.Hour),
	}
}

func mustUser(t *testing.T, s latchkey.Store, username string) latchkey.User {
	t.Helper()
	u, err := s.CreateUser(t.Context(), userFor(username))
	if err != nil {
		t.Fatalf("CreateUser(%s): %v", username, err)
	}
	return u
}

func mustUserByID(t *testing.T, s latchkey.Store, id int64) latchkey.User {
	t.Helper()
	u, err := s.UserByID(t.Context(), id)
	if err != nil {
		t.Fatalf("UserByID(%d): %v", id, err)
	}
	return u
}

func mustSetActive(t *testing.T, s latchkey.Store, id int64, active bool) {
	t.Helper()
	if _, err := s.SetActive(t.Context(), id, active); err != nil {
		t.Fatalf("SetActive(%d, %v): %v", id, active, err)
	}
}

// sessionFor returns a session of u; its digest follows from id, so ids
// must be unique within a test.
func sessionFor(u latchkey.User, id string, created time.Time, ttl time.Duration) latchkey.Session {
	return latchkey.Session{
		ID:         id,
		UserID:     u.ID,
		Digest:     latchkey.Token("storetest-" + id).Digest(),
		CreatedAt:  created,
		LastUsedAt: created,
		ExpiresAt:  created.Add(ttl),
		IP:         "192.0.2.7",
		UserAgent:  "storetest/1.0 (" + id + ")",
		DeviceName: "Téléphone d'Anaïs " + id,
	}
}

// mustSession logs u in with a new session created at created.
func mustSession(t *testing.T, s latchkey.Store, u latchkey.User, id string, created time.Time, ttl time.Duration) latchkey.Session {
	t.Helper()
	in := sessionFor(u, id, created, ttl)
	if err := s.CreateSession(t.Context(), in, latchkey.LoginUpdate{ExpectHash: u.PasswordHash, LastLogin: base}); err != nil {
		t.Fatalf("CreateSession(%s): %v", id, err)
	}
	return in
}

func mustLastChange(t *testing.T, s latchkey.Store) int64 {
	t.Helper()
	last, err := s.LastChange(t.Context())
	if err != nil {
		t.Fatalf("LastChange: %v", err)
	}
	return last
}

// changesSince reads every entry after `after`, checking the order.
func changesSince(t *testing.T, s latchkey.Store, after int64) []latchkey.Change {
	t.Helper()
	cs, err := s.Changes(t.Context(), after, 10_000)
	if err != nil {
		t.Fatalf("Changes(%d): %v", after, err)
	}
	for i, c := range cs {
		if c.Seq <= after || i > 0 && c.Seq <= cs[i-1].Seq {
			t.Fatalf("Changes(%d): seq %d out of order", after, c.Seq)
		}
	}
	return cs
}

// Checks.

func second[T any](_ T, err error) error { return err }

func wantErr(t *testing.T, what string, err, target error) {
	t.Helper()
	if !errors.Is(err, target) {
		t.Errorf("%s: error %v, want %v", what, err, target)
	}
}

// wantNoSecret checks that err's text holds none of secrets (a digest, a
// password hash) in any case: errors end up in logs.
func wantNoSecret(t *testing.T, err error, secrets ...string) {
	t.Helper()
	if err == nil {
		return
	}
	msg := strings.ToLower(err.Error())
	for _, secret := range secrets {
		if strings.Contains(msg, strings.ToLower(secret)) {
			t.Errorf("error %q contains a secret", err)
		}
	}
}

func checkUser(t *testing.T, what string, got, want latchkey.User) {
	t.Helper()
	if got.ID != want.ID || got.Username != want.Username || got.Email != want.Email ||
		got.FirstName != want.FirstName || got.LastName != want.LastName ||
		got.PasswordHash != want.PasswordHash || got.Active != want.Active ||
		!got.LastLogin.Equal(want.LastLogin) || !got.DateJoined.Equal(want.DateJoined) {
		t.Errorf("%s:\n got %+v\nwant %+v", what, got, want)
	}
}

func checkSession(t *testing.T, what string, got, want latchkey.Session) {
	t.Helper()
	if got.ID != want.ID || got.UserID != want.UserID || got.Digest != want.Digest ||
		!got.CreatedAt.Equal(want.CreatedAt) || !got.LastUsedAt.Equal(want.LastUsedAt) ||
		!got.ExpiresAt.Equal(want.ExpiresAt) || got.IP != want.IP || got.UserAgent != want.UserAgent ||
		got.DeviceName != want.DeviceName {
		t.Errorf("%s:\n got %s\nwant %s", what, fmtSession(got), fmtSession(want))
	}
}

// wantSession checks that the stored session equals want.
func wantSession(t *testing.T, s latchkey.Store, want latchkey.Session) {
	t.Helper()
	got, _, err := s.SessionByDigest(t.Context(), want.Digest)
	if err != nil {
		t.Errorf("SessionByDigest(%s): %v", want.ID, err)
		return
	}
	checkSession(t, "SessionByDigest", got, want)
}

func wantNoSession(t *testing.T, s latchkey.Store, d latchkey.Digest) {
	t.Helper()
	_, _, err := s.SessionByDigest(t.Context(), d)
	wantErr(t, fmt.Sprintf("SessionByDigest(%.8s)", d.Hex()), err, latchkey.ErrNotFound)
}

// checkDigests compares digests as sets: their order is not specified.
func checkDigests(t *testing.T, what string, got, want []latchkey.Digest) {
	t.Helper()
	hex := func(ds []latchkey.Digest) []string {
		var hs []string
		for _, d := range ds {
			hs = append(hs, d.Hex()[:8])
		}
		slices.Sort(hs)
		return hs
	}
	if g, w := hex(got), hex(want); !slices.Equal(g, w) {
		t.Errorf("%s returned digests %v, want %v", what, g, w)
	}
}

// checkChanges compares the entries of one call, ignoring Seq and order.
func checkChanges(t *testing.T, what string, got, want []latchkey.Change) {
	t.Helper()
	norm := func(cs []latchkey.Change) []string {
		var out []string
		for _, c := range cs {
			c.Seq = 0
			out = append(out, fmtChange(c))
		}
		slices.Sort(out)
		return out
	}
	if g, w := norm(got), norm(want); !slices.Equal(g, w) {
		t.Errorf("%s wrote change entries\n %v\nwant\n %v", what, g, w)
	}
}

func digests(ss []latchkey.Session) []latchkey.Digest {
	var ds []latchkey.Digest
	for _, s := range ss {
		ds = append(ds, s.Digest)
	}
	return ds
}

func ids(ss []latchkey.Session) []string {
	var out []string
	for _, s := range ss {
		out = append(out, s.ID)
	}
	return out
}

func fmtSession(s latchkey.Session) string {
	return fmt.Sprintf("{ID:%s UserID:%d Digest:%.8s CreatedAt:%v LastUsedAt:%v ExpiresAt:%v IP:%s UserAgent:%q DeviceName:%q}",
		s.ID, s.UserID, s.Digest.Hex(), s.CreatedAt, s.LastUsedAt, s.ExpiresAt, s.IP, s.UserAgent, s.DeviceName)
}

func fmtChange(c latchkey.Change) string {
	if !c.Session {
		return fmt.Sprintf("{Seq:%d user %d}", c.Seq, c.UserID)
	}
	return fmt.Sprintf("{Seq:%d user %d session %.8s}", c.Seq, c.UserID, c.Digest.Hex())
}
