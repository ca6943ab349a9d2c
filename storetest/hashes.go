package storetest

import (
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/latchkeyhq/latchkey"
)

// The conformance cases of PasswordHashes: every stored hash, as the
// password hasher's calibration reads them.

// hashesOf returns what s.PasswordHashes gives, sorted.
func hashesOf(t *testing.T, s latchkey.Store) []string {
	t.Helper()
	var got []string
	err := s.PasswordHashes(t.Context(), func(h string) error {
		got = append(got, h)
		return nil
	})
	if err != nil {
		t.Fatalf("PasswordHashes: %v", err)
	}
	slices.Sort(got)
	return got
}

var passwordHashesTests = []test{
	{"Empty", func(t *testing.T, s latchkey.Store) {
		if got := hashesOf(t, s); len(got) != 0 {
			t.Errorf("PasswordHashes of an empty store = %q, want none", got)
		}
	}},
	{"EveryUser", func(t *testing.T, s latchkey.Store) {
		// Every user counts, whatever the hash and whether active or not;
		// two users with the same hash are two calls.
		hashes := []string{
			"pbkdf2_sha256$870000$salt$key=",
			"md5$salt$0123456789abcdef0123456789abcdef",
			"md5$salt$0123456789abcdef0123456789abcdef",
			"!unusable",
			"",
		}
		var want []string
		for i, h := range hashes {
			u := userFor(fmt.Sprintf("user%d", i))
			u.PasswordHash = h
			u.Active = i%2 == 0
			if _, err := s.CreateUser(t.Context(), u); err != nil {
				t.Fatalf("CreateUser: %v", err)
			}
			want = append(want, h)
		}
		slices.Sort(want)
		if got := hashesOf(t, s); !slices.Equal(got, want) {
			t.Errorf("PasswordHashes = %q, want %q", got, want)
		}
	}},
	{"AfterSetPassword", func(t *testing.T, s latchkey.Store) {
		u := mustUser(t, s, "alice")
		bob := mustUser(t, s, "bob")
		if _, err := s.SetPassword(t.Context(), u.ID, latchkey.PasswordUpdate{NewHash: "new-hash"}); err != nil {
			t.Fatalf("SetPassword: %v", err)
		}
		want := []string{bob.PasswordHash, "new-hash"}
		slices.Sort(want)
		if got := hashesOf(t, s); !slices.Equal(got, want) {
			t.Errorf("PasswordHashes = %q, want %q", got, want)
		}
	}},
	{"StopsOnError", func(t *testing.T, s latchkey.Store) {
		for _, name := range []string{"alice", "bob", "carol"} {
			mustUser(t, s, name)
		}
		stop := errors.New("stop")
		calls := 0
		err := s.PasswordHashes(t.Context(), func(string) error {
			calls++
			return stop
		})
		if err != stop {
			t.Errorf("PasswordHashes = %v, want fn's error unchanged", err)
		}
		if calls != 1 {
			t.Errorf("fn called %d times after its error, want 1 call", calls)
		}
		// The store is still usable: the rows were released.
		if got := hashesOf(t, s); len(got) != 3 {
			t.Errorf("PasswordHashes after a stopped walk = %q, want 3 hashes", got)
		}
		if err := s.RenewReader(t.Context(), "r", base.Add(time.Hour)); err != nil {
			t.Errorf("RenewReader after a stopped walk: %v", err)
		}
	}},
}
