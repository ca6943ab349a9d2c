package latchkey_test

import (
	"context"
	"crypto/subtle"
	"errors"
	"io"
	"log/slog"
	"net/netip"
	"path/filepath"
	"slices"
	"strings"
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

// BenchmarkLoginFailureNoHash is a failed login without the hash: a known
// user's wrong password, checked by a password.Hasher against a stored
// hash of a scheme that compares strings, so that what it costs is the
// login's own work: the user's query on SQLite, the Hasher's slot, clock
// and floor, two JSON log lines (written to io.Discard) and the security
// event, written to SQLite in batches of 500 as Run writes them. No
// throttle or captcha is configured.
// The Hasher pads a failed check to its floor with a sleep, which holds
// no CPU; the sleep is off here, so that the benchmark counts work and
// not a timer's wake-ups. scripts/bench-instructions counts its
// instructions.
func BenchmarkLoginFailureNoHash(b *testing.B) {
	ctx := context.Background()
	st := openStore(b, filepath.Join(b.TempDir(), "latchkey.db"))
	h := password.New(password.Options{
		Params:  password.Argon2id{Memory: 8, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 32},
		Schemes: []password.Scheme{compareScheme{}},
		Sleep:   func(context.Context, time.Duration) {},
	})
	a := latchkey.NewAuthenticator(st, memory.New(memory.Options{MaxEntries: 1000}), h, latchkey.Options{
		Logger: slog.New(slog.NewJSONHandler(io.Discard, nil)),
	})
	u, err := a.AddUser(ctx, latchkey.NewUser{Username: "alice", Email: "alice@example.com"}, pw)
	if err != nil {
		b.Fatal(err)
	}
	if _, err := st.SetPassword(ctx, u.ID, latchkey.PasswordUpdate{NewHash: "compare$" + string(pw)}); err != nil {
		b.Fatal(err)
	}
	req := latchkey.LoginRequest{Username: "alice", Password: "wrong passphrase",
		Client: latchkey.Client{Addr: netip.MustParseAddr("127.0.0.1"), UserAgent: "bench"}}
	b.ReportAllocs()
	n := 0
	for b.Loop() {
		if _, err := a.Login(ctx, req); !errors.Is(err, latchkey.ErrInvalidCredentials) {
			b.Fatalf("login: %v, want %v", err, latchkey.ErrInvalidCredentials)
		}
		if n++; n%500 == 0 {
			if err := a.FlushEvents(ctx); err != nil {
				b.Fatal(err)
			}
		}
	}
}

// compareScheme is a password scheme that costs nothing: "compare$pw".
type compareScheme struct{}

func (compareScheme) Identify(encoded string) bool { return strings.HasPrefix(encoded, "compare$") }
func (compareScheme) Params(string) string         { return "compare" }
func (compareScheme) Verify(pw latchkey.Password, encoded string) (ok, weaker bool, err error) {
	return subtle.ConstantTimeCompare([]byte(pw), []byte(strings.TrimPrefix(encoded, "compare$"))) == 1, false, nil
}
