package latchkey_test

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/latchkeyhq/latchkey"
)

// TestNoStaleAnswerAfterRevocation: once a revocation has returned, a
// process that cached the token before it does not serve it, even when it
// has not read the change feed since: the revoking process waited until
// that process's lease on its cache had lapsed. A lone process does not
// wait.
func TestNoStaleAnswerAfterRevocation(t *testing.T) {
	ctx := context.Background()
	var waits atomic.Int64
	var waited atomic.Int64
	a := newFixture(t, latchkey.Options{})
	a.addUser(t, "alice")
	opt := func() latchkey.Options {
		return latchkey.Options{Sleep: func(_ context.Context, d time.Duration) {
			waits.Add(1)
			waited.Add(int64(d))
			a.clock.Add(d)
		}}
	}
	// Alone on its database, a process answers at once.
	lone := newFixture(t, opt())
	lone.addUser(t, "alice")
	is := lone.login(t, "alice")
	p, err := lone.auth.Authenticate(ctx, is.Token.Reveal())
	if err != nil {
		t.Fatal(err)
	}
	if err := lone.auth.Logout(ctx, p, latchkey.LogoutLocal); err != nil {
		t.Fatal(err)
	}
	if n := waits.Load(); n != 0 {
		t.Fatalf("a lone process waited %d times", n)
	}

	for _, tc := range []struct {
		name   string
		revoke func(f *fixture, p latchkey.Principal) error
	}{
		{"logout", func(f *fixture, p latchkey.Principal) error { return f.auth.Logout(ctx, p, latchkey.LogoutLocal) }},
		{"delete session", func(f *fixture, p latchkey.Principal) error { return f.auth.RevokeSession(ctx, p, p.Session.SessionID) }},
		{"password change", func(f *fixture, p latchkey.Principal) error {
			_, err := f.auth.ChangePassword(ctx, p, pw, pw+" again", latchkey.Client{})
			if err == nil {
				err = f.auth.SetUserPassword(ctx, "alice", pw)
			}
			return err
		}},
		{"disable", func(f *fixture, p latchkey.Principal) error {
			if err := f.auth.SetUserActive(ctx, "alice", false); err != nil {
				return err
			}
			return f.auth.SetUserActive(ctx, "alice", true)
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := newFixtureOn(t, a.path, a.clock, opt()) // revokes
			b := newFixtureOn(t, a.path, a.clock, opt()) // caches the token
			is := r.login(t, "alice")
			if _, err := b.auth.Authenticate(ctx, is.Token.Reveal()); err != nil {
				t.Fatal(err)
			}
			before := b.store.calls()
			if _, err := b.auth.Authenticate(ctx, is.Token.Reveal()); err != nil || b.store.calls() != before {
				t.Fatalf("b does not serve the token from its cache: %v", err)
			}
			p, err := r.auth.Authenticate(ctx, is.Token.Reveal())
			if err != nil {
				t.Fatal(err)
			}
			waits.Store(0)
			waited.Store(0)
			if err := tc.revoke(r, p); err != nil {
				t.Fatal(err)
			}
			if waits.Load() == 0 {
				t.Fatal("the revocation did not wait for the other readers")
			}
			// b has not read the feed since it cached the token.
			_, err = b.auth.Authenticate(ctx, is.Token.Reveal())
			if err == nil {
				t.Fatalf("b served the revoked token after the %s returned (waited %v)", tc.name, time.Duration(waited.Load()))
			}
			wantErr(t, err, latchkey.ErrInvalidToken)
		})
	}
}
