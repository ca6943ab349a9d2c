// Package cachetest is the conformance suite for latchkey.Cache. Every
// implementation runs it from its own tests, so that the in-process cache
// and a shared one (Redis) answer the Authenticator the same way:
//
//	func TestCache(t *testing.T) {
//		cachetest.Run(t, func(t *testing.T, now func() time.Time) latchkey.Cache {
//			return memory.New(memory.Options{Now: now})
//		})
//	}
//
// The suite tests the interface contract only: nothing about bounds,
// eviction order or speed, which belong to each implementation's own tests.
package cachetest

import (
	"crypto/sha256"
	"fmt"
	"math"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/latchkeyhq/latchkey"
)

// Open returns a new, empty cache that checks session expiry against now,
// and releases it with t.Cleanup. The cache must hold at least 100
// sessions and 100 users without evicting any; a shared backend should
// give each call a namespace (a key prefix or a flushed database) of its
// own.
type Open func(t *testing.T, now func() time.Time) latchkey.Cache

// Run runs the conformance suite against caches made by open.
//
// The clock passed to open starts at the real present (truncated to the
// microsecond) and moves only when the suite moves it. Starting at the
// present keeps every ExpiresAt the suite writes in the real future, so
// that a backend which also sets a server-side TTL from it (Redis
// PEXPIREAT) does not lose entries early.
func Run(t *testing.T, open func(t *testing.T, now func() time.Time) latchkey.Cache) {
	t.Helper()
	tests := []struct {
		name string
		fn   func(*testing.T, Open)
	}{
		{"MissOnEmpty", testMissOnEmpty},
		{"SessionRoundTrip", testSessionRoundTrip},
		{"SessionExpiry", testSessionExpiry},
		{"PutSessionExpired", testPutSessionExpired},
		{"PutSessionOverwrites", testPutSessionOverwrites},
		{"TouchSession", testTouchSession},
		{"InvalidateSessions", testInvalidateSessions},
		{"UserRoundTrip", testUserRoundTrip},
		{"PutUserOverwrites", testPutUserOverwrites},
		{"InvalidateUsers", testInvalidateUsers},
		{"InvalidateBoth", testInvalidateBoth},
		{"InvalidateReplay", testInvalidateReplay},
		{"InvalidateAll", testInvalidateAll},
		{"Ping", testPing},
		{"Concurrent", testConcurrent},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { tt.fn(t, open) })
	}
}

// clock is a fake clock, safe for concurrent use.
type clock struct{ ns atomic.Int64 }

func newClock() *clock {
	c := new(clock)
	c.ns.Store(time.Now().Truncate(time.Microsecond).UnixNano())
	return c
}

func (c *clock) Now() time.Time          { return time.Unix(0, c.ns.Load()).UTC() }
func (c *clock) Advance(d time.Duration) { c.ns.Add(int64(d)) }
func (c *clock) Set(t time.Time)         { c.ns.Store(t.UnixNano()) }

// setup opens a cache on a new fake clock.
func setup(t *testing.T, open Open) (latchkey.Cache, *clock) {
	t.Helper()
	clk := newClock()
	c := open(t, clk.Now)
	if c == nil {
		t.Fatal("open returned a nil cache")
	}
	return c, clk
}

// digest returns a digest unique to the test and label.
func digest(t *testing.T, label string) latchkey.Digest {
	return sha256.Sum256([]byte("cachetest\x00" + t.Name() + "\x00" + label))
}

// session returns a typical live session at now: created an hour ago,
// used a minute ago, expiring in a day.
func session(id string, userID int64, now time.Time) latchkey.CachedSession {
	return latchkey.CachedSession{
		SessionID:  id,
		UserID:     userID,
		CreatedAt:  now.Add(-time.Hour),
		LastUsedAt: now.Add(-time.Minute),
		ExpiresAt:  now.Add(24 * time.Hour),
	}
}

func mustSession(t *testing.T, c latchkey.Cache, d latchkey.Digest) latchkey.CachedSession {
	t.Helper()
	got, ok, err := c.Session(t.Context(), d)
	if err != nil {
		t.Fatalf("Session: %v", err)
	}
	if !ok {
		t.Fatal("Session: miss, want hit")
	}
	return got
}

func mustMissSession(t *testing.T, c latchkey.Cache, d latchkey.Digest) {
	t.Helper()
	got, ok, err := c.Session(t.Context(), d)
	if err != nil {
		t.Fatalf("Session: %v", err)
	}
	if ok {
		t.Fatalf("Session: hit %+v, want miss", got)
	}
}

func mustPutSession(t *testing.T, c latchkey.Cache, d latchkey.Digest, s latchkey.CachedSession) {
	t.Helper()
	if err := c.PutSession(t.Context(), d, s); err != nil {
		t.Fatalf("PutSession: %v", err)
	}
}

func mustUser(t *testing.T, c latchkey.Cache, id int64) latchkey.User {
	t.Helper()
	got, ok, err := c.User(t.Context(), id)
	if err != nil {
		t.Fatalf("User(%d): %v", id, err)
	}
	if !ok {
		t.Fatalf("User(%d): miss, want hit", id)
	}
	return got
}

func mustMissUser(t *testing.T, c latchkey.Cache, id int64) {
	t.Helper()
	got, ok, err := c.User(t.Context(), id)
	if err != nil {
		t.Fatalf("User(%d): %v", id, err)
	}
	if ok {
		t.Fatalf("User(%d): hit %+v, want miss", id, got)
	}
}

func mustPutUser(t *testing.T, c latchkey.Cache, u latchkey.User) {
	t.Helper()
	if err := c.PutUser(t.Context(), u); err != nil {
		t.Fatalf("PutUser(%d): %v", u.ID, err)
	}
}

// sessionDiff describes how got differs from want, or returns "".
// Times compare as instants (Equal): a cache need not keep locations.
func sessionDiff(got, want latchkey.CachedSession) string {
	var b strings.Builder
	if got.SessionID != want.SessionID {
		fmt.Fprintf(&b, "\n\tSessionID = %q, want %q", got.SessionID, want.SessionID)
	}
	if got.UserID != want.UserID {
		fmt.Fprintf(&b, "\n\tUserID = %d, want %d", got.UserID, want.UserID)
	}
	timeDiff(&b, "CreatedAt", got.CreatedAt, want.CreatedAt)
	timeDiff(&b, "LastUsedAt", got.LastUsedAt, want.LastUsedAt)
	timeDiff(&b, "ExpiresAt", got.ExpiresAt, want.ExpiresAt)
	return b.String()
}

// userDiff describes how got differs from want, or returns "".
func userDiff(got, want latchkey.User) string {
	var b strings.Builder
	for _, f := range []struct{ name, got, want string }{
		{"Username", got.Username, want.Username},
		{"Email", got.Email, want.Email},
		{"FirstName", got.FirstName, want.FirstName},
		{"LastName", got.LastName, want.LastName},
		{"PasswordHash", got.PasswordHash, want.PasswordHash},
	} {
		if f.got != f.want {
			fmt.Fprintf(&b, "\n\t%s = %q, want %q", f.name, f.got, f.want)
		}
	}
	if got.ID != want.ID {
		fmt.Fprintf(&b, "\n\tID = %d, want %d", got.ID, want.ID)
	}
	if got.Active != want.Active {
		fmt.Fprintf(&b, "\n\tActive = %t, want %t", got.Active, want.Active)
	}
	timeDiff(&b, "LastLogin", got.LastLogin, want.LastLogin)
	timeDiff(&b, "DateJoined", got.DateJoined, want.DateJoined)
	return b.String()
}

func timeDiff(b *strings.Builder, name string, got, want time.Time) {
	if !got.Equal(want) {
		fmt.Fprintf(b, "\n\t%s = %v, want %v", name, got, want)
	}
}

func testMissOnEmpty(t *testing.T, open Open) {
	c, _ := setup(t, open)
	mustMissSession(t, c, digest(t, "absent"))
	mustMissSession(t, c, latchkey.Digest{})
	mustMissUser(t, c, 1)
	mustMissUser(t, c, 0)
}

func testSessionRoundTrip(t *testing.T, open Open) {
	c, clk := setup(t, open)
	now := clk.Now()
	// Times carry sub-second microseconds and, in one case, a location
	// other than UTC; a cache may return them in any location.
	at := now.Add(123456 * time.Microsecond)
	paris := time.FixedZone("CET", 3600)
	tests := []struct {
		name string
		s    latchkey.CachedSession
	}{
		{"typical", session("q1w2e3r4t5y6u7i8o9p0aA", 42, at)},
		{"distinct times", latchkey.CachedSession{
			SessionID:  "AAAAAAAAAAAAAAAAAAAAAA",
			UserID:     7,
			CreatedAt:  at.Add(-30 * 24 * time.Hour).Add(time.Microsecond),
			LastUsedAt: at.Add(-2 * time.Microsecond),
			ExpiresAt:  at.Add(time.Second + 999999*time.Microsecond),
		}},
		{"other location", latchkey.CachedSession{
			SessionID:  "b-_b-_b-_b-_b-_b-_b-_bA",
			UserID:     8,
			CreatedAt:  at.Add(-time.Hour).In(paris),
			LastUsedAt: at.In(paris),
			ExpiresAt:  at.Add(time.Hour).In(paris),
		}},
		{"large user id", session("ZZZZZZZZZZZZZZZZZZZZZZ", math.MaxInt64, at)},
		{"long session id", session(strings.Repeat("x", 200), 9, at)},
		{"never used", latchkey.CachedSession{
			SessionID: "nnnnnnnnnnnnnnnnnnnnnn",
			UserID:    10,
			CreatedAt: at,
			ExpiresAt: at.Add(time.Hour),
		}},
	}
	// Put every case first, then read them all, so that entries that
	// overwrite one another show.
	for _, tt := range tests {
		mustPutSession(t, c, digest(t, tt.name), tt.s)
	}
	for _, tt := range tests {
		d := digest(t, tt.name)
		t.Run(tt.name, func(t *testing.T) {
			if diff := sessionDiff(mustSession(t, c, d), tt.s); diff != "" {
				t.Errorf("Session after PutSession:%s", diff)
			}
		})
	}
}

func testSessionExpiry(t *testing.T, open Open) {
	// The contract holds against the clock the cache was given, and the
	// suite moves that clock instead of sleeping: a cache must compare
	// ExpiresAt with now on every read. A Redis cache that also sets a
	// server-side TTL (PEXPIREAT from ExpiresAt) only reclaims memory with
	// it. Should a backend's own tests want to watch such a TTL fire in
	// real time, they need real sleeps: keep them to 2 s at most. The
	// short entry here expires 1 s after the real present for that
	// reason.
	c, clk := setup(t, open)
	start := clk.Now()
	short := session("shortshortshortshort00", 1, start)
	short.ExpiresAt = start.Add(time.Second)
	long := session("longlonglonglonglong00", 1, start)
	ds, dl := digest(t, "short"), digest(t, "long")
	mustPutSession(t, c, ds, short)
	mustPutSession(t, c, dl, long)

	mustSession(t, c, ds)
	clk.Set(short.ExpiresAt.Add(-time.Microsecond))
	if diff := sessionDiff(mustSession(t, c, ds), short); diff != "" {
		t.Errorf("Session just before ExpiresAt:%s", diff)
	}
	clk.Set(short.ExpiresAt)
	mustMissSession(t, c, ds)
	clk.Advance(time.Hour)
	mustMissSession(t, c, ds)

	// Expiry is per entry.
	mustSession(t, c, dl)
	clk.Set(long.ExpiresAt)
	mustMissSession(t, c, dl)
}

func testPutSessionExpired(t *testing.T, open Open) {
	c, clk := setup(t, open)
	now := clk.Now()
	tests := []struct {
		name      string
		expiresAt time.Time
	}{
		{"at now", now},
		{"in the past", now.Add(-time.Hour)},
		{"long ago", time.Date(2001, 2, 3, 4, 5, 6, 7000, time.UTC)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := session("expiredexpiredexpired0", 1, now)
			s.ExpiresAt = tt.expiresAt
			d := digest(t, "")
			mustPutSession(t, c, d, s)
			mustMissSession(t, c, d)
		})
	}
	t.Run("over a live entry", func(t *testing.T) {
		d := digest(t, "")
		live := session("livelivelivelivelive00", 1, now)
		mustPutSession(t, c, d, live)
		mustSession(t, c, d)
		dead := live
		dead.ExpiresAt = now.Add(-time.Second)
		mustPutSession(t, c, d, dead)
		mustMissSession(t, c, d)
	})
}

func testPutSessionOverwrites(t *testing.T, open Open) {
	c, clk := setup(t, open)
	now := clk.Now()
	d := digest(t, "")
	first := session("firstfirstfirstfirst00", 1, now)
	second := latchkey.CachedSession{
		SessionID:  "secondsecondsecondsec0",
		UserID:     2,
		CreatedAt:  now.Add(-2 * time.Hour),
		LastUsedAt: now.Add(-3 * time.Minute), // earlier than first's: a put is no touch
		ExpiresAt:  now.Add(time.Hour),        // earlier than first's
	}
	mustPutSession(t, c, d, first)
	mustPutSession(t, c, d, second)
	if diff := sessionDiff(mustSession(t, c, d), second); diff != "" {
		t.Errorf("Session after second PutSession:%s", diff)
	}
	// The earlier expiry replaced the later one.
	clk.Set(second.ExpiresAt)
	mustMissSession(t, c, d)
}

func testTouchSession(t *testing.T, open Open) {
	c, clk := setup(t, open)
	now := clk.Now()
	base := session("touchtouchtouchtouch00", 3, now)
	tests := []struct {
		name    string
		touches []time.Time
		want    time.Time
	}{
		{"forward", []time.Time{now}, now},
		{"forward by a microsecond", []time.Time{base.LastUsedAt.Add(time.Microsecond)}, base.LastUsedAt.Add(time.Microsecond)},
		{"same time", []time.Time{base.LastUsedAt}, base.LastUsedAt},
		{"backward", []time.Time{base.LastUsedAt.Add(-time.Hour)}, base.LastUsedAt},
		{"forward then backward", []time.Time{now, now.Add(-time.Second)}, now},
		{"forward twice", []time.Time{now.Add(-time.Second), now}, now},
		{"other location", []time.Time{now.In(time.FixedZone("X", -5*3600))}, now},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := digest(t, "")
			mustPutSession(t, c, d, base)
			for _, at := range tt.touches {
				if err := c.TouchSession(t.Context(), d, at); err != nil {
					t.Fatalf("TouchSession: %v", err)
				}
			}
			want := base
			want.LastUsedAt = tt.want
			if diff := sessionDiff(mustSession(t, c, d), want); diff != "" {
				t.Errorf("Session after TouchSession:%s", diff)
			}
		})
	}
	t.Run("absent", func(t *testing.T) {
		d := digest(t, "")
		if err := c.TouchSession(t.Context(), d, now); err != nil {
			t.Fatalf("TouchSession: %v", err)
		}
		mustMissSession(t, c, d)
	})
	t.Run("deleted", func(t *testing.T) {
		d := digest(t, "")
		mustPutSession(t, c, d, base)
		invalidate(t, c, latchkey.Invalidation{Sessions: []latchkey.Digest{d}})
		if err := c.TouchSession(t.Context(), d, now); err != nil {
			t.Fatalf("TouchSession: %v", err)
		}
		mustMissSession(t, c, d)
	})
}

// invalidate applies inv and fails t on an error.
func invalidate(t *testing.T, c latchkey.Cache, inv latchkey.Invalidation) {
	t.Helper()
	if err := c.Invalidate(t.Context(), inv); err != nil {
		t.Fatalf("Invalidate(%d sessions, %d users, all %v): %v", len(inv.Sessions), len(inv.Users), inv.All, err)
	}
}

func testInvalidateSessions(t *testing.T, open Open) {
	c, clk := setup(t, open)
	now := clk.Now()
	var ds [4]latchkey.Digest
	for i := range ds {
		ds[i] = digest(t, fmt.Sprint(i))
		mustPutSession(t, c, ds[i], session(fmt.Sprintf("delete%016d", i), int64(i+1), now))
	}
	del := func(ds ...latchkey.Digest) {
		t.Helper()
		invalidate(t, c, latchkey.Invalidation{Sessions: ds})
	}
	del(ds[0], digest(t, "unknown 1"), ds[2], digest(t, "unknown 2"))
	mustMissSession(t, c, ds[0])
	mustMissSession(t, c, ds[2])
	mustSession(t, c, ds[1])
	mustSession(t, c, ds[3])

	del()             // none
	del(ds[0])        // already gone
	del(ds[1], ds[1]) // twice in one call
	mustMissSession(t, c, ds[1])
	if diff := sessionDiff(mustSession(t, c, ds[3]), session("delete0000000000000003", 4, now)); diff != "" {
		t.Errorf("untouched session:%s", diff)
	}
}

func testUserRoundTrip(t *testing.T, open Open) {
	c, clk := setup(t, open)
	now := clk.Now()
	tokyo := time.FixedZone("JST", 9*3600)
	tests := []struct {
		name string
		u    latchkey.User
	}{
		{"typical", latchkey.User{
			ID:           1,
			Username:     "alice",
			Email:        "alice@example.com",
			FirstName:    "Alice",
			LastName:     "Liddell",
			PasswordHash: "$argon2id$v=19$m=65536,t=3,p=4$c2FsdHNhbHQ$aGFzaGhhc2g",
			Active:       true,
			LastLogin:    now.Add(-time.Hour + 7*time.Microsecond),
			DateJoined:   now.Add(-400 * 24 * time.Hour),
		}},
		{"never logged in", latchkey.User{
			ID:           2,
			Username:     "bob",
			PasswordHash: "pbkdf2_sha256$870000$salt$hash=",
			Active:       true,
			DateJoined:   now,
		}},
		{"inactive", latchkey.User{
			ID:         3,
			Username:   "carol",
			Email:      "carol@example.net",
			Active:     false,
			LastLogin:  now.Add(-time.Minute),
			DateJoined: now.Add(-time.Hour),
		}},
		{"unicode", latchkey.User{
			ID:         4,
			Username:   "zoë.ñandú",
			Email:      "zoë@exämple.org",
			FirstName:  "Zoë",
			LastName:   "Ñandú 山田",
			Active:     true,
			LastLogin:  now,
			DateJoined: now.Add(-time.Second),
		}},
		{"other location", latchkey.User{
			ID:         5,
			Username:   "dave",
			Active:     true,
			LastLogin:  now.In(tokyo),
			DateJoined: now.Add(-time.Hour).In(tokyo),
		}},
		{"long fields", latchkey.User{
			ID:         math.MaxInt64,
			Username:   strings.Repeat("u", 150),
			Email:      strings.Repeat("e", 242) + "@example.com",
			FirstName:  strings.Repeat("ф", 150),
			LastName:   strings.Repeat("l", 150),
			Active:     true,
			DateJoined: now,
		}},
	}
	for _, tt := range tests {
		mustPutUser(t, c, tt.u)
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			want := tt.u
			want.PasswordHash = "" // a cache must not keep it
			if diff := userDiff(mustUser(t, c, tt.u.ID), want); diff != "" {
				t.Errorf("User after PutUser:%s", diff)
			}
		})
	}
}

func testPutUserOverwrites(t *testing.T, open Open) {
	c, clk := setup(t, open)
	now := clk.Now()
	first := latchkey.User{
		ID:         9,
		Username:   "erin",
		Email:      "erin@example.com",
		FirstName:  "Erin",
		LastName:   "Old",
		Active:     true,
		LastLogin:  now,
		DateJoined: now.Add(-time.Hour),
	}
	second := latchkey.User{
		ID:         9,
		Username:   "erin2",
		FirstName:  "Erin",
		LastName:   "Newer-and-longer",
		Active:     false,
		DateJoined: now.Add(-time.Hour),
	}
	mustPutUser(t, c, first)
	mustPutUser(t, c, second)
	if diff := userDiff(mustUser(t, c, 9), second); diff != "" {
		t.Errorf("User after second PutUser:%s", diff)
	}
}

func testInvalidateUsers(t *testing.T, open Open) {
	c, clk := setup(t, open)
	now := clk.Now()
	for id := int64(1); id <= 2; id++ {
		mustPutUser(t, c, latchkey.User{ID: id, Username: fmt.Sprint("user", id), Active: true, DateJoined: now})
	}
	del := func(id int64) {
		t.Helper()
		invalidate(t, c, latchkey.Invalidation{Users: []int64{id}})
	}
	del(1)
	mustMissUser(t, c, 1)
	mustUser(t, c, 2)
	del(1)  // already gone
	del(99) // never there
	mustUser(t, c, 2)
}

// testInvalidateBoth: one invalidation naming sessions and users (a
// password change) drops them all, and nothing else.
func testInvalidateBoth(t *testing.T, open Open) {
	c, clk := setup(t, open)
	now := clk.Now()
	var ds [3]latchkey.Digest
	for i := range ds {
		ds[i] = digest(t, fmt.Sprint(i))
		mustPutSession(t, c, ds[i], session(fmt.Sprintf("both%018d", i), int64(i+1), now))
		mustPutUser(t, c, latchkey.User{ID: int64(i + 1), Username: fmt.Sprint("user", i), Active: true, DateJoined: now})
	}
	invalidate(t, c, latchkey.Invalidation{Sessions: ds[:2], Users: []int64{1, 3}})
	mustMissSession(t, c, ds[0])
	mustMissSession(t, c, ds[1])
	mustSession(t, c, ds[2])
	mustMissUser(t, c, 1)
	mustUser(t, c, 2)
	mustMissUser(t, c, 3)
}

// testInvalidateReplay: a replayed invalidation drops its entries here
// exactly as an announced one does; only what is told to other processes
// may differ.
func testInvalidateReplay(t *testing.T, open Open) {
	c, clk := setup(t, open)
	now := clk.Now()
	d, kept := digest(t, "replayed"), digest(t, "kept")
	mustPutSession(t, c, d, session("replayedreplayedreplay", 1, now))
	mustPutSession(t, c, kept, session("keptkeptkeptkeptkeptke", 2, now))
	mustPutUser(t, c, latchkey.User{ID: 1, Username: "replayed", Active: true, DateJoined: now})
	invalidate(t, c, latchkey.Invalidation{Sessions: []latchkey.Digest{d}, Users: []int64{1}, Replay: true})
	mustMissSession(t, c, d)
	mustMissUser(t, c, 1)
	mustSession(t, c, kept)
}

func testInvalidateAll(t *testing.T, open Open) {
	c, clk := setup(t, open)
	now := clk.Now()
	purge := func() {
		t.Helper()
		invalidate(t, c, latchkey.Invalidation{All: true})
	}
	purge() // an empty cache
	const n = 10
	for i := range n {
		mustPutSession(t, c, digest(t, fmt.Sprint(i)), session(fmt.Sprintf("purge%017d", i), int64(i+1), now))
		mustPutUser(t, c, latchkey.User{ID: int64(i + 1), Username: fmt.Sprint("user", i), Active: true, DateJoined: now})
	}
	purge()
	for i := range n {
		mustMissSession(t, c, digest(t, fmt.Sprint(i)))
		mustMissUser(t, c, int64(i+1))
	}
	// Still usable.
	s := session("afterpurgeafterpurge00", 1, now)
	mustPutSession(t, c, digest(t, "after"), s)
	if diff := sessionDiff(mustSession(t, c, digest(t, "after")), s); diff != "" {
		t.Errorf("Session after invalidating all and PutSession:%s", diff)
	}
	mustPutUser(t, c, latchkey.User{ID: 1, Username: "after", DateJoined: now})
	mustUser(t, c, 1)
}

func testPing(t *testing.T, open Open) {
	c, _ := setup(t, open)
	if err := c.Ping(t.Context()); err != nil {
		t.Fatalf("Ping: %v", err)
	}
}

// testConcurrent runs every method from many goroutines over a few keys,
// so that they meet; run it under the race detector. Whatever a read
// returns must be what some put wrote.
func testConcurrent(t *testing.T, open Open) {
	c, clk := setup(t, open)
	now := clk.Now()
	const (
		workers  = 8
		ops      = 500
		nDigests = 32
		nUsers   = 8
	)
	ds := make([]latchkey.Digest, nDigests)
	ss := make([]latchkey.CachedSession, nDigests)
	for i := range ds {
		ds[i] = digest(t, fmt.Sprint(i))
		ss[i] = session(fmt.Sprintf("concurrent%012d", i), int64(i%nUsers+1), now)
	}
	us := make([]latchkey.User, nUsers+1)
	for id := 1; id <= nUsers; id++ {
		us[id] = latchkey.User{
			ID:           int64(id),
			Username:     fmt.Sprint("user", id),
			Email:        fmt.Sprintf("user%d@example.com", id),
			PasswordHash: "must not be cached",
			Active:       id%2 == 0,
			LastLogin:    now.Add(-time.Duration(id) * time.Minute),
			DateJoined:   now.Add(-time.Duration(id) * time.Hour),
		}
	}

	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			ctx := t.Context()
			for j := range ops {
				i := (w*7919 + j*104729) % nDigests
				id := i%nUsers + 1
				var err error
				switch (w + j) % 10 {
				case 0, 1, 2:
					var got latchkey.CachedSession
					var ok bool
					got, ok, err = c.Session(ctx, ds[i])
					if ok {
						want := ss[i]
						if got.LastUsedAt.Before(want.LastUsedAt) {
							t.Errorf("Session %d: LastUsedAt %v moved back from %v", i, got.LastUsedAt, want.LastUsedAt)
							return
						}
						want.LastUsedAt = got.LastUsedAt // touches move it
						if diff := sessionDiff(got, want); diff != "" {
							t.Errorf("Session %d:%s", i, diff)
							return
						}
					}
				case 3:
					err = c.PutSession(ctx, ds[i], ss[i])
				case 4:
					err = c.TouchSession(ctx, ds[i], now.Add(time.Duration(j)*time.Microsecond))
				case 5:
					err = c.Invalidate(ctx, latchkey.Invalidation{Sessions: []latchkey.Digest{ds[i], ds[(i+1)%nDigests]}})
				case 6:
					var got latchkey.User
					var ok bool
					got, ok, err = c.User(ctx, int64(id))
					if ok {
						want := us[id]
						want.PasswordHash = ""
						if diff := userDiff(got, want); diff != "" {
							t.Errorf("User %d:%s", id, diff)
							return
						}
					}
				case 7:
					err = c.PutUser(ctx, us[id])
				case 8:
					err = c.Invalidate(ctx, latchkey.Invalidation{Users: []int64{int64(id)}})
				case 9:
					clk.Advance(time.Microsecond)
					if j%100 == 99 {
						err = c.Invalidate(ctx, latchkey.Invalidation{All: true})
					} else {
						_, _, err = c.Session(ctx, ds[i])
					}
				}
				if err != nil {
					t.Errorf("worker %d op %d: %v", w, j, err)
					return
				}
			}
		})
	}
	wg.Wait()
}
