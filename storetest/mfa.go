package storetest

import (
	"bytes"
	"crypto/sha256"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/latchkeyhq/latchkey"
)

// The conformance cases of second factors (MFAStore), and of the mark
// that makes CreateSession refuse a login without one.

func pendingFor(u latchkey.User, sealed string) latchkey.TOTP {
	return latchkey.TOTP{UserID: u.ID, Sealed: []byte(sealed), CreatedAt: base}
}

func codeDigests(prefix string, n int) []latchkey.Digest {
	ds := make([]latchkey.Digest, n)
	for i := range ds {
		ds[i] = sha256.Sum256(fmt.Appendf(nil, "%s-%d", prefix, i))
	}
	return ds
}

// mustConfirm enrols u and confirms the TOTP at step 100 with 10 recovery
// codes (codeDigests("rc", 10)).
func mustConfirm(t *testing.T, s latchkey.Store, u latchkey.User) {
	t.Helper()
	if err := s.PutPendingTOTP(t.Context(), pendingFor(u, "sealed-"+u.Username)); err != nil {
		t.Fatalf("PutPendingTOTP: %v", err)
	}
	if err := s.ConfirmTOTP(t.Context(), u.ID, []byte("sealed-"+u.Username), 100, codeDigests("rc", 10)); err != nil {
		t.Fatalf("ConfirmTOTP: %v", err)
	}
}

func challengeFor(u latchkey.User, token string, expires time.Time) latchkey.MFAChallenge {
	return latchkey.MFAChallenge{
		Digest:     latchkey.Token(token).Digest(),
		UserID:     u.ID,
		HashDigest: sha256.Sum256([]byte(u.PasswordHash)),
		DeviceName: "Téléphone",
		CreatedAt:  base,
		ExpiresAt:  expires,
	}
}

// concurrently runs fn n times at once and counts the calls that
// returned true.
func concurrently(n int, fn func(i int) bool) int {
	var (
		wg    sync.WaitGroup
		start = make(chan struct{})
		ok    atomic.Int32
	)
	for i := range n {
		wg.Go(func() {
			<-start
			if fn(i) {
				ok.Add(1)
			}
		})
	}
	close(start)
	wg.Wait()
	return int(ok.Load())
}

var mfaTests = []test{
	{"PendingReplacedThenConfirmed", func(t *testing.T, s latchkey.Store) {
		ctx := t.Context()
		u := mustUser(t, s, "alice")
		wantErr(t, "TOTPOf before enrolment", second(s.TOTPOf(ctx, u.ID)), latchkey.ErrNotFound)
		for _, sealed := range []string{"first", "second"} {
			if err := s.PutPendingTOTP(ctx, pendingFor(u, sealed)); err != nil {
				t.Fatalf("PutPendingTOTP(%s): %v", sealed, err)
			}
		}
		got, err := s.TOTPOf(ctx, u.ID)
		if err != nil {
			t.Fatalf("TOTPOf: %v", err)
		}
		if string(got.Sealed) != "second" || got.Confirmed || got.LastStep != 0 || !got.CreatedAt.Equal(base) {
			t.Errorf("TOTPOf = %+v, want the second pending secret", got)
		}
		wantErr(t, "ConfirmTOTP of a replaced secret", s.ConfirmTOTP(ctx, u.ID, []byte("first"), 7, nil), latchkey.ErrNotFound)
		if err := s.ConfirmTOTP(ctx, u.ID, []byte("second"), 7, codeDigests("rc", 10)); err != nil {
			t.Fatalf("ConfirmTOTP: %v", err)
		}
		got, err = s.TOTPOf(ctx, u.ID)
		if err != nil || !got.Confirmed || got.LastStep != 7 {
			t.Errorf("TOTPOf after ConfirmTOTP = %+v, %v; want confirmed at step 7", got, err)
		}
		if n, err := s.RecoveryCodesLeft(ctx, u.ID); n != 10 || err != nil {
			t.Errorf("RecoveryCodesLeft = %d, %v; want 10", n, err)
		}
		wantErr(t, "ConfirmTOTP twice", s.ConfirmTOTP(ctx, u.ID, []byte("second"), 8, nil), latchkey.ErrNotFound)
		wantErr(t, "PutPendingTOTP over a confirmed TOTP", s.PutPendingTOTP(ctx, pendingFor(u, "third")), latchkey.ErrConflict)
	}},
	{"UnknownUser", func(t *testing.T, s latchkey.Store) {
		ghost := latchkey.User{ID: 999_999}
		wantErr(t, "PutPendingTOTP", s.PutPendingTOTP(t.Context(), pendingFor(ghost, "x")), latchkey.ErrNotFound)
		wantErr(t, "ConfirmTOTP", s.ConfirmTOTP(t.Context(), ghost.ID, []byte("x"), 1, nil), latchkey.ErrNotFound)
		wantErr(t, "DeleteMFA", second(s.DeleteMFA(t.Context(), ghost.ID, true)), latchkey.ErrNotFound)
		if ok, err := s.AcceptTOTPStep(t.Context(), ghost.ID, 5); ok || err != nil {
			t.Errorf("AcceptTOTPStep = %v, %v; want false", ok, err)
		}
	}},
	{"StepAcceptedOnceAndForward", func(t *testing.T, s latchkey.Store) {
		ctx := t.Context()
		u := mustUser(t, s, "alice")
		if err := s.PutPendingTOTP(ctx, pendingFor(u, "p")); err != nil {
			t.Fatal(err)
		}
		if ok, err := s.AcceptTOTPStep(ctx, u.ID, 50); ok || err != nil {
			t.Errorf("AcceptTOTPStep on a pending TOTP = %v, %v; want false", ok, err)
		}
		mustConfirmOf(t, s, u, "p", 100)
		for _, c := range []struct {
			step int64
			want bool
		}{{100, false}, {99, false}, {101, true}, {101, false}, {103, true}, {102, false}} {
			if ok, err := s.AcceptTOTPStep(ctx, u.ID, c.step); ok != c.want || err != nil {
				t.Errorf("AcceptTOTPStep(%d) = %v, %v; want %v", c.step, ok, err, c.want)
			}
		}
		if n := concurrently(20, func(int) bool {
			ok, err := s.AcceptTOTPStep(ctx, u.ID, 200)
			return ok && err == nil
		}); n != 1 {
			t.Errorf("%d of 20 concurrent AcceptTOTPStep(200) accepted it, want 1", n)
		}
	}},
	{"RecoveryCodeUsedOnce", func(t *testing.T, s latchkey.Store) {
		ctx := t.Context()
		u := mustUser(t, s, "alice")
		bob := mustUser(t, s, "bob")
		mustConfirm(t, s, u)
		codes := codeDigests("rc", 10)
		if ok, err := s.UseRecoveryCode(ctx, bob.ID, codes[0]); ok || err != nil {
			t.Errorf("UseRecoveryCode of another user's code = %v, %v; want false", ok, err)
		}
		if ok, err := s.UseRecoveryCode(ctx, u.ID, codes[0]); !ok || err != nil {
			t.Errorf("UseRecoveryCode = %v, %v; want true", ok, err)
		}
		if ok, err := s.UseRecoveryCode(ctx, u.ID, codes[0]); ok || err != nil {
			t.Errorf("UseRecoveryCode again = %v, %v; want false", ok, err)
		}
		if n := concurrently(20, func(int) bool {
			ok, err := s.UseRecoveryCode(ctx, u.ID, codes[1])
			return ok && err == nil
		}); n != 1 {
			t.Errorf("%d of 20 concurrent uses of one code succeeded, want 1", n)
		}
		if n, err := s.RecoveryCodesLeft(ctx, u.ID); n != 8 || err != nil {
			t.Errorf("RecoveryCodesLeft = %d, %v; want 8", n, err)
		}
	}},
	{"CreateSessionNeedsSecondFactor", func(t *testing.T, s latchkey.Store) {
		ctx := t.Context()
		u := mustUser(t, s, "alice")
		if err := s.PutPendingTOTP(ctx, pendingFor(u, "p")); err != nil {
			t.Fatal(err)
		}
		mustSession(t, s, u, "pending", base, time.Hour) // a pending TOTP asks nothing
		mustConfirmOf(t, s, u, "p", 1)
		without := sessionFor(u, "without", base, time.Hour)
		wantErr(t, "CreateSession without a second factor", s.CreateSession(ctx, without, latchkey.LoginUpdate{ExpectHash: u.PasswordHash}), latchkey.ErrConflict)
		wantNoSession(t, s, without.Digest)
		with := sessionFor(u, "with", base, time.Hour)
		if err := s.CreateSession(ctx, with, latchkey.LoginUpdate{ExpectHash: u.PasswordHash, SecondFactor: true}); err != nil {
			t.Fatalf("CreateSession with a second factor: %v", err)
		}
		wantSession(t, s, with)
		if _, err := s.DeleteMFA(ctx, u.ID, false); err != nil {
			t.Fatalf("DeleteMFA: %v", err)
		}
		mustSession(t, s, u, "after", base, time.Hour)
		wantSession(t, s, with) // kept without revoke
	}},
	{"DeleteMFA", func(t *testing.T, s latchkey.Store) {
		ctx := t.Context()
		u := mustUser(t, s, "alice")
		bob := mustUser(t, s, "bob")
		in := mustSession(t, s, u, "s1", base, time.Hour)
		mustConfirm(t, s, u)
		mustConfirm(t, s, bob)
		if err := s.CreateMFAChallenge(ctx, challengeFor(u, "c1", base.Add(time.Hour))); err != nil {
			t.Fatal(err)
		}
		before := mustLastChange(t, s)
		ds, err := s.DeleteMFA(ctx, u.ID, true)
		if err != nil {
			t.Fatalf("DeleteMFA: %v", err)
		}
		checkDigests(t, "DeleteMFA", ds, []latchkey.Digest{in.Digest})
		wantNoSession(t, s, in.Digest)
		if cs := changesSince(t, s, before); !hasSessionChange(cs, in.Digest) {
			t.Errorf("changes after DeleteMFA: %v, want the revoked session", cs)
		}
		wantErr(t, "TOTPOf after DeleteMFA", second(s.TOTPOf(ctx, u.ID)), latchkey.ErrNotFound)
		if n, err := s.RecoveryCodesLeft(ctx, u.ID); n != 0 || err != nil {
			t.Errorf("RecoveryCodesLeft = %d, %v; want 0", n, err)
		}
		wantErr(t, "AttemptMFAChallenge after DeleteMFA", second(s.AttemptMFAChallenge(ctx, latchkey.Token("c1").Digest(), base, 5)), latchkey.ErrNotFound)
		if n, err := s.RecoveryCodesLeft(ctx, bob.ID); n != 10 || err != nil {
			t.Errorf("bob's RecoveryCodesLeft = %d, %v; want 10", n, err)
		}
		mustSession(t, s, u, "s2", base, time.Hour)
		if err := s.PutPendingTOTP(ctx, pendingFor(u, "again")); err != nil {
			t.Errorf("PutPendingTOTP after DeleteMFA: %v", err)
		}
	}},
	{"Challenge", func(t *testing.T, s latchkey.Store) {
		ctx := t.Context()
		u := mustUser(t, s, "alice")
		in := challengeFor(u, "c1", base.Add(5*time.Minute))
		if err := s.CreateMFAChallenge(ctx, in); err != nil {
			t.Fatalf("CreateMFAChallenge: %v", err)
		}
		for i := 1; i <= 5; i++ {
			got, err := s.AttemptMFAChallenge(ctx, in.Digest, base, 5)
			if err != nil {
				t.Fatalf("attempt %d: %v", i, err)
			}
			want := in
			want.Attempts = i
			if got.UserID != want.UserID || got.HashDigest != want.HashDigest || got.DeviceName != want.DeviceName ||
				!got.CreatedAt.Equal(want.CreatedAt) || !got.ExpiresAt.Equal(want.ExpiresAt) || got.Attempts != i {
				t.Errorf("attempt %d = %+v, want %+v", i, got, want)
			}
		}
		wantErr(t, "a sixth attempt", second(s.AttemptMFAChallenge(ctx, in.Digest, base, 5)), latchkey.ErrNotFound)

		live := challengeFor(u, "c2", base.Add(5*time.Minute))
		if err := s.CreateMFAChallenge(ctx, live); err != nil {
			t.Fatal(err)
		}
		wantErr(t, "an attempt at expiry", second(s.AttemptMFAChallenge(ctx, live.Digest, live.ExpiresAt, 5)), latchkey.ErrNotFound)
		wantErr(t, "an unknown challenge", second(s.AttemptMFAChallenge(ctx, latchkey.Token("nope").Digest(), base, 5)), latchkey.ErrNotFound)
		if n := concurrently(20, func(int) bool {
			_, err := s.AttemptMFAChallenge(ctx, live.Digest, base, 5)
			return err == nil
		}); n != 5 {
			t.Errorf("%d of 20 concurrent attempts counted, want 5", n)
		}
		used := challengeFor(u, "c3", base.Add(5*time.Minute))
		if err := s.CreateMFAChallenge(ctx, used); err != nil {
			t.Fatal(err)
		}
		if n := concurrently(20, func(int) bool { return s.UseMFAChallenge(ctx, used.Digest) == nil }); n != 1 {
			t.Errorf("%d of 20 concurrent UseMFAChallenge succeeded, want 1", n)
		}
		wantErr(t, "UseMFAChallenge again", s.UseMFAChallenge(ctx, used.Digest), latchkey.ErrNotFound)
		wantErr(t, "an attempt after use", second(s.AttemptMFAChallenge(ctx, used.Digest, base, 5)), latchkey.ErrNotFound)
	}},
	{"ChallengesExpire", func(t *testing.T, s latchkey.Store) {
		ctx := t.Context()
		u := mustUser(t, s, "alice")
		old := challengeFor(u, "old", base.Add(time.Minute))
		young := challengeFor(u, "young", base.Add(time.Hour))
		for _, c := range []latchkey.MFAChallenge{old, young} {
			if err := s.CreateMFAChallenge(ctx, c); err != nil {
				t.Fatal(err)
			}
		}
		if _, err := s.DeleteExpired(ctx, base.Add(30*time.Minute)); err != nil {
			t.Fatalf("DeleteExpired: %v", err)
		}
		wantErr(t, "an attempt at a pruned challenge", second(s.AttemptMFAChallenge(ctx, old.Digest, base, 5)), latchkey.ErrNotFound)
		if _, err := s.AttemptMFAChallenge(ctx, young.Digest, base, 5); err != nil {
			t.Errorf("an attempt at a live challenge: %v", err)
		}
	}},
	{"KeyCheck", func(t *testing.T, s latchkey.Store) {
		ctx := t.Context()
		first := bytes.Repeat([]byte{1}, 32)
		for i, c := range []struct {
			check []byte
			want  bool
		}{{first, true}, {first, true}, {bytes.Repeat([]byte{2}, 32), false}, {first, true}} {
			if ok, err := s.MFAKeyCheck(ctx, c.check); ok != c.want || err != nil {
				t.Errorf("MFAKeyCheck #%d = %v, %v; want %v", i, ok, err, c.want)
			}
		}
	}},
	{"ConfirmRacesLogins", func(t *testing.T, s latchkey.Store) {
		// Logins without a second factor run while a confirmation
		// commits: once ConfirmTOTP has returned, none may succeed.
		ctx := t.Context()
		u := mustUser(t, s, "alice")
		if err := s.PutPendingTOTP(ctx, pendingFor(u, "p")); err != nil {
			t.Fatal(err)
		}
		var (
			confirmed atomic.Bool
			late      atomic.Int32
			wg        sync.WaitGroup
			stop      = make(chan struct{})
		)
		for g := range 8 {
			wg.Go(func() {
				for i := 0; ; i++ {
					select {
					case <-stop:
						return
					default:
					}
					after := confirmed.Load()
					in := sessionFor(u, fmt.Sprintf("g%d-%d", g, i), base, time.Hour)
					err := s.CreateSession(ctx, in, latchkey.LoginUpdate{ExpectHash: u.PasswordHash})
					if err == nil && after {
						late.Add(1)
					}
				}
			})
		}
		time.Sleep(20 * time.Millisecond)
		mustConfirmOf(t, s, u, "p", 1)
		confirmed.Store(true)
		time.Sleep(50 * time.Millisecond)
		close(stop)
		wg.Wait()
		if n := late.Load(); n > 0 {
			t.Errorf("%d logins without a second factor succeeded after ConfirmTOTP returned", n)
		}
	}},
}

func mustConfirmOf(t *testing.T, s latchkey.Store, u latchkey.User, sealed string, step int64) {
	t.Helper()
	if err := s.ConfirmTOTP(t.Context(), u.ID, []byte(sealed), step, codeDigests("rc", 10)); err != nil {
		t.Fatalf("ConfirmTOTP: %v", err)
	}
}

func hasSessionChange(cs []latchkey.Change, d latchkey.Digest) bool {
	for _, c := range cs {
		if c.Session && c.Digest == d {
			return true
		}
	}
	return false
}
