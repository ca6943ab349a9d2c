package latchkey_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/netip"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pquerna/otp"
	"github.com/pquerna/otp/totp"

	"github.com/latchkeyhq/latchkey"
)

var mfaClient = latchkey.Client{Addr: netip.MustParseAddr("192.0.2.9"), UserAgent: "test"}

func testMFAKey(tb testing.TB) *latchkey.MFAKey {
	tb.Helper()
	k, err := latchkey.NewMFAKey(bytes.Repeat([]byte{0x42}, latchkey.MFAKeySize))
	if err != nil {
		tb.Fatal(err)
	}
	return k
}

// code computes the TOTP code of secret (base32) at t, with the library
// an authenticator app would use in the test's place.
func code(tb testing.TB, secret string, t time.Time) string {
	tb.Helper()
	c, err := totp.GenerateCodeCustom(secret, t, totp.ValidateOpts{Period: 30, Digits: otp.DigitsSix, Algorithm: otp.AlgorithmSHA1})
	if err != nil {
		tb.Fatal(err)
	}
	return c
}

// enrolled is a user with a confirmed TOTP.
type enrolled struct {
	principal latchkey.Principal
	token     string
	secret    string
	recovery  []string
}

// enrol adds name, logs it in, and enrols and confirms a TOTP.
func (f *fixture) enrol(tb testing.TB, name string) enrolled {
	tb.Helper()
	ctx := context.Background()
	f.addUser(tb, name)
	is := f.login(tb, name)
	p, err := f.auth.Authenticate(ctx, is.Token.Reveal())
	if err != nil {
		tb.Fatal(err)
	}
	en, err := f.auth.EnrollTOTP(ctx, p, pw, mfaClient)
	if err != nil {
		tb.Fatalf("EnrollTOTP: %v", err)
	}
	rc, err := f.auth.ConfirmTOTP(ctx, p, code(tb, en.Secret, f.clock.Now()), mfaClient)
	if err != nil {
		tb.Fatalf("ConfirmTOTP: %v", err)
	}
	// The confirmation used this step's code up.
	f.clock.Add(30 * time.Second)
	return enrolled{principal: p, token: is.Token.Reveal(), secret: en.Secret, recovery: rc}
}

// passwordStep logs name in with the password and returns the
// challenge of its mfa_required answer.
func (f *fixture) passwordStep(tb testing.TB, name string) *latchkey.MFAPending {
	tb.Helper()
	_, err := f.auth.Login(context.Background(), latchkey.LoginRequest{Username: name, Password: pw, Client: mfaClient})
	var e *latchkey.Error
	if !errors.As(err, &e) || e.Code != latchkey.CodeMFARequired || e.MFA == nil {
		tb.Fatalf("Login = %v, want mfa_required with a challenge", err)
	}
	return e.MFA
}

func (f *fixture) secondStep(ctx context.Context, m *latchkey.MFAPending, c string) (latchkey.Issued, error) {
	return f.auth.LoginMFA(ctx, latchkey.MFALoginRequest{Token: m.Token, Code: c, Client: mfaClient})
}

func wantCode(tb testing.TB, what string, err error, code string) {
	tb.Helper()
	if got := latchkey.AsError(err).Code; err == nil || got != code {
		tb.Fatalf("%s: err = %v, want %s", what, err, code)
	}
}

func TestTOTPEnrolmentAndLogin(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, latchkey.Options{MFAKey: testMFAKey(t)})
	f.addUser(t, "alice")
	is := f.login(t, "alice")
	p, err := f.auth.Authenticate(ctx, is.Token.Reveal())
	if err != nil {
		t.Fatal(err)
	}

	_, err = f.auth.EnrollTOTP(ctx, p, "a wrong password", mfaClient)
	wantCode(t, "EnrollTOTP with a wrong password", err, latchkey.CodeInvalidRequest)
	first, err := f.auth.EnrollTOTP(ctx, p, pw, mfaClient)
	if err != nil {
		t.Fatal(err)
	}
	en, err := f.auth.EnrollTOTP(ctx, p, pw, mfaClient) // replaces the first
	if err != nil {
		t.Fatal(err)
	}
	if en.Secret == first.Secret || len(en.Secret) != 32 {
		t.Errorf("secrets %q then %q: want two 160-bit secrets", first.Secret, en.Secret)
	}
	u, err := url.Parse(en.URL)
	if err != nil || u.Scheme != "otpauth" || u.Query().Get("secret") != en.Secret || !strings.Contains(u.Path, "alice") {
		t.Errorf("otpauth URL %q", en.URL)
	}
	// Pending: logins need no second factor yet.
	f.login(t, "alice")

	now := f.clock.Now()
	_, err = f.auth.ConfirmTOTP(ctx, p, code(t, first.Secret, now), mfaClient)
	wantCode(t, "ConfirmTOTP with the replaced secret's code", err, latchkey.CodeInvalidRequest)
	rc, err := f.auth.ConfirmTOTP(ctx, p, code(t, en.Secret, now), mfaClient)
	if err != nil {
		t.Fatalf("ConfirmTOTP: %v", err)
	}
	if len(rc) != latchkey.RecoveryCodes {
		t.Fatalf("%d recovery codes, want %d", len(rc), latchkey.RecoveryCodes)
	}
	_, err = f.auth.EnrollTOTP(ctx, p, pw, mfaClient)
	wantErr(t, err, latchkey.ErrMFAEnabled)

	m := f.passwordStep(t, "alice")
	if !strings.HasPrefix(m.Token.Reveal(), latchkey.MFATokenPrefix) || !m.ExpiresAt.Equal(f.clock.Now().Add(5*time.Minute)) ||
		strings.Join(m.Methods, ",") != "totp,recovery" {
		t.Errorf("challenge: token %.4s…, methods %v, expires %v", m.Token.Reveal(), m.Methods, m.ExpiresAt)
	}
	if fmt.Sprint(m.Token) != "[redacted]" {
		t.Error("an mfa_token prints")
	}
	// An mfa_token is no bearer token.
	_, err = f.auth.Authenticate(ctx, m.Token.Reveal())
	wantErr(t, err, latchkey.ErrInvalidToken)

	// The confirmation's code is used up: its step is accepted once.
	_, err = f.secondStep(ctx, m, code(t, en.Secret, now))
	wantErr(t, err, latchkey.ErrInvalidMFACode)
	f.clock.Add(30 * time.Second)
	c := code(t, en.Secret, f.clock.Now())
	got, err := f.secondStep(ctx, m, c[:3]+" "+c[3:])
	if err != nil {
		t.Fatalf("LoginMFA: %v", err)
	}
	if _, err := f.auth.Authenticate(ctx, got.Token.Reveal()); err != nil {
		t.Errorf("the token of a second step: %v", err)
	}
	// Used up by its success.
	_, err = f.secondStep(ctx, m, c)
	wantErr(t, err, latchkey.ErrInvalidMFAToken)
	// The same code again, on a new challenge: a replay.
	m = f.passwordStep(t, "alice")
	_, err = f.secondStep(ctx, m, c)
	wantErr(t, err, latchkey.ErrInvalidMFACode)

	// A recovery code, typed in capitals, once.
	if _, err := f.secondStep(ctx, m, strings.ToUpper(rc[3])); err != nil {
		t.Fatalf("LoginMFA with a recovery code: %v", err)
	}
	m = f.passwordStep(t, "alice")
	_, err = f.secondStep(ctx, m, rc[3])
	wantErr(t, err, latchkey.ErrInvalidMFACode)
}

func TestMFAChallengeLimits(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, latchkey.Options{MFAKey: testMFAKey(t)})
	en := f.enrol(t, "alice")

	m := f.passwordStep(t, "alice")
	for i := range latchkey.MaxMFAAttempts {
		_, err := f.secondStep(ctx, m, fmt.Sprintf("%06d", i))
		wantErr(t, err, latchkey.ErrInvalidMFACode)
	}
	_, err := f.secondStep(ctx, m, code(t, en.secret, f.clock.Now()))
	wantErr(t, err, latchkey.ErrInvalidMFAToken)

	m = f.passwordStep(t, "alice")
	f.clock.Add(latchkey.MFAChallengeTTL)
	_, err = f.secondStep(ctx, m, code(t, en.secret, f.clock.Now()))
	wantErr(t, err, latchkey.ErrInvalidMFAToken)

	for _, tok := range []string{"lk_" + strings.Repeat("a", 43), "lkm_unknown", "lkm_\x00"} {
		_, err = f.auth.LoginMFA(ctx, latchkey.MFALoginRequest{Token: latchkey.MFAToken(tok), Code: "123456", Client: mfaClient})
		wantErr(t, err, latchkey.ErrInvalidMFAToken)
	}
	_, err = f.auth.LoginMFA(ctx, latchkey.MFALoginRequest{Client: mfaClient})
	wantCode(t, "LoginMFA without fields", err, latchkey.CodeInvalidRequest)
}

func TestMFAKeyMissingFailsClosed(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, latchkey.Options{MFAKey: testMFAKey(t)})
	en := f.enrol(t, "alice")
	// The same database, served without the key.
	g := newFixtureOn(t, f.path, f.clock, latchkey.Options{})
	_, err := g.auth.EnrollTOTP(ctx, en.principal, pw, mfaClient)
	wantErr(t, err, latchkey.ErrMFAUnavailable)
	m := g.passwordStep(t, "alice")
	_, err = g.secondStep(ctx, m, code(t, en.secret, g.clock.Now()))
	wantErr(t, err, latchkey.ErrMFAUnavailable)
	if _, err := g.secondStep(ctx, m, en.recovery[0]); err != nil {
		t.Errorf("a recovery code without the key: %v", err)
	}
	// Another key opens no secret: a refusal, never a pass.
	other, _ := latchkey.NewMFAKey(bytes.Repeat([]byte{1}, latchkey.MFAKeySize))
	h := newFixtureOn(t, f.path, f.clock, latchkey.Options{MFAKey: other})
	m = h.passwordStep(t, "alice")
	if _, err := h.secondStep(ctx, m, code(t, en.secret, h.clock.Now())); err == nil {
		t.Error("a code checked under another key passed")
	}
}

func TestPasswordChangeNeedsCode(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, latchkey.Options{MFAKey: testMFAKey(t)})
	en := f.enrol(t, "alice")
	const next = latchkey.Password("another long passphrase")
	_, err := f.auth.ChangePassword(ctx, en.principal, pw, next, "", mfaClient)
	wantErr(t, err, latchkey.ErrMFACodeRequired)
	_, err = f.auth.ChangePassword(ctx, en.principal, pw, next, "000000", mfaClient)
	if e := latchkey.AsError(err); e.Code != latchkey.CodeInvalidRequest || len(e.Fields["code"]) == 0 {
		t.Fatalf("a wrong code: %v", err)
	}
	if _, err := f.auth.ChangePassword(ctx, en.principal, pw, next, code(t, en.secret, f.clock.Now()), mfaClient); err != nil {
		t.Fatalf("ChangePassword with a code: %v", err)
	}
}

func TestDisableAndResetTOTP(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, latchkey.Options{MFAKey: testMFAKey(t)})
	en := f.enrol(t, "alice")
	err := f.auth.DisableTOTP(ctx, en.principal, pw, "", mfaClient)
	wantCode(t, "DisableTOTP without a code", err, latchkey.CodeInvalidRequest)
	err = f.auth.DisableTOTP(ctx, en.principal, "a wrong password", en.recovery[0], mfaClient)
	wantCode(t, "DisableTOTP with a wrong password", err, latchkey.CodeInvalidRequest)
	if err := f.auth.DisableTOTP(ctx, en.principal, pw, en.recovery[1], mfaClient); err != nil {
		t.Fatalf("DisableTOTP with a recovery code: %v", err)
	}
	f.login(t, "alice") // the password alone again
	err = f.auth.DisableTOTP(ctx, en.principal, pw, en.recovery[2], mfaClient)
	wantErr(t, err, latchkey.ErrMFANotEnabled)

	bob := f.enrol(t, "bob")
	m := f.passwordStep(t, "bob")
	n, err := f.auth.ResetMFA(ctx, "bob")
	if err != nil || n != 1 {
		t.Fatalf("ResetMFA = %d, %v; want bob's one session revoked", n, err)
	}
	if _, err := f.auth.Authenticate(ctx, bob.token); err == nil {
		t.Error("a revoked token still works")
	}
	_, err = f.secondStep(ctx, m, code(t, bob.secret, f.clock.Now()))
	wantErr(t, err, latchkey.ErrInvalidMFAToken)
	f.login(t, "bob")
}

// raceStore holds the password-only logins that a test chooses at the
// store's door until the confirmation it races has returned, and records
// every one that succeeded after that.
type raceStore struct {
	latchkey.Store
	confirmed chan struct{}
	hold      atomic.Int32 // how many more logins to hold
	late      atomic.Int32 // password-only sessions created after the confirmation returned
	early     atomic.Int32 // and before
}

func (s *raceStore) CreateSession(ctx context.Context, sess latchkey.Session, u latchkey.LoginUpdate) error {
	if u.SecondFactor {
		return s.Store.CreateSession(ctx, sess, u)
	}
	if s.hold.Add(-1) >= 0 {
		<-s.confirmed
	}
	after := false
	select {
	case <-s.confirmed:
		after = true
	default:
	}
	err := s.Store.CreateSession(ctx, sess, u)
	if err == nil {
		if after {
			s.late.Add(1)
		} else {
			s.early.Add(1)
		}
	}
	return err
}

// TestConfirmRacesPasswordLogins races password logins against the
// confirmation of a TOTP. Once ConfirmTOTP has answered, no login with the
// password alone may succeed, and none of those held at the store's door
// until then (past every check the domain makes) may create its session.
func TestConfirmRacesPasswordLogins(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, latchkey.Options{MFAKey: testMFAKey(t)})
	rs := &raceStore{Store: f.store, confirmed: make(chan struct{})}
	rs.hold.Store(4)
	a := latchkey.NewAuthenticator(rs, f.cache, cheapHasher(t), latchkey.Options{Now: f.clock.Now, MFAKey: testMFAKey(t)})
	f.addUser(t, "alice")
	is := f.login(t, "alice")
	p, err := a.Authenticate(ctx, is.Token.Reveal())
	if err != nil {
		t.Fatal(err)
	}
	en, err := a.EnrollTOTP(ctx, p, pw, mfaClient)
	if err != nil {
		t.Fatal(err)
	}

	var (
		wg        sync.WaitGroup
		stop      atomic.Bool
		answered  atomic.Bool
		lateLogin atomic.Int32
		tokens    sync.Map
	)
	for range 16 {
		wg.Go(func() {
			for !stop.Load() {
				after := answered.Load()
				is, err := a.Login(ctx, latchkey.LoginRequest{Username: "alice", Password: pw, Client: mfaClient})
				switch {
				case err == nil:
					tokens.Store(is.Token.Reveal(), after)
					if after {
						lateLogin.Add(1)
					}
				case !errors.Is(err, latchkey.ErrMFARequired):
					t.Errorf("Login: %v", err)
					return
				}
			}
		})
	}
	time.Sleep(30 * time.Millisecond)
	if _, err := a.ConfirmTOTP(ctx, p, code(t, en.Secret, f.clock.Now()), mfaClient); err != nil {
		t.Fatalf("ConfirmTOTP: %v", err)
	}
	answered.Store(true)
	close(rs.confirmed)
	time.Sleep(50 * time.Millisecond)
	stop.Store(true)
	wg.Wait()

	if n := lateLogin.Load(); n > 0 {
		t.Errorf("%d password-only logins that started after ConfirmTOTP answered succeeded", n)
	}
	if n := rs.late.Load(); n > 0 {
		t.Errorf("%d password-only sessions were created after ConfirmTOTP answered", n)
	}
	if rs.early.Load() == 0 {
		t.Log("no password-only login succeeded before the confirmation: the race was not run")
	}
	_, err = a.Login(ctx, latchkey.LoginRequest{Username: "alice", Password: pw, Client: mfaClient})
	wantErr(t, err, latchkey.ErrMFARequired)
}
