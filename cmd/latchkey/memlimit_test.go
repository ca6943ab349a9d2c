package main

import (
	"log/slog"
	"math"
	"runtime/debug"
	"testing"
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
	want := int64(64<<20 + 2*32<<20 + 1_000_000*320)
	if got := debug.SetMemoryLimit(-1); got != want {
		t.Errorf("auto: limit %d, want %d", got, want)
	}
	if want >= 512<<20 {
		t.Errorf("auto's default %d MiB leaves no room under 512 MiB", want>>20)
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
