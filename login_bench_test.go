package latchkey_test

import (
	"context"
	"errors"
	"path/filepath"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/latchkeyhq/latchkey"
	"github.com/latchkeyhq/latchkey/cache/memory"
	"github.com/latchkeyhq/latchkey/password"
)

// BenchmarkLoginFailure puts the two failed logins a guesser can cause
// side by side, with the default argon2id parameters: an unknown username
// and a wrong password for a known one. Each reports its median latency
// (p50-ns) and the hashes it computed (hashes/op), which must be exactly
// one for both: their cost must not tell which usernames exist.
// TestUnknownUserCostsOneHash asserts the same count with cheap parameters.
func BenchmarkLoginFailure(b *testing.B) {
	ctx := context.Background()
	var computed atomic.Int64
	st := openStore(b, filepath.Join(b.TempDir(), "latchkey.db"))
	h := password.New(password.Options{OnCompute: func() { computed.Add(1) }})
	a := latchkey.NewAuthenticator(st, memory.New(memory.Options{MaxEntries: 1000}), h, latchkey.Options{})
	if _, err := a.AddUser(ctx, latchkey.NewUser{Username: "alice", Email: "alice@example.com"}, pw); err != nil {
		b.Fatal(err)
	}
	for _, bc := range []struct{ name, user string }{
		{"unknown-user", "nobody"},
		{"wrong-password", "alice"},
	} {
		b.Run(bc.name, func(b *testing.B) {
			var took []time.Duration
			before := computed.Load()
			for b.Loop() {
				start := time.Now()
				_, err := a.Login(ctx, latchkey.LoginRequest{Username: bc.user, Password: "wrong passphrase"})
				took = append(took, time.Since(start))
				if !errors.Is(err, latchkey.ErrInvalidCredentials) {
					b.Fatalf("login as %s: %v, want %v", bc.user, err, latchkey.ErrInvalidCredentials)
				}
			}
			n := computed.Load() - before
			if n != int64(b.N) {
				b.Fatalf("%d logins computed %d hashes, want exactly one each", b.N, n)
			}
			slices.Sort(took)
			b.ReportMetric(float64(took[(len(took)-1)/2].Nanoseconds()), "p50-ns")
			b.ReportMetric(float64(n)/float64(b.N), "hashes/op")
		})
	}
}
