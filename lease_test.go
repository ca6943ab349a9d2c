package latchkey_test

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/latchkeyhq/latchkey"
	"github.com/latchkeyhq/latchkey/cache/memory"
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
	if err := lone.auth.Logout(ctx, p, latchkey.LogoutLocal, latchkey.Client{}); err != nil {
		t.Fatal(err)
	}
	if n := waits.Load(); n != 0 {
		t.Fatalf("a lone process waited %d times", n)
	}

	for _, tc := range []struct {
		name   string
		revoke func(f *fixture, p latchkey.Principal) error
	}{
		{"logout", func(f *fixture, p latchkey.Principal) error {
			return f.auth.Logout(ctx, p, latchkey.LogoutLocal, latchkey.Client{})
		}},
		{"delete session", func(f *fixture, p latchkey.Principal) error {
			return f.auth.RevokeSession(ctx, p, p.Session.SessionID, latchkey.Client{})
		}},
		{"password change", func(f *fixture, p latchkey.Principal) error {
			_, err := f.auth.ChangePassword(ctx, p, pw, pw+" again", "", latchkey.Client{})
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

// lossyCache is a cache shared by several Authenticators, as Redis is,
// that can be made to lose a delete, as a Redis failover to a replica that
// had not received it does, and then reports the loss.
type lossyCache struct {
	*memory.Cache
	mu     sync.Mutex
	onLoss []func()
}

func (c *lossyCache) OnLoss(fn func()) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.onLoss = append(c.onLoss, fn)
}

// fail puts back the entries a lost delete would have left, then reports
// the loss.
func (c *lossyCache) fail(tb testing.TB, d latchkey.Digest, s latchkey.CachedSession, u latchkey.User) {
	tb.Helper()
	ctx := context.Background()
	if err := c.PutSession(ctx, d, s); err != nil {
		tb.Fatal(err)
	}
	if err := c.PutUser(ctx, u); err != nil {
		tb.Fatal(err)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, fn := range c.onLoss {
		fn()
	}
}

// TestCacheLossReplaysFeed: when a shared cache loses a delete (a Redis
// failover to a replica the delete had not reached) and reports it, a
// process serves nothing from it until it has replayed the change feed
// from before the loss, which deletes the revoked entry again; the revoked
// token is refused throughout. Without the replay, the next Sync would
// renew the lease and the resurrected entry would answer.
func TestCacheLossReplaysFeed(t *testing.T) {
	ctx := context.Background()
	c := newClock()
	path := filepath.Join(t.TempDir(), "latchkey.db")
	shared := &lossyCache{Cache: memory.New(memory.Options{MaxEntries: 1000, Now: c.Now})}
	var logs bytes.Buffer
	node := func(log *slog.Logger) *latchkey.Authenticator {
		a := latchkey.NewAuthenticator(openStore(t, path), shared, cheapHasher(t), latchkey.Options{
			Now: c.Now, Sleep: func(_ context.Context, d time.Duration) { c.Add(d) }, Logger: log})
		if err := a.Start(ctx); err != nil {
			t.Fatal(err)
		}
		return a
	}
	a := node(nil)
	b := node(slog.New(slog.NewTextHandler(&logs, nil)))
	if _, err := a.AddUser(ctx, latchkey.NewUser{Username: "alice"}, pw); err != nil {
		t.Fatal(err)
	}
	// Checkpoints over two minutes, so that the replay must pick the
	// right one rather than the first.
	for range 120 {
		c.Add(time.Second)
		if err := b.Sync(ctx); err != nil {
			t.Fatal(err)
		}
	}
	is, err := a.Login(ctx, latchkey.LoginRequest{Username: "alice", Password: pw})
	if err != nil {
		t.Fatal(err)
	}
	p, err := b.Authenticate(ctx, is.Token.Reveal())
	if err != nil {
		t.Fatal(err)
	}
	if _, ok, _ := shared.Session(ctx, p.Digest); !ok {
		t.Fatal("the token is not in the shared cache")
	}
	if err := a.Logout(ctx, p, latchkey.LogoutLocal, latchkey.Client{}); err != nil {
		t.Fatal(err)
	}
	for range 5 {
		c.Add(time.Second)
		if err := b.Sync(ctx); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := b.Authenticate(ctx, is.Token.Reveal()); !errors.Is(err, latchkey.ErrInvalidToken) {
		t.Fatalf("after logout: %v, want ErrInvalidToken", err)
	}

	shared.fail(t, p.Digest, p.Session, p.User)
	if _, err := b.Authenticate(ctx, is.Token.Reveal()); !errors.Is(err, latchkey.ErrInvalidToken) {
		t.Fatalf("after the loss, before a sync: %v, want ErrInvalidToken (the lease must end at once)", err)
	}
	c.Add(50 * time.Millisecond)
	if err := b.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	if _, ok, _ := shared.Session(ctx, p.Digest); ok {
		t.Error("the replay did not delete the entry the lost delete left")
	}
	if _, err := b.Authenticate(ctx, is.Token.Reveal()); !errors.Is(err, latchkey.ErrInvalidToken) {
		t.Fatalf("after the loss and a sync: %v, want ErrInvalidToken", err)
	}
	if !strings.Contains(logs.String(), "replaying the change feed") {
		t.Errorf("no log line for the replay: %q", logs.String())
	}
	// The cache serves again afterwards.
	is2, err := a.Login(ctx, latchkey.LoginRequest{Username: "alice", Password: pw})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := b.Authenticate(ctx, is2.Token.Reveal()); err != nil {
		t.Fatal(err)
	}
	if _, ok, _ := shared.Session(ctx, is2.Token.Digest()); !ok {
		t.Error("a new token is not cached after the replay")
	}
}
