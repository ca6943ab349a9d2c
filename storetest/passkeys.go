package storetest

import (
	"bytes"
	"reflect"
	"testing"
	"time"

	"github.com/latchkeyhq/latchkey"
)

// The conformance cases of passkeys (PasskeyStore).

func passkeyFor(u latchkey.User, id string, created time.Time) latchkey.Passkey {
	return latchkey.Passkey{
		CredentialID:    []byte(id),
		UserID:          u.ID,
		PublicKey:       []byte("cose-key-" + id),
		SignCount:       7,
		Transports:      []string{"internal", "hybrid"},
		AAGUID:          bytes.Repeat([]byte{0xad}, 16),
		AttestationType: "none",
		BackupEligible:  true,
		BackupState:     true,
		Name:            "Clé d'Anaïs 🔑",
		CreatedAt:       created,
	}
}

func mustPasskey(t *testing.T, s latchkey.Store, p latchkey.Passkey) {
	t.Helper()
	if err := s.CreatePasskey(t.Context(), p); err != nil {
		t.Fatalf("CreatePasskey(%q): %v", p.CredentialID, err)
	}
}

var passkeyTests = []test{
	{"RoundTrip", func(t *testing.T, s latchkey.Store) {
		u := mustUser(t, s, "alice")
		want := passkeyFor(u, "cred\x00\xff", base)
		mustPasskey(t, s, want)
		got, err := s.PasskeyByCredentialID(t.Context(), want.CredentialID)
		if err != nil {
			t.Fatalf("PasskeyByCredentialID: %v", err)
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("PasskeyByCredentialID = %+v\nwant %+v", got, want)
		}
	}},
	{"Minimal", func(t *testing.T, s latchkey.Store) {
		u := mustUser(t, s, "alice")
		want := latchkey.Passkey{CredentialID: []byte{1}, UserID: u.ID, PublicKey: []byte{2}, CreatedAt: base}
		mustPasskey(t, s, want)
		got, err := s.PasskeyByCredentialID(t.Context(), want.CredentialID)
		if err != nil {
			t.Fatalf("PasskeyByCredentialID: %v", err)
		}
		if got.SignCount != 0 || got.Transports != nil || len(got.AAGUID) != 0 || !got.LastUsedAt.IsZero() || got.Name != "" {
			t.Errorf("PasskeyByCredentialID = %+v, want the zero fields back", got)
		}
	}},
	{"MaxCounter", func(t *testing.T, s latchkey.Store) {
		u := mustUser(t, s, "alice")
		p := passkeyFor(u, "c", base)
		p.SignCount = 1<<32 - 1
		mustPasskey(t, s, p)
		got, err := s.PasskeyByCredentialID(t.Context(), p.CredentialID)
		if err != nil || got.SignCount != p.SignCount {
			t.Fatalf("PasskeyByCredentialID = %d, %v; want %d", got.SignCount, err, p.SignCount)
		}
	}},
	{"DuplicateCredentialID", func(t *testing.T, s latchkey.Store) {
		alice, bob := mustUser(t, s, "alice"), mustUser(t, s, "bob")
		mustPasskey(t, s, passkeyFor(alice, "c", base))
		wantErr(t, "same user", s.CreatePasskey(t.Context(), passkeyFor(alice, "c", base)), latchkey.ErrConflict)
		wantErr(t, "other user", s.CreatePasskey(t.Context(), passkeyFor(bob, "c", base)), latchkey.ErrConflict)
	}},
	{"UnknownUser", func(t *testing.T, s latchkey.Store) {
		wantErr(t, "CreatePasskey", s.CreatePasskey(t.Context(), passkeyFor(latchkey.User{ID: 999}, "c", base)), latchkey.ErrNotFound)
	}},
	{"NotFound", func(t *testing.T, s latchkey.Store) {
		wantErr(t, "PasskeyByCredentialID", second(s.PasskeyByCredentialID(t.Context(), []byte("nope"))), latchkey.ErrNotFound)
	}},
	{"OfUserOldestFirst", func(t *testing.T, s latchkey.Store) {
		alice, bob := mustUser(t, s, "alice"), mustUser(t, s, "bob")
		if ps, err := s.PasskeysOf(t.Context(), alice.ID); err != nil || len(ps) != 0 {
			t.Fatalf("PasskeysOf before any = %v, %v", ps, err)
		}
		mustPasskey(t, s, passkeyFor(alice, "b", base.Add(time.Minute)))
		mustPasskey(t, s, passkeyFor(alice, "a", base.Add(2*time.Minute)))
		mustPasskey(t, s, passkeyFor(alice, "c", base))
		mustPasskey(t, s, passkeyFor(bob, "d", base))
		ps, err := s.PasskeysOf(t.Context(), alice.ID)
		if err != nil {
			t.Fatalf("PasskeysOf: %v", err)
		}
		var ids []string
		for _, p := range ps {
			ids = append(ids, string(p.CredentialID))
		}
		if want := []string{"c", "b", "a"}; !reflect.DeepEqual(ids, want) {
			t.Errorf("PasskeysOf = %q, want %q", ids, want)
		}
	}},
	{"Use", func(t *testing.T, s latchkey.Store) {
		ctx := t.Context()
		u := mustUser(t, s, "alice")
		p := passkeyFor(u, "c", base)
		mustPasskey(t, s, p)
		at := base.Add(time.Hour)
		if err := s.UsePasskey(ctx, latchkey.PasskeyUse{CredentialID: p.CredentialID, OldCount: 7, NewCount: 9, At: at}); err != nil {
			t.Fatalf("UsePasskey: %v", err)
		}
		got, err := s.PasskeyByCredentialID(ctx, p.CredentialID)
		if err != nil {
			t.Fatal(err)
		}
		if got.SignCount != 9 || got.BackupState || !got.LastUsedAt.Equal(at) {
			t.Errorf("after UsePasskey: count %d, backup state %t, last used %v; want 9, false, %v",
				got.SignCount, got.BackupState, got.LastUsedAt, at)
		}
		// Checked against a counter that moved: refused, nothing written.
		err = s.UsePasskey(ctx, latchkey.PasskeyUse{CredentialID: p.CredentialID, OldCount: 7, NewCount: 10, At: at.Add(time.Hour)})
		wantErr(t, "UsePasskey with a stale counter", err, latchkey.ErrConflict)
		if got, _ := s.PasskeyByCredentialID(ctx, p.CredentialID); got.SignCount != 9 || !got.LastUsedAt.Equal(at) {
			t.Errorf("after a refused use: count %d, last used %v", got.SignCount, got.LastUsedAt)
		}
		err = s.UsePasskey(ctx, latchkey.PasskeyUse{CredentialID: []byte("gone"), OldCount: 0, NewCount: 1, At: at})
		wantErr(t, "UsePasskey of no passkey", err, latchkey.ErrNotFound)
	}},
	{"UseConcurrent", func(t *testing.T, s latchkey.Store) {
		u := mustUser(t, s, "alice")
		p := passkeyFor(u, "c", base)
		mustPasskey(t, s, p)
		n := concurrently(8, func(i int) bool {
			err := s.UsePasskey(t.Context(), latchkey.PasskeyUse{CredentialID: p.CredentialID, OldCount: 7, NewCount: 8 + uint32(i), At: base})
			if err != nil && !isConflict(err) {
				t.Errorf("UsePasskey: %v", err)
			}
			return err == nil
		})
		if n != 1 {
			t.Errorf("%d of 8 uses against one counter recorded, want 1", n)
		}
	}},
	{"Delete", func(t *testing.T, s latchkey.Store) {
		ctx := t.Context()
		alice, bob := mustUser(t, s, "alice"), mustUser(t, s, "bob")
		mustPasskey(t, s, passkeyFor(alice, "c", base))
		wantErr(t, "DeletePasskey of another user", s.DeletePasskey(ctx, bob.ID, []byte("c")), latchkey.ErrNotFound)
		if err := s.DeletePasskey(ctx, alice.ID, []byte("c")); err != nil {
			t.Fatalf("DeletePasskey: %v", err)
		}
		wantErr(t, "DeletePasskey again", s.DeletePasskey(ctx, alice.ID, []byte("c")), latchkey.ErrNotFound)
		wantErr(t, "PasskeyByCredentialID after delete", second(s.PasskeyByCredentialID(ctx, []byte("c"))), latchkey.ErrNotFound)
	}},
}

func isConflict(err error) bool { return latchkey.ErrorKind(err) == latchkey.KindConflict }
