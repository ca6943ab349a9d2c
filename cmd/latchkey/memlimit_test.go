package main

import (
	"context"
	"crypto/sha256"
	"log/slog"
	"math"
	"runtime"
	"runtime/debug"
	"strconv"
	"testing"
	"time"

	"github.com/latchkeyhq/latchkey"
	"github.com/latchkeyhq/latchkey/cache/memory"
)

func TestMemoryLimitSetting(t *testing.T) {
	for _, tc := range []struct {
		in, want string
		bytes    int64
	}{
		{"auto", "auto", 0},
		{"off", "off", 0},
		{"512MiB", "512MiB", 512 << 20},
		{" 2GiB ", "2GiB", 2 << 30},
		{"1536 KiB", "1536KiB", 1536 << 10},
		{"1000000", "1000000B", 1000000},
		{"3TiB", "3TiB", 3 << 40},
	} {
		var m memoryLimit
		if err := m.Set(tc.in); err != nil {
			t.Errorf("Set(%q): %v", tc.in, err)
			continue
		}
		if m.String() != tc.want || m.bytes != tc.bytes {
			t.Errorf("Set(%q) = %s (%d bytes), want %s (%d)", tc.in, m.String(), m.bytes, tc.want, tc.bytes)
		}
	}
	for _, bad := range []string{"", "0", "-1MiB", "12XB", "MiB", "1.5GiB", "9999999TiB", "auto2"} {
		var m memoryLimit
		if err := m.Set(bad); err == nil {
			t.Errorf("Set(%q) = %s, want an error", bad, m.String())
		}
	}
}

func TestApplyMemoryLimit(t *testing.T) {
	defer debug.SetMemoryLimit(debug.SetMemoryLimit(-1))
	log := slog.New(slog.DiscardHandler)
	cfg := &Config{HashConcurrency: 2, CacheMaxEntries: 1_000_000}

	cfg.MemoryLimit = memoryLimit{auto: true}
	applyMemoryLimit(cfg, envOf(), log)
	want := int64(48<<20 + 2*32<<20 + 1_000_000*240)
	if got := debug.SetMemoryLimit(-1); got != want {
		t.Errorf("auto: limit %d, want %d", got, want)
	}
	// The figure is 400 MiB of RSS at 1,000,000 sessions; SQLite's
	// page caches and the program's own pages take about 50 MiB beside
	// the Go runtime's.
	if want > 350<<20 {
		t.Errorf("auto's default %d MiB leaves no room under 400 MiB", want>>20)
	}

	debug.SetMemoryLimit(123 << 20) // as GOMEMLIMIT=123MiB would have
	applyMemoryLimit(cfg, envOf("GOMEMLIMIT", "123MiB"), log)
	if got := debug.SetMemoryLimit(-1); got != 123<<20 {
		t.Errorf("auto with GOMEMLIMIT: limit %d, want GOMEMLIMIT's", got)
	}

	cfg.MemoryLimit = memoryLimit{bytes: 1 << 30}
	applyMemoryLimit(cfg, envOf("GOMEMLIMIT", "123MiB"), log)
	if got := debug.SetMemoryLimit(-1); got != 1<<30 {
		t.Errorf("1GiB: limit %d", got)
	}

	cfg.MemoryLimit = memoryLimit{off: true}
	applyMemoryLimit(cfg, envOf(), log)
	if got := debug.SetMemoryLimit(-1); got != math.MaxInt64 {
		t.Errorf("off: limit %d, want none", got)
	}
}

// TestAutoPerEntry: a full in-process cache of sessions, each with a user of
// its own as the bench seeds them (user123456, user123456@example.com),
// holds no more than autoPerEntry bytes of heap per session and user, so
// that auto's first two terms stay the collector's room.
func TestAutoPerEntry(t *testing.T) {
	if testing.Short() {
		t.Skip("fills 200,000 sessions and users")
	}
	const n = 200_000
	ctx := context.Background()
	now := time.Now()
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	c := memory.New(memory.Options{MaxEntries: n})
	for i := range int64(n) {
		name := "user" + strconv.FormatInt(1_000_000+i, 10)
		c.PutSession(ctx, sha256.Sum256([]byte(name)), latchkey.CachedSession{
			SessionID: "sess-" + strconv.FormatInt(1e16+i, 10), UserID: i + 1, // 22 bytes
			CreatedAt: now, LastUsedAt: now, ExpiresAt: now.Add(time.Hour),
		})
		c.PutUser(ctx, latchkey.User{ID: i + 1, Username: name, Email: name + "@example.com", Active: true, DateJoined: now})
	}
	runtime.GC()
	runtime.ReadMemStats(&after)
	sessions, users := c.Len()
	runtime.KeepAlive(c)
	// Shards fill unevenly: a few have evicted before the rest are full.
	if sessions < n*95/100 || users < n*95/100 {
		t.Fatalf("cached %d sessions and %d users of %d", sessions, users, n)
	}
	per := float64(after.HeapAlloc-before.HeapAlloc) / (float64(sessions+users) / 2)
	t.Logf("%.0f bytes of heap per session and user", per)
	if per > autoPerEntry {
		t.Errorf("%.0f bytes of heap per session and user, over autoPerEntry (%d)", per, autoPerEntry)
	}
}
