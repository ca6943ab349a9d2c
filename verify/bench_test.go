package verify_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"testing"

	"github.com/latchkeyhq/latchkey/verify"
)

// hitFixture is a verifier on a SQLite file, and a token it has cached.
func hitFixture(tb testing.TB) (*verify.Verifier, string) {
	tb.Helper()
	path := filepath.Join(tb.TempDir(), "latchkey.db")
	tok := logIn(path, "alice")
	v, err := verify.Open(context.Background(), verify.Config{DatabaseURL: "sqlite:" + path})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { v.Close() })
	if _, err := v.Verify(context.Background(), tok); err != nil {
		tb.Fatal(err)
	}
	return v, tok
}

// TestVerifyHitAllocatesNothing: a cached token's check allocates nothing,
// as a server's does.
func TestVerifyHitAllocatesNothing(t *testing.T) {
	v, tok := hitFixture(t)
	ctx := context.Background()
	if n := testing.AllocsPerRun(1000, func() {
		if _, err := v.Verify(ctx, tok); err != nil {
			t.Fatal(err)
		}
	}); n != 0 {
		t.Fatalf("a cache hit allocates %v times", n)
	}
}

// BenchmarkVerifyHit is the check of a cached token: its digest, the
// session and the user found in the cache of the process.
func BenchmarkVerifyHit(b *testing.B) {
	v, tok := hitFixture(b)
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := v.Verify(ctx, tok); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkNodeHit is BenchmarkVerifyHit's check made by a node, built as
// serve builds it (the same cache, the real clock), for comparison.
func BenchmarkNodeHit(b *testing.B) {
	cfg, _ := deployments[0].setUp(b)
	n := startNode(b, cfg)
	n.addUser(b, "alice")
	tok := n.login(b, "alice")
	ctx := context.Background()
	if _, err := n.auth.Authenticate(ctx, tok); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := n.auth.Authenticate(ctx, tok); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkVerifyHitParallel(b *testing.B) {
	v, tok := hitFixture(b)
	ctx := context.Background()
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := v.Verify(ctx, tok); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// discard is a ResponseWriter that keeps nothing, so that the benchmark
// measures the middleware, not a recorder.
type discard struct{ h http.Header }

func (d *discard) Header() http.Header         { return d.h }
func (d *discard) Write(b []byte) (int, error) { return len(b), nil }
func (d *discard) WriteHeader(int)             {}

// BenchmarkMiddlewareHit is a request with a cached token through the
// middleware: the header read, the check, the identity put in the
// context, to a handler that reads it back.
func BenchmarkMiddlewareHit(b *testing.B) {
	v, tok := hitFixture(b)
	h := v.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if _, ok := verify.FromContext(r.Context()); !ok {
			b.Fatal("no identity")
		}
	}))
	r := httptest.NewRequest("GET", "/", nil)
	r.Header.Set("Authorization", "Bearer "+tok)
	w := &discard{h: http.Header{}}
	b.ReportAllocs()
	for b.Loop() {
		h.ServeHTTP(w, r)
	}
}

// BenchmarkRemote is a check asked of a node's route over loopback, on a
// kept-alive connection, without MaxCache: the request, the node's cache
// hit, the answer read.
func BenchmarkRemote(b *testing.B) {
	cfg, _ := deployments[0].setUp(b)
	f := newRemoteFixture(b, cfg)
	tok := f.n.login(b, "alice")
	for _, mode := range modes {
		b.Run(mode.String(), func(b *testing.B) {
			r := f.remote(b, mode, verify.RemoteConfig{})
			ctx := context.Background()
			b.ReportAllocs()
			for b.Loop() {
				if _, err := r.Verify(ctx, tok); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
