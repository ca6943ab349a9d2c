package latchkey_test

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"net/netip"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/latchkeyhq/latchkey"
	"github.com/latchkeyhq/latchkey/cache/memory"
	"github.com/latchkeyhq/latchkey/password"
	"github.com/latchkeyhq/latchkey/throttle"
	throttlememory "github.com/latchkeyhq/latchkey/throttle/memory"
)

// fakeCaptcha accepts the response "ok" and counts its calls.
type fakeCaptcha struct{ calls atomic.Int64 }

func (c *fakeCaptcha) Verify(ctx context.Context, response, remoteIP string) error {
	c.calls.Add(1)
	if response != "ok" {
		return latchkey.ErrCaptchaInvalid
	}
	return nil
}

// gateFixture is an Authenticator with a throttle and a captcha, whose
// hasher counts its key derivations and whose log is kept.
type gateFixture struct {
	auth    *latchkey.Authenticator
	captcha *fakeCaptcha
	hashes  atomic.Int64
	log     bytes.Buffer
}

func newGateFixture(t *testing.T, tc throttle.Config, captchaAfter int) *gateFixture {
	t.Helper()
	g := &gateFixture{captcha: &fakeCaptcha{}}
	c := newClock()
	tc.Now = c.Now
	l, err := throttle.New(throttlememory.New(throttlememory.Options{}), tc)
	if err != nil {
		t.Fatal(err)
	}
	h := password.New(password.Options{
		Params:    password.Argon2id{Memory: 64, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 32},
		OnCompute: func() { g.hashes.Add(1) },
	})
	st := openStore(t, filepath.Join(t.TempDir(), "latchkey.db"))
	g.auth = latchkey.NewAuthenticator(st, memory.New(memory.Options{Now: c.Now}), h, latchkey.Options{
		Now:                  c.Now,
		Throttle:             l,
		Captcha:              g.captcha,
		CaptchaAfterFailures: captchaAfter,
		Logger:               slog.New(slog.NewTextHandler(&g.log, nil)),
	})
	if _, err := g.auth.AddUser(context.Background(), latchkey.NewUser{Username: "alice"}, pw); err != nil {
		t.Fatal(err)
	}
	return g
}

var gateClient = latchkey.Client{Addr: netip.MustParseAddr("192.0.2.7"), UserAgent: "test"}

func (g *gateFixture) login(user string, p latchkey.Password, captcha string) error {
	_, err := g.auth.Login(context.Background(), latchkey.LoginRequest{Username: user, Password: p, Captcha: captcha, Client: gateClient})
	return err
}

// TestLoginGateOrder calls the gate as any entry point would, with no
// HTTP in between: the throttle refuses before the captcha and the hash,
// the captcha before the hash, and every judged attempt is counted.
func TestLoginGateOrder(t *testing.T) {
	g := newGateFixture(t, throttle.Config{IP: latchkey.Bucket{Burst: 4, Every: time.Hour}}, 0)
	g.hashes.Store(0) // alice's creation

	// Captcha first: neither a missing nor a wrong one reaches the hash,
	// and the right password is not revealed by a different answer.
	err := g.login("alice", pw, "")
	wantErr(t, err, latchkey.ErrCaptchaRequired)
	right := g.login("alice", pw, "wrong")
	wrong := g.login("alice", "wrong passphrase", "wrong")
	wantErr(t, right, latchkey.ErrCaptchaInvalid)
	if right.Error() != wrong.Error() {
		t.Fatalf("a wrong captcha answers differently with the right password: %v vs %v", right, wrong)
	}
	if n := g.hashes.Load(); n != 0 {
		t.Fatalf("%d hashes computed without a valid captcha", n)
	}
	if err := g.login("alice", pw, "ok"); err != nil {
		t.Fatalf("login with the captcha: %v", err)
	}
	// The address's burst of 4 is spent: the throttle refuses before the
	// captcha is asked and before the password is hashed.
	calls, hashes := g.captcha.calls.Load(), g.hashes.Load()
	err = g.login("alice", pw, "ok")
	wantErr(t, err, latchkey.ErrThrottled)
	if latchkey.AsError(err).RetryAfter < time.Second {
		t.Fatalf("throttled without RetryAfter: %+v", latchkey.AsError(err))
	}
	if g.captcha.calls.Load() != calls || g.hashes.Load() != hashes {
		t.Fatal("a throttled attempt reached the captcha or the hash")
	}
	log := g.log.String()
	for _, want := range []string{"outcome=captcha_required", "outcome=captcha_invalid", "outcome=success", "outcome=throttled", "reason=ip_rate"} {
		if !strings.Contains(log, want) {
			t.Errorf("log lacks %q:\n%s", want, log)
		}
	}
	if strings.Contains(log, string(pw)) {
		t.Fatalf("the password reached the log:\n%s", log)
	}
}

// TestLoginGateCaptchaAfterFailures: the failures the gate records make
// the captcha needed, and the failed login that crosses the threshold
// says so.
func TestLoginGateCaptchaAfterFailures(t *testing.T) {
	g := newGateFixture(t, throttle.Config{}, 2)
	err := g.login("alice", "wrong passphrase", "")
	wantErr(t, err, latchkey.ErrInvalidCredentials)
	if latchkey.AsError(err).CaptchaRequired {
		t.Fatal("the first failure already asks for a captcha")
	}
	err = g.login("alice", "wrong passphrase", "")
	wantErr(t, err, latchkey.ErrInvalidCredentials)
	if !latchkey.AsError(err).CaptchaRequired {
		t.Fatal("the second failure does not announce the captcha")
	}
	if errors.Is(err, latchkey.ErrCaptchaRequired) {
		t.Fatal("a failed login is not a captcha error")
	}
	wantErr(t, g.login("alice", pw, ""), latchkey.ErrCaptchaRequired)
	if err := g.login("alice", pw, "ok"); err != nil {
		t.Fatalf("login with the captcha: %v", err)
	}
}

// TestPasswordChangeGate: the old password of a password change passes
// the same throttle: wrong guesses are counted as failures and then
// refused before they are hashed.
func TestPasswordChangeGate(t *testing.T) {
	g := newGateFixture(t, throttle.Config{
		IP:      latchkey.Bucket{Burst: 100, Every: time.Second},
		Backoff: latchkey.Backoff{After: 2, Base: time.Minute, Max: time.Hour},
	}, 0)
	ctx := context.Background()
	is, err := g.auth.Login(ctx, latchkey.LoginRequest{Username: "alice", Password: pw, Captcha: "ok", Client: gateClient})
	if err != nil {
		t.Fatal(err)
	}
	p, err := g.auth.Authenticate(ctx, is.Token.Reveal())
	if err != nil {
		t.Fatal(err)
	}
	for range 2 {
		_, err := g.auth.ChangePassword(ctx, p, "a wrong guess", "another long passphrase", "", gateClient)
		if latchkey.ErrorKind(err) != latchkey.KindInvalid {
			t.Fatalf("wrong old password: %v", err)
		}
	}
	hashes := g.hashes.Load()
	_, err = g.auth.ChangePassword(ctx, p, pw, "another long passphrase", "", gateClient)
	wantErr(t, err, latchkey.ErrThrottled)
	if g.hashes.Load() != hashes {
		t.Fatal("a throttled password change was hashed")
	}
}
