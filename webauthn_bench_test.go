package latchkey_test

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/latchkeyhq/latchkey"
	"github.com/latchkeyhq/latchkey/webauthn/webauthntest"
)

// BenchmarkLoginPasskey measures a passkey login on a real SQLite file
// beside a password login with a cheap hasher: the options (a challenge
// put in memory) and LoginPasskey (the lookups, the challenge taken, the
// signature checked, the counter moved, the session created). The
// assertion is signed outside the timing, as the authenticator would. It
// reports each one's median (password-p50-ns, passkey-p50-ns).
func BenchmarkLoginPasskey(b *testing.B) {
	ctx := context.Background()
	f := newPasskeyFixture(b, latchkey.Options{})
	f.addUser(b, "alice")
	a := webauthntest.New(testOrigin)
	f.register(b, f.principal(b, f.login(b, "alice")), a, "")
	var plain, passkey []time.Duration
	for b.Loop() {
		start := time.Now()
		if _, err := f.auth.Login(ctx, latchkey.LoginRequest{Username: "alice", Password: pw, Client: mfaClient}); err != nil {
			b.Fatal(err)
		}
		plain = append(plain, time.Since(start))

		start = time.Now()
		ch, err := f.auth.PasskeyLoginOptions(ctx, mfaClient)
		if err != nil {
			b.Fatal(err)
		}
		opts := time.Since(start)
		cred, err := a.Get(ch.Options)
		if err != nil {
			b.Fatal(err)
		}
		start = time.Now()
		if _, err := f.auth.LoginPasskey(ctx, latchkey.PasskeyLoginRequest{ChallengeID: ch.ID, Credential: cred, Client: mfaClient}); err != nil {
			b.Fatal(err)
		}
		passkey = append(passkey, opts+time.Since(start))
	}
	p50 := func(ds []time.Duration) float64 {
		slices.Sort(ds)
		return float64(ds[len(ds)/2].Nanoseconds())
	}
	b.ReportMetric(p50(plain), "password-p50-ns")
	b.ReportMetric(p50(passkey), "passkey-p50-ns")
	b.ReportMetric(0, "ns/op")
}
