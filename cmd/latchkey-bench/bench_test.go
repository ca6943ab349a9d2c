package main

import (
	"bufio"
	"net/http"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"testing"
	"time"

	"github.com/latchkeyhq/latchkey"
	"github.com/latchkeyhq/latchkey/postgres"
	"github.com/latchkeyhq/latchkey/sqlite"
)

// The benchmark itself needs wrk and minutes; these tests cover the parts
// that can be wrong without either: the seed and the report parsing.

const seedHash = "$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHRzYWx0c2FsdA$aGFzaGhhc2hoYXNoaGFzaGhhc2hoYXNoaGFzaGhhc2g"

var seedSets = []tokenSet{{prefix: "tokens-", n: 250, files: 2}, {prefix: "solo-", n: 7, files: 1}}

func TestSeed(t *testing.T) {
	dir := t.TempDir()
	sd, err := seed(t.Context(), dir, 30, seedSets, seedHash, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if sd.url != "sqlite:"+sd.db {
		t.Errorf("url %q for %q", sd.url, sd.db)
	}
	st, err := sqlite.Open(t.Context(), sd.db)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	checkSeed(t, st, dir, sd)
}

// TestSeedPostgres seeds a database of its own on the server of
// LATCHKEY_TEST_POSTGRES_URL, and reads it back through the store.
func TestSeedPostgres(t *testing.T) {
	base := os.Getenv("LATCHKEY_TEST_POSTGRES_URL")
	if base == "" {
		if os.Getenv("CI") == "true" {
			t.Fatal("LATCHKEY_TEST_POSTGRES_URL is not set")
		}
		t.Skip("LATCHKEY_TEST_POSTGRES_URL is not set")
	}
	dbURL, drop, err := createDatabase(t.Context(), base, "latchkey_bench_test_"+strconv.Itoa(os.Getpid()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := drop(); err != nil {
			t.Errorf("drop: %v", err)
		}
	})
	dir := t.TempDir()
	sd, err := seedPostgres(t.Context(), dir, dbURL, 30, seedSets, seedHash, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if sd.url != dbURL {
		t.Errorf("url %q, want %q", sd.url, dbURL)
	}
	st, err := postgres.Open(t.Context(), dbURL)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	checkSeed(t, st, dir, sd)
	// The identity was moved past the seeded ids.
	u, err := st.CreateUser(t.Context(), latchkey.User{Username: "new", Active: true, DateJoined: time.Now()})
	if err != nil || u.ID != 31 {
		t.Errorf("CreateUser after the seed: id %d, %v; want 31", u.ID, err)
	}
}

// checkSeed finds every token of seedSets' files and the hit token in st,
// each once, live, last used an hour ago, of a seeded user.
func checkSeed(t *testing.T, st latchkey.Store, dir string, sd *seeded) {
	t.Helper()
	check := func(t *testing.T, tok string) latchkey.Session {
		t.Helper()
		s, u, err := st.SessionByDigest(t.Context(), latchkey.Token(tok).Digest())
		if err != nil {
			t.Fatalf("token not found: %v", err)
		}
		if !u.Active || u.PasswordHash != seedHash || u.Username != "user"+strconv.FormatInt(u.ID, 10) {
			t.Fatalf("user %+v", u)
		}
		if !time.Now().Before(s.ExpiresAt) || time.Since(s.LastUsedAt) < 59*time.Minute {
			t.Fatalf("session times %v, %v", s.ExpiresAt, s.LastUsedAt)
		}
		return s
	}
	seen := map[string]bool{}
	for _, ts := range seedSets {
		t.Run(ts.prefix, func(t *testing.T) {
			n := 0
			for i := range ts.files {
				f, err := os.Open(filepath.Join(dir, ts.prefix+strconv.Itoa(i)))
				if err != nil {
					t.Fatal(err)
				}
				defer f.Close()
				sc := bufio.NewScanner(f)
				for sc.Scan() {
					tok := sc.Text()
					if seen[tok] {
						t.Fatal("a token is in two files")
					}
					seen[tok] = true
					check(t, tok)
					n++
				}
			}
			if n != ts.n {
				t.Fatalf("%d tokens in the files, want %d", n, ts.n)
			}
		})
	}
	t.Run("hit token", func(t *testing.T) {
		if s := check(t, sd.hitToken); s.UserID != 1 || seen[sd.hitToken] {
			t.Fatalf("hit token: user %d, in a file: %v", s.UserID, seen[sd.hitToken])
		}
	})
}

func TestParseReport(t *testing.T) {
	for _, tc := range []struct {
		name string
		out  string
		want result
		bad  bool
	}{
		{"static", "Running 1s test\nLKBENCH requests=2000 duration_us=1000000 elapsed_us=1000000 p50_us=500 p99_us=1500 max_us=9000 used=0 connect=0 read=0 write=0 status=0 timeout=0\nLKHIST 400:900 500:200 700:880 1500:19 9000:1\n",
			result{Requests: 2000, Elapsed: time.Second, RPS: 2000, P50: 500 * time.Microsecond, P99: 1500 * time.Microsecond, Max: 9 * time.Millisecond,
				Hist: map[int64]int64{400: 900, 500: 200, 700: 880, 1500: 19, 9000: 1}}, false},
		{"walk with errors", "LKBENCH requests=500 duration_us=10000000 elapsed_us=250000 p50_us=100 p99_us=200 max_us=300 used=510 connect=1 read=0 write=0 status=2 timeout=3\n",
			result{Requests: 500, Elapsed: 250 * time.Millisecond, RPS: 2000, P50: 100 * time.Microsecond, P99: 200 * time.Microsecond, Max: 300 * time.Microsecond, Used: 510, Errors: 6, Status: 2}, false},
		{"timed", "LKBENCH requests=100 duration_us=1000000 elapsed_us=1000000 p50_us=80 p99_us=2000 max_us=3000 used=100 connect=0 read=0 write=0 status=0 timeout=0\nLKHIST 80:150 2000:30 3000:1\nLKRAW 3000:1 60:50 80:49\n",
			result{Requests: 100, Elapsed: time.Second, RPS: 100, P50: 80 * time.Microsecond, P99: 2 * time.Millisecond, Max: 3 * time.Millisecond, Used: 100,
				Hist: map[int64]int64{80: 150, 2000: 30, 3000: 1}, Timed: map[int64]int64{60: 50, 80: 49, 3000: 1},
				TimedP50: 80 * time.Microsecond, TimedP99: 3 * time.Millisecond}, false},
		{"garbled timing", "LKBENCH requests=1\nLKRAW 5:1 x\n", result{}, true},
		{"no report", "unable to connect to 127.0.0.1:1 Connection refused\n", result{}, true},
		{"garbled", "LKBENCH requests=x\n", result{}, true},
		{"garbled histogram", "LKBENCH requests=1\nLKHIST 5-1\n", result{}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := parseReport(tc.out)
			if (err != nil) != tc.bad {
				t.Fatalf("err = %v", err)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("got %+v\nwant %+v", got, tc.want)
			}
		})
	}
}

func TestMerge(t *testing.T) {
	a := result{Requests: 100, Elapsed: time.Second, Max: 9 * time.Millisecond, Hist: map[int64]int64{100: 50, 200: 49, 9000: 1}}
	b := result{Requests: 300, Elapsed: 3 * time.Second, Errors: 2, Status: 2, Max: time.Millisecond, Hist: map[int64]int64{200: 100, 300: 200}}
	a.Timed = map[int64]int64{100: 99, 5000: 1}
	b.Timed = map[int64]int64{100: 1}
	m := merge([]result{a, b})
	want := result{Requests: 400, Elapsed: 4 * time.Second, RPS: 100, Errors: 2, Status: 2, Max: 9 * time.Millisecond,
		P50: 300 * time.Microsecond, P99: 300 * time.Microsecond, Hist: map[int64]int64{100: 50, 200: 149, 300: 200, 9000: 1},
		Timed: map[int64]int64{100: 100, 5000: 1}, TimedP50: 100 * time.Microsecond, TimedP99: 100 * time.Microsecond}
	if !reflect.DeepEqual(m, want) {
		t.Fatalf("got %+v\nwant %+v", m, want)
	}
	for p, want := range map[float64]time.Duration{1: 100 * time.Microsecond, 12: 100 * time.Microsecond, 12.5: 200 * time.Microsecond, 49: 200 * time.Microsecond, 50: 300 * time.Microsecond, 100: 9 * time.Millisecond} {
		if got := percentile(m.Hist, p); got != want {
			t.Errorf("p%v = %v, want %v", p, got, want)
		}
	}
}

// TestBare: the bare handler answers the token it was given with the body
// it was given, or at forward-auth with the header fields it was given,
// and refuses any other.
func TestBare(t *testing.T) {
	ident := http.Header{"X-Latchkey-Username": {"alice"}, "Cache-Control": {"no-store"}}
	b, err := startBare("lk_good", []byte(`{"id":1}`), ident)
	if err != nil {
		t.Fatal(err)
	}
	defer b.stop()
	for _, tc := range []struct {
		auth string
		code int
	}{{"Bearer lk_good", 200}, {"Bearer lk_bad", 401}, {"lk_good", 401}, {"", 401}} {
		code, body, err := httpDo(t.Context(), "GET", b.me, tc.auth, "")
		if err != nil || code != tc.code {
			t.Errorf("%q: %d, %v; want %d", tc.auth, code, err, tc.code)
		}
		if code == 200 && string(body) != `{"id":1}` {
			t.Errorf("%q: body %q", tc.auth, body)
		}
		code, h, err := httpHeader(t.Context(), b.forwardAuth, tc.auth)
		if err != nil || code != tc.code {
			t.Errorf("forward-auth %q: %d, %v; want %d", tc.auth, code, err, tc.code)
		}
		if code == 200 && (h.Get("X-Latchkey-Username") != "alice" || h.Get("Cache-Control") != "no-store") {
			t.Errorf("forward-auth %q: header %v", tc.auth, h)
		}
	}
}
