package django_test

import (
	"bufio"
	"context"
	"crypto/sha1"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/latchkeyhq/latchkey/django"
	"github.com/latchkeyhq/latchkey/password"
)

// writeDump writes a dumpdata file of n users, each with a DRF token, as
// `manage.py dumpdata --indent 2 auth.user authtoken.token` would, and
// returns its path and size.
func writeDump(tb testing.TB, n int) (string, int64) {
	tb.Helper()
	path := filepath.Join(tb.TempDir(), "dumpdata.json")
	f, err := os.Create(path)
	if err != nil {
		tb.Fatal(err)
	}
	defer f.Close()
	w := bufio.NewWriterSize(f, 1<<20)
	joined := now.Add(-365 * 24 * time.Hour).Format("2006-01-02T15:04:05.000Z")
	created := now.Add(-time.Hour).Format("2006-01-02T15:04:05.000Z")
	w.WriteString("[\n")
	for i := 1; i <= n; i++ {
		lastLogin := "null"
		if i%3 != 0 {
			lastLogin = `"` + now.Add(-time.Duration(i)*time.Second).Format("2006-01-02T15:04:05.000Z") + `"`
		}
		fmt.Fprintf(w, `{
  "model": "auth.user",
  "pk": %d,
  "fields": {
    "password": "pbkdf2_sha256$260000$%022d$%043dx=",
    "last_login": %s,
    "is_superuser": false,
    "username": "user%07d",
    "first_name": "First%d",
    "last_name": "Last%d",
    "email": "user%07d@example.com",
    "is_staff": false,
    "is_active": %t,
    "date_joined": "%s",
    "groups": [],
    "user_permissions": []
  }
},
`, i, i, i, lastLogin, i, i, i, i, i%100 != 0, joined)
	}
	for i := 1; i <= n; i++ {
		sep := ","
		if i == n {
			sep = ""
		}
		fmt.Fprintf(w, `{
  "model": "authtoken.token",
  "pk": "%s",
  "fields": {
    "user": %d,
    "created": "%s"
  }
}%s
`, scaleKey(i), i, created, sep)
	}
	w.WriteString("]\n")
	if err := w.Flush(); err != nil {
		tb.Fatal(err)
	}
	st, err := f.Stat()
	if err != nil {
		tb.Fatal(err)
	}
	return path, st.Size()
}

// scaleKey is the DRF key of generated user i: 40 hex digits.
func scaleKey(i int) string {
	h := sha1.Sum([]byte(fmt.Sprint("token ", i)))
	return hex.EncodeToString(h[:])
}

func fileSource(path string) source {
	return source{"dumpdata", func(ctx context.Context, h django.Handler) error {
		f, err := os.Open(path)
		if err != nil {
			return err
		}
		defer f.Close()
		return django.Reader{}.Dumpdata(ctx, f, h)
	}}
}

// peakHeap samples the heap in use until stop is called, and returns the
// highest sample.
func peakHeap() (stop func() uint64) {
	var (
		mu   sync.Mutex
		peak uint64
		done = make(chan struct{})
		wg   sync.WaitGroup
	)
	wg.Add(1)
	go func() {
		defer wg.Done()
		t := time.NewTicker(20 * time.Millisecond)
		defer t.Stop()
		var ms runtime.MemStats
		for {
			runtime.ReadMemStats(&ms)
			mu.Lock()
			peak = max(peak, ms.HeapInuse)
			mu.Unlock()
			select {
			case <-done:
				return
			case <-t.C:
			}
		}
	}()
	return func() uint64 {
		close(done)
		wg.Wait()
		return peak
	}
}

// TestImport100k imports 100,000 users, each with a token (but those of
// the inactive users), from a dumpdata file, into each store, and logs the
// rate. It asserts no time, but fails after 5 minutes as a guard against a
// hang; -short skips it, and under the race detector it imports 10,000.
func TestImport100k(t *testing.T) {
	if testing.Short() {
		t.Skip("imports 100,000 users: skipped with -short")
	}
	n := 100_000
	if race {
		// The rate under the race detector says nothing; the run still
		// checks the import at some scale.
		n = 10_000
	}
	path, size := writeDump(t, n)
	src := fileSource(path)
	for name, open := range stores(t) {
		t.Run(name, func(t *testing.T) {
			st := open(t)
			ctx, cancel := context.WithTimeout(t.Context(), 5*time.Minute)
			defer cancel()
			runtime.GC()
			stop := peakHeap()
			start := time.Now()
			rep, err := django.Import(ctx, st, src.read, django.Options{Now: clock, KeepHash: password.IsOwn})
			took := time.Since(start)
			peak := stop()
			if err != nil {
				t.Fatalf("Import: %v", err)
			}
			wantCounts(t, "users", rep.Users, n, 0, 0, 0)
			// Every hundredth user is inactive; those tokens are skipped.
			wantCounts(t, "tokens", rep.Tokens, n-n/100, 0, 0, n/100)
			t.Logf("%s: imported %d users and %d tokens from a %.1f MB dump in %v: %.0f users/s (peak heap in use %.1f MB)",
				name, n, rep.Tokens.Created, float64(size)/1e6, took.Round(time.Millisecond), float64(n)/took.Seconds(), float64(peak)/1e6)

			start = time.Now()
			rep, err = django.Import(ctx, st, src.read, django.Options{Now: clock, KeepHash: password.IsOwn})
			took = time.Since(start)
			if err != nil {
				t.Fatalf("second Import: %v", err)
			}
			wantCounts(t, "users, second import", rep.Users, 0, 0, n, 0)
			t.Logf("%s: a second import, changing nothing, took %v: %.0f users/s", name, took.Round(time.Millisecond), float64(n)/took.Seconds())

			auth := newAuth(st)
			for _, i := range []int{1, n/2 + 1, n - 1} {
				p, err := auth.Authenticate(ctx, scaleKey(i))
				if err != nil || p.User.ID != int64(i) {
					t.Errorf("token of user %d: %v, %v", i, p.User.ID, err)
				}
			}
			if _, err := auth.Authenticate(ctx, scaleKey(n)); err == nil {
				t.Errorf("token of inactive user %d works", n)
			}
		})
	}
}

// BenchmarkImportDumpdata imports 10,000 users with tokens into a new
// SQLite store per iteration, reporting users/s.
func BenchmarkImportDumpdata(b *testing.B) {
	const n = 10_000
	path, _ := writeDump(b, n)
	src := fileSource(path)
	var took time.Duration
	for b.Loop() {
		b.StopTimer()
		st := newSQLite(b)
		b.StartTimer()
		start := time.Now()
		if _, err := django.Import(b.Context(), st, src.read, django.Options{Now: clock, KeepHash: password.IsOwn}); err != nil {
			b.Fatal(err)
		}
		took += time.Since(start)
	}
	b.ReportMetric(float64(n*b.N)/took.Seconds(), "users/s")
}
