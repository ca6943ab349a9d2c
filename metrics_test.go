package latchkey_test

import (
	"context"
	"fmt"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/latchkeyhq/latchkey"
	"github.com/latchkeyhq/latchkey/cache/memory"
	"github.com/latchkeyhq/latchkey/throttle"
	throttlememory "github.com/latchkeyhq/latchkey/throttle/memory"
)

// recorder is a Metrics that keeps what it was told, as strings.
type recorder struct {
	mu     sync.Mutex
	events map[string]int
}

func newRecorder() *recorder { return &recorder{events: map[string]int{}} }

func (r *recorder) add(format string, a ...any) {
	r.mu.Lock()
	r.events[fmt.Sprintf(format, a...)]++
	r.mu.Unlock()
}

func (r *recorder) Login(o latchkey.LoginOutcome, d time.Duration) {
	if d < 0 {
		r.add("negative login duration")
	}
	r.add("login %s", o)
}
func (r *recorder) TokenCheck(hit bool, res latchkey.TokenResult) { r.add("token hit=%t %s", hit, res) }
func (r *recorder) ThrottleRefusal(l latchkey.ThrottleLimit)      { r.add("throttled %s", string(l)) }
func (r *recorder) CaptchaVerification(res latchkey.CaptchaResult) {
	r.add("captcha %s", res)
}
func (r *recorder) Revocation(reason latchkey.RevocationReason) { r.add("revoked %s", reason) }

// take returns the events recorded since the last take.
func (r *recorder) take() map[string]int {
	r.mu.Lock()
	defer r.mu.Unlock()
	e := r.events
	r.events = map[string]int{}
	return e
}

func wantEvents(t *testing.T, r *recorder, want map[string]int) {
	t.Helper()
	got := r.take()
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("metrics saw %v, want %v", got, want)
	}
}

// TestMetricsTokensAndRevocations checks what a token check, a login and
// each revocation report.
func TestMetricsTokensAndRevocations(t *testing.T) {
	ctx := context.Background()
	rec := newRecorder()
	f := newFixture(t, latchkey.Options{Metrics: rec, IdleTimeout: time.Hour})
	f.addUser(t, "alice")
	u := f.addUser(t, "bob")
	is := f.login(t, "alice")
	wantEvents(t, rec, map[string]int{"login success": 1})

	tok := is.Token.Reveal()
	p, err := f.auth.Authenticate(ctx, tok)
	if err != nil {
		t.Fatal(err)
	}
	wantEvents(t, rec, map[string]int{"token hit=true valid": 1})

	f.cache.Invalidate(ctx, latchkey.Invalidation{All: true})
	if _, err := f.auth.Authenticate(ctx, tok); err != nil {
		t.Fatal(err)
	}
	f.auth.Authenticate(ctx, "lk_not-a-token")
	f.auth.Authenticate(ctx, "lk_"+"A"+tok[4:])
	wantEvents(t, rec, map[string]int{"token hit=false valid": 1, "token hit=false invalid": 2})

	if _, err := f.auth.Login(ctx, latchkey.LoginRequest{Username: "alice", Password: "wrong"}); err == nil {
		t.Fatal("wrong password logged in")
	}
	f.auth.Login(ctx, latchkey.LoginRequest{Username: "", Password: pw})
	wantEvents(t, rec, map[string]int{"login invalid_credentials": 1, "login invalid_request": 1})

	is2 := f.login(t, "alice")
	f.clock.Add(2 * time.Hour) // past the idle timeout
	f.cache.Invalidate(ctx, latchkey.Invalidation{All: true})
	wantErr(t, func() error { _, err := f.auth.Authenticate(ctx, is2.Token.Reveal()); return err }(), latchkey.ErrTokenExpired)
	wantEvents(t, rec, map[string]int{"login success": 1, "token hit=false expired": 1})

	if err := f.auth.Logout(ctx, p, latchkey.LogoutLocal, latchkey.Client{}); err != nil {
		t.Fatal(err)
	}
	if err := f.auth.SetUserActive(ctx, u.Username, false); err != nil {
		t.Fatal(err)
	}
	if err := f.auth.SetUserPassword(ctx, "alice", "another long passphrase"); err != nil {
		t.Fatal(err)
	}
	wantEvents(t, rec, map[string]int{"revoked logout": 1, "revoked user_disabled": 1, "revoked password_set": 1})
}

// TestMetricsGate checks what the login gate reports of its throttle and
// captcha.
func TestMetricsGate(t *testing.T) {
	ctx := context.Background()
	rec := newRecorder()
	c := newClock()
	l, err := throttle.New(throttlememory.New(throttlememory.Options{}),
		throttle.Config{IP: latchkey.Bucket{Burst: 3, Every: time.Hour}, Now: c.Now})
	if err != nil {
		t.Fatal(err)
	}
	captcha := &fakeCaptcha{}
	a := latchkey.NewAuthenticator(openStore(t, filepath.Join(t.TempDir(), "latchkey.db")),
		memory.New(memory.Options{Now: c.Now}), cheapHasher(t),
		latchkey.Options{Now: c.Now, Throttle: l, Captcha: captcha, Metrics: rec})
	if _, err := a.AddUser(ctx, latchkey.NewUser{Username: "alice"}, pw); err != nil {
		t.Fatal(err)
	}
	login := func(captcha string) {
		a.Login(ctx, latchkey.LoginRequest{Username: "alice", Password: pw, Captcha: captcha, Client: gateClient})
	}
	login("")
	login("wrong")
	login("ok")
	login("ok")
	wantEvents(t, rec, map[string]int{
		"login captcha_required": 1, "login captcha_invalid": 1, "login success": 1, "login throttled": 1,
		"captcha fail": 1, "captcha pass": 1, "throttled " + string(throttle.LimitIP): 1,
	})
}

// TestCacheTrustedAndFeedLag follows the lease and the feed's lag on the
// injected clock.
func TestCacheTrustedAndFeedLag(t *testing.T) {
	f := newFixture(t, latchkey.Options{MaxStaleness: time.Second})
	if !f.auth.CacheTrusted() || f.auth.FeedLag() != 0 {
		t.Fatalf("after start: trusted %t, lag %v", f.auth.CacheTrusted(), f.auth.FeedLag())
	}
	f.clock.Add(1500 * time.Millisecond)
	if f.auth.CacheTrusted() || f.auth.FeedLag() != 1500*time.Millisecond {
		t.Fatalf("feed unread: trusted %t, lag %v", f.auth.CacheTrusted(), f.auth.FeedLag())
	}
	if err := f.auth.Sync(context.Background()); err != nil {
		t.Fatal(err)
	}
	if !f.auth.CacheTrusted() || f.auth.FeedLag() != 0 {
		t.Fatalf("after a sync: trusted %t, lag %v", f.auth.CacheTrusted(), f.auth.FeedLag())
	}
}
