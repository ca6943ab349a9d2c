package latchkey_test

import (
	"context"
	"encoding/json"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/latchkeyhq/latchkey"
	"github.com/latchkeyhq/latchkey/cache/memory"
	"github.com/latchkeyhq/latchkey/throttle"
	throttlememory "github.com/latchkeyhq/latchkey/throttle/memory"
	"github.com/latchkeyhq/latchkey/webauthn"
	"github.com/latchkeyhq/latchkey/webauthn/webauthntest"
)

const (
	testRPID   = "login.example.com"
	testOrigin = "https://login.example.com"
)

// passkeyOptions are the Options of an Authenticator that checks
// passkeys, its challenges kept on the clock c.
func passkeyOptions(tb testing.TB, c *clock, opt latchkey.Options) latchkey.Options {
	tb.Helper()
	rp, err := webauthn.New(webauthn.Config{RPID: testRPID, Origins: []string{testOrigin}})
	if err != nil {
		tb.Fatal(err)
	}
	opt.RelyingParty = rp
	opt.Challenges = memory.NewChallenges(memory.ChallengesOptions{Now: c.Now})
	return opt
}

func newPasskeyFixture(tb testing.TB, opt latchkey.Options) *fixture {
	tb.Helper()
	c := newClock()
	return newFixtureOn(tb, tb.TempDir()+"/latchkey.db", c, passkeyOptions(tb, c, opt))
}

func (f *fixture) principal(tb testing.TB, is latchkey.Issued) latchkey.Principal {
	tb.Helper()
	p, err := f.auth.Authenticate(context.Background(), is.Token.Reveal())
	if err != nil {
		tb.Fatal(err)
	}
	return p
}

// register registers a passkey of a for the principal.
func (f *fixture) register(tb testing.TB, p latchkey.Principal, a *webauthntest.Authenticator, name string) latchkey.Passkey {
	tb.Helper()
	ctx := context.Background()
	options, err := f.auth.PasskeyRegistrationOptions(ctx, p, pw, mfaClient)
	if err != nil {
		tb.Fatalf("PasskeyRegistrationOptions: %v", err)
	}
	cred, err := a.Create(options)
	if err != nil {
		tb.Fatal(err)
	}
	pk, err := f.auth.RegisterPasskey(ctx, p, latchkey.PasskeyRegistration{Credential: cred, Name: name, Client: mfaClient})
	if err != nil {
		tb.Fatalf("RegisterPasskey: %v", err)
	}
	return pk
}

// assertion begins a passkey login and answers it with a.
func (f *fixture) assertion(tb testing.TB, a *webauthntest.Authenticator) latchkey.PasskeyLoginRequest {
	tb.Helper()
	ch, err := f.auth.PasskeyLoginOptions(context.Background(), mfaClient)
	if err != nil {
		tb.Fatalf("PasskeyLoginOptions: %v", err)
	}
	cred, err := a.Get(ch.Options)
	if err != nil {
		tb.Fatal(err)
	}
	return latchkey.PasskeyLoginRequest{ChallengeID: ch.ID, Credential: cred, Client: mfaClient}
}

func TestPasskeyRegistrationAndLogin(t *testing.T) {
	ctx := context.Background()
	f := newPasskeyFixture(t, latchkey.Options{})
	alice := f.addUser(t, "alice")
	p := f.principal(t, f.login(t, "alice"))

	// The options ask for a discoverable credential, verified.
	options, err := f.auth.PasskeyRegistrationOptions(ctx, p, pw, mfaClient)
	if err != nil {
		t.Fatal(err)
	}
	var o struct {
		PublicKey struct {
			RP                     struct{ ID string }
			AuthenticatorSelection struct {
				ResidentKey      string `json:"residentKey"`
				UserVerification string `json:"userVerification"`
			} `json:"authenticatorSelection"`
		} `json:"publicKey"`
	}
	if err := json.Unmarshal(options, &o); err != nil {
		t.Fatal(err)
	}
	if sel := o.PublicKey.AuthenticatorSelection; o.PublicKey.RP.ID != testRPID || sel.ResidentKey != "required" || sel.UserVerification != "required" {
		t.Errorf("creation options %s", options)
	}

	a := webauthntest.New(testOrigin)
	pk := f.register(t, p, a, "  Alice's phone ")
	if pk.Name != "Alice's phone" || pk.UserID != alice.ID || pk.SignCount != 1 || !pk.CreatedAt.Equal(f.clock.Now()) {
		t.Errorf("registered %+v", pk)
	}
	// The registration was used up.
	cred, _ := webauthntest.New(testOrigin).Create(options)
	_, err = f.auth.RegisterPasskey(ctx, p, latchkey.PasskeyRegistration{Credential: cred, Client: mfaClient})
	wantErr(t, err, latchkey.ErrPasskeyNotPending)

	f.clock.Add(time.Minute)
	is, err := f.auth.LoginPasskey(ctx, f.assertion(t, a))
	if err != nil {
		t.Fatalf("LoginPasskey: %v", err)
	}
	if is.User.ID != alice.ID || is.Token == "" {
		t.Fatalf("LoginPasskey issued %+v", is)
	}
	ps, err := f.auth.Passkeys(ctx, p)
	if err != nil || len(ps) != 1 || ps[0].SignCount != 2 || !ps[0].LastUsedAt.Equal(f.clock.Now()) {
		t.Fatalf("Passkeys = %+v, %v; want the counter at 2, used now", ps, err)
	}

	if err := f.auth.DeletePasskey(ctx, p, latchkey.PasskeyID(pk.CredentialID), mfaClient); err != nil {
		t.Fatalf("DeletePasskey: %v", err)
	}
	wantErr(t, f.auth.DeletePasskey(ctx, p, latchkey.PasskeyID(pk.CredentialID), mfaClient), latchkey.ErrNotFound)
	wantErr(t, f.auth.DeletePasskey(ctx, p, "not base64url!", mfaClient), latchkey.ErrNotFound)
	_, err = f.auth.LoginPasskey(ctx, f.assertion(t, a))
	wantErr(t, err, latchkey.ErrInvalidPasskey)

	kinds := map[latchkey.EventKind]int{}
	for _, e := range operatorEvents(t, f.auth) {
		kinds[e.Kind]++
	}
	if kinds[latchkey.EventPasskeyRegister] != 1 || kinds[latchkey.EventPasskeyRemove] != 1 || kinds[latchkey.EventPasskeyFailure] != 1 {
		t.Errorf("events by kind: %v", kinds)
	}
}

func TestPasskeyLoginRefusals(t *testing.T) {
	ctx := context.Background()
	f := newPasskeyFixture(t, latchkey.Options{})
	f.addUser(t, "alice")
	p := f.principal(t, f.login(t, "alice"))
	a := webauthntest.New(testOrigin)
	f.register(t, p, a, "")

	t.Run("Replay", func(t *testing.T) {
		req := f.assertion(t, a)
		if _, err := f.auth.LoginPasskey(ctx, req); err != nil {
			t.Fatal(err)
		}
		_, err := f.auth.LoginPasskey(ctx, req)
		wantErr(t, err, latchkey.ErrInvalidPasskey)
	})
	t.Run("ChallengeExpired", func(t *testing.T) {
		req := f.assertion(t, a)
		f.clock.Add(latchkey.WebAuthnChallengeTTL + time.Second)
		_, err := f.auth.LoginPasskey(ctx, req)
		wantErr(t, err, latchkey.ErrInvalidPasskey)
	})
	t.Run("WrongOrigin", func(t *testing.T) {
		evil := a.Clone()
		evil.Origin = "https://login.example.com.evil.test"
		_, err := f.auth.LoginPasskey(ctx, f.assertion(t, evil))
		wantErr(t, err, latchkey.ErrInvalidPasskey)
	})
	t.Run("NoUserVerification", func(t *testing.T) {
		b := a.Clone()
		b.Flags = webauthntest.FlagUP
		_, err := f.auth.LoginPasskey(ctx, f.assertion(t, b))
		wantErr(t, err, latchkey.ErrInvalidPasskey)
	})
	t.Run("Cloned", func(t *testing.T) {
		clone := a.Clone()
		if _, err := f.auth.LoginPasskey(ctx, f.assertion(t, a)); err != nil {
			t.Fatal(err)
		}
		// The clone's counter is the one the original just used.
		_, err := f.auth.LoginPasskey(ctx, f.assertion(t, clone))
		wantErr(t, err, latchkey.ErrInvalidPasskey)
		// The original goes on.
		if _, err := f.auth.LoginPasskey(ctx, f.assertion(t, a)); err != nil {
			t.Fatalf("the original after the clone: %v", err)
		}
	})
	t.Run("UnknownPasskey", func(t *testing.T) {
		other := webauthntest.New(testOrigin)
		bob := newPasskeyFixture(t, latchkey.Options{})
		bob.addUser(t, "bob")
		bob.register(t, bob.principal(t, bob.login(t, "bob")), other, "")
		_, err := f.auth.LoginPasskey(ctx, f.assertion(t, other))
		wantErr(t, err, latchkey.ErrInvalidPasskey)
	})
	t.Run("Malformed", func(t *testing.T) {
		req := f.assertion(t, a)
		req.Credential = []byte(`{"id":"x"}`)
		_, err := f.auth.LoginPasskey(ctx, req)
		wantCode(t, "a malformed credential", err, latchkey.CodeInvalidRequest)
	})
	t.Run("Disabled", func(t *testing.T) {
		if err := f.auth.SetUserActive(ctx, "alice", false); err != nil {
			t.Fatal(err)
		}
		defer f.auth.SetUserActive(ctx, "alice", true)
		_, err := f.auth.LoginPasskey(ctx, f.assertion(t, a))
		wantErr(t, err, latchkey.ErrInvalidPasskey)
	})

	var reasons []string
	for _, e := range operatorEvents(t, f.auth) {
		if e.Kind == latchkey.EventPasskeyFailure {
			reasons = append(reasons, e.Detail)
		}
	}
	for _, want := range []string{"challenge", "verification", "cloned", "unknown_passkey", "inactive"} {
		if !slices.Contains(reasons, want) {
			t.Errorf("passkey failure reasons %q: no %q", reasons, want)
		}
	}
}

// TestPasskeyCounterZero: an authenticator that keeps no counter (0 every
// time) logs in again and again.
func TestPasskeyCounterZero(t *testing.T) {
	f := newPasskeyFixture(t, latchkey.Options{})
	f.addUser(t, "alice")
	a := webauthntest.New(testOrigin)
	a.NoCounter = true
	f.register(t, f.principal(t, f.login(t, "alice")), a, "")
	for i := range 3 {
		if _, err := f.auth.LoginPasskey(context.Background(), f.assertion(t, a)); err != nil {
			t.Fatalf("login %d: %v", i+1, err)
		}
	}
}

func TestPasskeyAnswersMFARequired(t *testing.T) {
	ctx := context.Background()
	f := newPasskeyFixture(t, latchkey.Options{MFAKey: testMFAKey(t)})
	en := f.enrol(t, "alice")
	a := webauthntest.New(testOrigin)
	f.register(t, en.principal, a, "")

	m := f.passwordStep(t, "alice")
	if !slices.Equal(m.Methods, []string{latchkey.MFAMethodTOTP, latchkey.MFAMethodRecovery, latchkey.MFAMethodWebAuthn}) {
		t.Errorf("methods = %q, want webauthn listed", m.Methods)
	}
	req := f.assertion(t, a)
	req.MFAToken = m.Token
	if _, err := f.auth.LoginPasskey(ctx, req); err != nil {
		t.Fatalf("LoginPasskey with the mfa_token: %v", err)
	}
	// The mfa_token is used up.
	_, err := f.secondStep(ctx, m, code(t, en.secret, f.clock.Now()))
	wantErr(t, err, latchkey.ErrInvalidMFAToken)

	// Another user's passkey does not answer alice's mfa_token.
	f.addUser(t, "bob")
	b := webauthntest.New(testOrigin)
	f.register(t, f.principal(t, f.login(t, "bob")), b, "")
	m = f.passwordStep(t, "alice")
	req = f.assertion(t, b)
	req.MFAToken = m.Token
	_, err = f.auth.LoginPasskey(ctx, req)
	wantErr(t, err, latchkey.ErrInvalidMFAToken)

	// And a passkey login alone is a complete login of alice.
	if _, err := f.auth.LoginPasskey(ctx, f.assertion(t, a)); err != nil {
		t.Fatalf("LoginPasskey without the mfa_token: %v", err)
	}
}

func TestPasskeysUnavailable(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, latchkey.Options{})
	f.addUser(t, "alice")
	p := f.principal(t, f.login(t, "alice"))
	_, err := f.auth.PasskeyRegistrationOptions(ctx, p, pw, mfaClient)
	wantErr(t, err, latchkey.ErrWebAuthnUnavailable)
	_, err = f.auth.PasskeyLoginOptions(ctx, mfaClient)
	wantErr(t, err, latchkey.ErrWebAuthnUnavailable)
	_, err = f.auth.LoginPasskey(ctx, latchkey.PasskeyLoginRequest{ChallengeID: "x", Credential: []byte("{}")})
	if !errors.Is(err, latchkey.ErrWebAuthnUnavailable) {
		t.Fatalf("LoginPasskey = %v", err)
	}
}

func TestPasskeyThrottled(t *testing.T) {
	// Failed assertions count against the client's address, as failed
	// passwords do.
	ctx := context.Background()
	c := newClock()
	l, err := throttle.New(throttlememory.New(throttlememory.Options{}), throttle.Config{
		IP: latchkey.Bucket{Burst: 4, Every: time.Hour}, Now: c.Now})
	if err != nil {
		t.Fatal(err)
	}
	f := newFixtureOn(t, t.TempDir()+"/latchkey.db", c, passkeyOptions(t, c, latchkey.Options{Throttle: l}))
	f.addUser(t, "alice")
	a := webauthntest.New(testOrigin)
	f.register(t, f.principal(t, f.login(t, "alice")), a, "")
	for range 50 {
		req := f.assertion(t, a)
		req.ChallengeID = "lkw_unknown"
		if _, err = f.auth.LoginPasskey(ctx, req); errors.Is(err, latchkey.ErrThrottled) {
			break
		}
	}
	wantErr(t, err, latchkey.ErrThrottled)
}

func TestPasskeyLoginOptionsLimited(t *testing.T) {
	c := newClock()
	l, err := throttle.New(throttlememory.New(throttlememory.Options{}), throttle.Config{
		Challenge: latchkey.Bucket{Burst: 3, Every: time.Hour}, Now: c.Now})
	if err != nil {
		t.Fatal(err)
	}
	f := newFixtureOn(t, t.TempDir()+"/latchkey.db", c, passkeyOptions(t, c, latchkey.Options{CeremonyLimiter: l}))
	for i := range 3 {
		if _, err := f.auth.PasskeyLoginOptions(context.Background(), mfaClient); err != nil {
			t.Fatalf("options %d: %v", i+1, err)
		}
	}
	_, err = f.auth.PasskeyLoginOptions(context.Background(), mfaClient)
	wantErr(t, err, latchkey.ErrThrottled)
}

// TestPasskeyRegistrationNeedsPassword: a token alone cannot begin a
// passkey's registration (a passkey outlives a logout and a password
// change, so a stolen token must not plant one): the password is asked
// again, a wrong one is a wrong password of the field, and nothing is
// pending after it.
func TestPasskeyRegistrationNeedsPassword(t *testing.T) {
	ctx := context.Background()
	f := newPasskeyFixture(t, latchkey.Options{})
	f.addUser(t, "alice")
	p := f.principal(t, f.login(t, "alice"))
	for _, bad := range []latchkey.Password{"", "not the passphrase"} {
		_, err := f.auth.PasskeyRegistrationOptions(ctx, p, bad, mfaClient)
		e := latchkey.AsError(err)
		if e.Code != latchkey.CodeInvalidRequest || len(e.Fields["password"]) == 0 {
			t.Errorf("password %q: %v, want a field error on password", bad, err)
		}
	}
	// No registration is pending: an answer made for no options is refused.
	a := webauthntest.New(testOrigin)
	_, err := f.auth.RegisterPasskey(ctx, p, latchkey.PasskeyRegistration{Credential: []byte(`{"id":"x"}`), Client: mfaClient})
	if err == nil {
		t.Error("a registration with no options begun succeeded")
	}
	f.register(t, p, a, "laptop") // the right password does
}

// TestResetMFARemovesPasskeys: an operator's mfa-reset removes the user's
// passkeys with the other second factors, and a passkey login with one
// is refused after it.
func TestResetMFARemovesPasskeys(t *testing.T) {
	ctx := context.Background()
	f := newPasskeyFixture(t, latchkey.Options{})
	f.addUser(t, "alice")
	p := f.principal(t, f.login(t, "alice"))
	a := webauthntest.New(testOrigin)
	f.register(t, p, a, "laptop")
	if _, err := f.auth.ResetMFA(ctx, "alice"); err != nil {
		t.Fatal(err)
	}
	if ps, err := f.store.PasskeysOf(ctx, p.User.ID); err != nil || len(ps) != 0 {
		t.Errorf("passkeys after mfa-reset: %v, %v; want none", ps, err)
	}
	if _, err := f.auth.LoginPasskey(ctx, f.assertion(t, a)); !errors.Is(err, latchkey.ErrInvalidPasskey) {
		t.Errorf("passkey login after mfa-reset: %v, want %v", err, latchkey.ErrInvalidPasskey)
	}
}
