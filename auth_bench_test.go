package latchkey_test

import (
	"context"
	"testing"

	"github.com/latchkeyhq/latchkey"
	"github.com/latchkeyhq/latchkey/prom"
)

// BenchmarkAuthenticateHit is the cached token check: hash the token,
// look up session and user in the in-process cache.
func BenchmarkAuthenticateHit(b *testing.B) { benchmarkAuthenticateHit(b, nil) }

// BenchmarkAuthenticateHitMetrics is the same check counted by the
// Prometheus metrics: an atomic add more, and no allocation.
func BenchmarkAuthenticateHitMetrics(b *testing.B) {
	benchmarkAuthenticateHit(b, prom.New(prom.Options{}))
}

func benchmarkAuthenticateHit(b *testing.B, m latchkey.Metrics) {
	ctx := context.Background()
	f := newFixture(b, latchkey.Options{Metrics: m})
	f.addUser(b, "alice")
	tok := f.login(b, "alice").Token.Reveal()
	before := f.store.calls()
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		if _, err := f.auth.Authenticate(ctx, tok); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	if n := f.store.calls() - before; n != 0 {
		b.Fatalf("cache hits made %d store calls", n)
	}
}

func BenchmarkAuthenticateHitParallel(b *testing.B) {
	ctx := context.Background()
	f := newFixture(b, latchkey.Options{})
	f.addUser(b, "alice")
	tok := f.login(b, "alice").Token.Reveal()
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := f.auth.Authenticate(ctx, tok); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// BenchmarkAuthenticateMiss is a check whose token is not cached: one
// indexed query by digest on SQLite, then a fill (undone here each time).
func BenchmarkAuthenticateMiss(b *testing.B) {
	ctx := context.Background()
	f := newFixture(b, latchkey.Options{})
	f.addUser(b, "alice")
	is := f.login(b, "alice")
	tok := is.Token.Reveal()
	before := f.store.byDigest.Load()
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		f.cache.Invalidate(ctx, latchkey.Invalidation{Sessions: []latchkey.Digest{is.Session.Digest}})
		if _, err := f.auth.Authenticate(ctx, tok); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	b.ReportMetric(float64(f.store.byDigest.Load()-before)/float64(b.N), "queries/op")
}
