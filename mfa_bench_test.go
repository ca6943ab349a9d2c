package latchkey_test

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/latchkeyhq/latchkey"
)

// BenchmarkLoginTOTP measures what a second factor adds to a login: it
// interleaves a password-only login of a user without one and a login of
// a user with TOTP (the password step, then POST /v1/login/mfa's step
// with a code), with a cheap hasher so that the password hash does not
// hide the rest, on a real SQLite file. It reports each one's median
// (password-p50-ns, totp-p50-ns) and their ratio. The code is computed
// outside the timing, as the client's app would.
func BenchmarkLoginTOTP(b *testing.B) {
	ctx := context.Background()
	f := newFixture(b, latchkey.Options{MFAKey: testMFAKey(b)})
	f.addUser(b, "bob")
	en := f.enrol(b, "alice")
	var plain, second []time.Duration
	for b.Loop() {
		start := time.Now()
		if _, err := f.auth.Login(ctx, latchkey.LoginRequest{Username: "bob", Password: pw, Client: mfaClient}); err != nil {
			b.Fatal(err)
		}
		plain = append(plain, time.Since(start))

		f.clock.Add(30 * time.Second) // a step's code is accepted once
		c := code(b, en.secret, f.clock.Now())
		start = time.Now()
		m := f.passwordStep(b, "alice")
		if _, err := f.secondStep(ctx, m, c); err != nil {
			b.Fatal(err)
		}
		second = append(second, time.Since(start))
	}
	p50 := func(ds []time.Duration) float64 {
		slices.Sort(ds)
		return float64(ds[len(ds)/2].Nanoseconds())
	}
	pp, tp := p50(plain), p50(second)
	b.ReportMetric(pp, "password-p50-ns")
	b.ReportMetric(tp, "totp-p50-ns")
	b.ReportMetric(tp/pp, "totp/password")
	b.ReportMetric(0, "ns/op")
}
