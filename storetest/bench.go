package storetest

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/latchkeyhq/latchkey"
)

// The benchmarks every store runs, each from a benchmark of its own name
// (BenchmarkSessionByDigest calls BenchmarkSessionByDigest). open is as
// for Run: a fresh, migrated, empty store, which the benchmark closes.

// BenchmarkSessionByDigest measures the cache-miss path of a token check
// on a store of 10,000 users with one session each.
func BenchmarkSessionByDigest(b *testing.B, open func(tb testing.TB) latchkey.Store) {
	s := openBench(b, open)
	ds := Fill(b, s, 10_000)
	b.Run("Serial", func(b *testing.B) {
		b.ReportAllocs()
		ctx := context.Background()
		i := 0
		for b.Loop() {
			if _, _, err := s.SessionByDigest(ctx, ds[i%len(ds)]); err != nil {
				b.Fatal(err)
			}
			i++
		}
	})
	b.Run("Parallel", func(b *testing.B) {
		b.ReportAllocs()
		ctx := context.Background()
		b.RunParallel(func(pb *testing.PB) {
			i := 0
			for pb.Next() {
				if _, _, err := s.SessionByDigest(ctx, ds[i%len(ds)]); err != nil {
					b.Error(err)
					return
				}
				i += 7
			}
		})
	})
}

// BenchmarkCreateSession measures a login's write transaction. Parallel
// shows the ceiling that the stores' one-at-a-time change writers set
// (SQLite's write lock, PostgreSQL's change feed lock): 4 writers per
// core, 8 on 2 cores, within PostgreSQL's default pool of 10.
func BenchmarkCreateSession(b *testing.B, open func(tb testing.TB) latchkey.Store) {
	s := openBench(b, open)
	u, err := s.CreateUser(b.Context(), benchUser("alice"))
	if err != nil {
		b.Fatal(err)
	}
	var n atomic.Int64
	login := func(ctx context.Context) error {
		in := benchSession(u, fmt.Sprintf("bench-%d", n.Add(1)))
		return s.CreateSession(ctx, in, latchkey.LoginUpdate{ExpectHash: u.PasswordHash, LastLogin: base})
	}
	b.Run("Serial", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if err := login(b.Context()); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("Parallel", func(b *testing.B) {
		b.ReportAllocs()
		b.SetParallelism(4)
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				if err := login(context.Background()); err != nil {
					b.Error(err)
					return
				}
			}
		})
	})
}

func openBench(b *testing.B, open func(tb testing.TB) latchkey.Store) latchkey.Store {
	b.Helper()
	s := open(b)
	b.Cleanup(func() {
		if err := s.Close(); err != nil {
			b.Errorf("Close: %v", err)
		}
	})
	return s
}

// Fill stores n users, each logged in once, and returns the digests of
// their sessions. The users have no email or names and the sessions no
// client; the sessions were created, and last used, at 2030-03-04
// 05:06:07.891011 UTC, and expire an hour later.
func Fill(tb testing.TB, s latchkey.Store, n int) []latchkey.Digest {
	tb.Helper()
	ds := make([]latchkey.Digest, n)
	for i := range n {
		u, err := s.CreateUser(tb.Context(), benchUser(fmt.Sprintf("user%05d", i)))
		if err != nil {
			tb.Fatalf("CreateUser: %v", err)
		}
		in := benchSession(u, fmt.Sprintf("s%05d", i))
		if err := s.CreateSession(tb.Context(), in, latchkey.LoginUpdate{ExpectHash: u.PasswordHash, LastLogin: base}); err != nil {
			tb.Fatalf("CreateSession(%s): %v", in.ID, err)
		}
		ds[i] = in.Digest
	}
	return ds
}

// benchUser is the benchmarks' user: no email, no names.
func benchUser(username string) latchkey.User {
	return latchkey.User{Username: username, PasswordHash: "hash-" + username, Active: true, DateJoined: base}
}

// benchSession is the benchmarks' session of u: no client, an hour long.
func benchSession(u latchkey.User, id string) latchkey.Session {
	in := sessionFor(u, id, base, time.Hour)
	in.IP, in.UserAgent = "", ""
	return in
}
