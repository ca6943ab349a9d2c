package webauthn_test

import (
	"bytes"
	"encoding/json"
	"testing"

	"github.com/latchkeyhq/latchkey"
	"github.com/latchkeyhq/latchkey/webauthn"
	"github.com/latchkeyhq/latchkey/webauthn/webauthntest"
)

const (
	rpID   = "example.com"
	origin = "https://example.com"
)

func newRP(tb testing.TB) *webauthn.RelyingParty {
	tb.Helper()
	rp, err := webauthn.New(webauthn.Config{RPID: rpID, Origins: []string{origin}})
	if err != nil {
		tb.Fatal(err)
	}
	return rp
}

func TestNew(t *testing.T) {
	for _, tc := range []struct {
		name string
		cfg  webauthn.Config
		ok   bool
	}{
		{"Minimal", webauthn.Config{RPID: "example.com", Origins: []string{"https://example.com"}}, true},
		{"Several", webauthn.Config{RPID: "example.com", Origins: []string{"https://a.example.com", "https://b.example.com:8443"}, DisplayName: "Example"}, true},
		{"Localhost", webauthn.Config{RPID: "localhost", Origins: []string{"http://localhost:8080"}}, true},
		{"NoRPID", webauthn.Config{Origins: []string{"https://example.com"}}, false},
		{"NoOrigin", webauthn.Config{RPID: "example.com"}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := webauthn.New(tc.cfg)
			if (err == nil) != tc.ok {
				t.Fatalf("New(%+v) = %v, want ok %t", tc.cfg, err, tc.ok)
			}
		})
	}
}

var user = latchkey.PasskeyUser{Handle: []byte{0, 0, 0, 0, 0, 0, 0, 1}, Name: "alice", DisplayName: "Alice"}

// registered registers a credential of a new authenticator.
func registered(tb testing.TB, rp *webauthn.RelyingParty) (*webauthntest.Authenticator, latchkey.Passkey) {
	tb.Helper()
	a := webauthntest.New(origin)
	options, state, err := rp.BeginRegistration(user)
	if err != nil {
		tb.Fatal(err)
	}
	resp, err := a.Create(options)
	if err != nil {
		tb.Fatal(err)
	}
	p, err := rp.FinishRegistration(user, state, resp)
	if err != nil {
		tb.Fatalf("FinishRegistration: %v", err)
	}
	return a, p
}

func TestRegistrationOptionsExclude(t *testing.T) {
	rp := newRP(t)
	_, p := registered(t, rp)
	u := user
	u.Passkeys = []latchkey.Passkey{p}
	options, _, err := rp.BeginRegistration(u)
	if err != nil {
		t.Fatal(err)
	}
	var o struct {
		PublicKey struct {
			ExcludeCredentials []struct{ ID string } `json:"excludeCredentials"`
		} `json:"publicKey"`
	}
	if err := json.Unmarshal(options, &o); err != nil {
		t.Fatal(err)
	}
	if ex := o.PublicKey.ExcludeCredentials; len(ex) != 1 || ex[0].ID != webauthntest.B64(p.CredentialID) {
		t.Errorf("excludeCredentials %+v, want the registered one", ex)
	}
}

// BenchmarkVerifyAssertion measures the check of a login's assertion
// (decoding and verifying an ES256 signature), as LoginPasskey runs it.
func BenchmarkVerifyAssertion(b *testing.B) {
	rp := newRP(b)
	a, p := registered(b, rp)
	options, state, err := rp.BeginLogin()
	if err != nil {
		b.Fatal(err)
	}
	a.NoCounter = true
	resp, err := a.Get(options)
	if err != nil {
		b.Fatal(err)
	}
	p.SignCount = 0
	b.ReportAllocs()
	for b.Loop() {
		as, err := rp.ParseAssertion(resp)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := rp.VerifyAssertion(as, state, user, p); err != nil {
			b.Fatal(err)
		}
	}
}

func FuzzAssertion(f *testing.F) {
	rp := newRP(f)
	a, p := registered(f, rp)
	options, state, err := rp.BeginLogin()
	if err != nil {
		f.Fatal(err)
	}
	resp, err := a.Get(options)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(resp)
	f.Add(bytes.Replace(resp, []byte(`"type":"public-key"`), []byte(`"type":"x"`), 1))
	f.Add([]byte(`{}`))
	f.Add([]byte(`{"id":"AQ","rawId":"AQ","type":"public-key","response":{}}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		as, err := rp.ParseAssertion(body)
		if err != nil {
			return
		}
		// Whatever it holds, checking it returns: a result or an error.
		rp.VerifyAssertion(as, state, user, p)
	})
}

func FuzzRegistration(f *testing.F) {
	rp := newRP(f)
	options, state, err := rp.BeginRegistration(user)
	if err != nil {
		f.Fatal(err)
	}
	resp, err := webauthntest.New(origin).Create(options)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(resp)
	f.Add([]byte(`{}`))
	f.Add([]byte(`{"id":"AQ","rawId":"AQ","type":"public-key","response":{"clientDataJSON":"e30","attestationObject":"oA"}}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		p, err := rp.FinishRegistration(user, state, body)
		if err == nil && (len(p.CredentialID) == 0 || len(p.PublicKey) == 0) {
			t.Fatalf("registered %+v: no credential id or key", p)
		}
	})
}
