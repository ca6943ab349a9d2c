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

// BenchmarkLoginEvents measures what writing security events costs a
// login: the same login on two authenticators, each on a SQLite file of
// its own and running Run, one whose events reach the store (on) and one
// whose store drops them (off), alternately within one loop so that the
// machine's noise weighs on both alike. The event itself is made on both
// sides, as it cannot be turned off (BenchmarkEventEmit times it with
// serve's log line; the logger discards here): what on adds is Run's
// batched insert, every 200ms, off the login's path but on the same
// database file. The hash is cheap, and a failed login is not padded, so
// that neither drowns the difference. Each case reports the p50 and p99
// of either side and their differences (on − off); ns/op is the pair.
// The benchmark fails unless on's store holds one event for each of its
// logins afterwards, and off's store was given as many.
func BenchmarkLoginEvents(b *testing.B) {
	for _, bc := range []struct {
		name string
		pw   latchkey.Password
		want error
	}{
		{"success", pw, nil},
		{"wrong-password", "wrong passphrase", latchkey.ErrInvalidCredentials},
	} {
		b.Run(bc.name, func(b *testing.B) {
			ctx := context.Background()
			// A cheap hash, and no padding of failed logins to the
			// floor: that wait, the same on both sides, would measure
			// the slowest recent hash, which the machine's noise sets.
			h := password.New(password.Options{
				Params: password.Argon2id{Memory: 64, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 32},
				Sleep:  func(context.Context, time.Duration) {},
			})
			dropped := &droppingEvents{Store: openStore(b, filepath.Join(b.TempDir(), "off.db"))}
			off := newEventsBench(b, dropped, h)
			kept := openStore(b, filepath.Join(b.TempDir(), "on.db"))
			on := newEventsBench(b, kept, h)
			req := latchkey.LoginRequest{Username: "alice", Password: bc.pw}
			login := func(e *eventsBench) {
				start := time.Now()
				_, err := e.auth.Login(ctx, req)
				e.took = append(e.took, time.Since(start))
				if !errors.Is(err, bc.want) {
					b.Fatalf("login: %v, want %v", err, bc.want)
				}
			}
			for i := 0; b.Loop(); i++ {
				if i%2 == 0 {
					login(off)
					login(on)
				} else {
					login(on)
					login(off)
				}
			}
			off.stop(b)
			on.stop(b)
			if n := countEvents(b, kept); n != len(on.took) {
				b.Fatalf("%d logins with events on wrote %d events, want one each", len(on.took), n)
			}
			if n := dropped.n.Load(); n != int64(len(off.took)) {
				b.Fatalf("%d logins with events off made %d events, want one each", len(off.took), n)
			}
			offP50, offP99 := quantiles(off.took)
			onP50, onP99 := quantiles(on.took)
			b.ReportMetric(float64(offP50.Nanoseconds()), "off-p50-ns")
			b.ReportMetric(float64(offP99.Nanoseconds()), "off-p99-ns")
			b.ReportMetric(float64(onP50.Nanoseconds()), "on-p50-ns")
			b.ReportMetric(float64(onP99.Nanoseconds()), "on-p99-ns")
			b.ReportMetric(float64((onP50 - offP50).Nanoseconds()), "diff-p50-ns")
			b.ReportMetric(float64((onP99 - offP99).Nanoseconds()), "diff-p99-ns")
		})
	}
}

// droppingEvents is a store that drops the security events given it, and
// counts them.
type droppingEvents struct {
	latchkey.Store
	n atomic.Int64
}

func (s *droppingEvents) AppendEvents(_ context.Context, es []latchkey.Event) error {
	s.n.Add(int64(len(es)))
	return nil
}

// eventsBench is one side of BenchmarkLoginEvents: an authenticator with
// alice as a user, its Run going, and the latencies of its logins.
type eventsBench struct {
	auth *latchkey.Authenticator
	took []time.Duration
	stop func(testing.TB)
}

func newEventsBench(b *testing.B, st latchkey.Store, h latchkey.PasswordHasher) *eventsBench {
	b.Helper()
	ctx := context.Background()
	a := latchkey.NewAuthenticator(st, memory.New(memory.Options{MaxEntries: 10_000}), h, latchkey.Options{})
	if _, err := a.AddUser(ctx, latchkey.NewUser{Username: "alice", Email: "alice@example.com"}, pw); err != nil {
		b.Fatal(err)
	}
	if err := a.Start(ctx); err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx) }()
	var stopped bool
	stop := func(tb testing.TB) {
		if stopped {
			return
		}
		stopped = true
		cancel()
		// Run writes the queued events before it returns.
		if err := <-done; err != nil {
			tb.Error(err)
		}
	}
	b.Cleanup(func() { stop(b) }) // before the store closes
	return &eventsBench{auth: a, stop: stop}
}

// countEvents counts the events in st.
func countEvents(tb testing.TB, st latchkey.Store) int {
	tb.Helper()
	n := 0
	err := st.Events(context.Background(), latchkey.EventFilter{}, func(latchkey.Event) error {
		n++
		return nil
	})
	if err != nil {
		tb.Fatal(err)
	}
	return n
}

// quantiles returns the p50 and the p99 of ds (nearest rank), which it
// sorts.
func quantiles(ds []time.Duration) (p50, p99 time.Duration) {
	slices.Sort(ds)
	at := func(p int) time.Duration { return ds[max((len(ds)*p+99)/100, 1)-1] }
	return at(50), at(99)
}

// BenchmarkLoginOverHash measures what a successful login costs over its
// password hash, so that the hash's own spread (several ms between sets
// of its runs) cannot hide it: with the server's argon2id parameters, each
// iteration times a Login of alice and, right after, a Verify of her
// stored hash alone, alternating which goes first, on the same goroutine;
// the security events are written by Run as serve writes them. It reports
// the median and p99 of the per-pair difference (login − hash), the mean
// of its medians in either order, and the medians of each; run it with
// -benchtime 200x or more.
func BenchmarkLoginOverHash(b *testing.B) {
	ctx := context.Background()
	st := openStore(b, filepath.Join(b.TempDir(), "latchkey.db"))
	h := password.New(password.Options{})
	e := newEventsBench(b, st, h)
	u, err := st.UserByUsername(ctx, "alice")
	if err != nil {
		b.Fatal(err)
	}
	client := latchkey.Client{Addr: netip.MustParseAddr("192.0.2.1"), UserAgent: "bench"}
	var login, hash, diff []time.Duration
	var byOrder [2][]time.Duration // login first, hash first
	i := 0
	for b.Loop() {
		timeLogin := func() time.Duration {
			start := time.Now()
			if _, err := e.auth.Login(ctx, latchkey.LoginRequest{Username: "alice", Password: pw, Client: client}); err != nil {
				b.Fatal(err)
			}
			return time.Since(start)
		}
		timeHash := func() time.Duration {
			start := time.Now()
			if ok, _, err := h.Verify(ctx, pw, u.PasswordHash); !ok || err != nil {
				b.Fatalf("Verify = %v, %v", ok, err)
			}
			return time.Since(start)
		}
		var l, v time.Duration
		if i%2 == 0 {
			l, v = timeLogin(), timeHash()
		} else {
			v, l = timeHash(), timeLogin()
		}
		byOrder[i%2] = append(byOrder[i%2], l-v)
		i++
		login, hash, diff = append(login, l), append(hash, v), append(diff, l-v)
	}
	b.StopTimer()
	e.stop(b)
	if n := countEvents(b, st); n < b.N {
		b.Fatalf("%d security events for %d logins", n, b.N)
	}
	d50, d99 := quantiles(diff)
	l50, _ := quantiles(login)
	h50, _ := quantiles(hash)
	if len(byOrder[1]) > 0 {
		// Whichever runs second meets the heap the first left (a hash
		// allocates 19 MiB): the mean of the two orders' medians cancels
		// that.
		a50, _ := quantiles(byOrder[0])
		c50, _ := quantiles(byOrder[1])
		b.ReportMetric(float64((a50+c50).Nanoseconds())/2, "diff-p50-orders-ns")
	}
	b.ReportMetric(float64(d50.Nanoseconds()), "diff-p50-ns")
	b.ReportMetric(float64(d99.Nanoseconds()), "diff-p99-ns")
	b.ReportMetric(float64(l50.Nanoseconds()), "login-p50-ns")
	b.ReportMetric(float64(h50.Nanoseconds()), "hash-p50-ns")
}
