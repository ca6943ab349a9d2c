package main

import (
	"errors"
	"fmt"
	"log/slog"
	"math"
	"runtime/debug"
	"strconv"
	"strings"
)

// memoryLimit is the memory-limit setting: auto, off, or a size in bytes.
type memoryLimit struct {
	auto, off bool
	bytes     int64
}

// sizeUnits are GOMEMLIMIT's units.
var sizeUnits = []struct {
	suffix string
	shift  uint
}{{"TiB", 40}, {"GiB", 30}, {"MiB", 20}, {"KiB", 10}, {"B", 0}}

func (m *memoryLimit) String() string {
	switch {
	case m.auto:
		return "auto"
	case m.off:
		return "off"
	}
	for _, u := range sizeUnits {
		if m.bytes>>u.shift<<u.shift == m.bytes && m.bytes>>u.shift > 0 {
			return strconv.FormatInt(m.bytes>>u.shift, 10) + u.suffix
		}
	}
	return strconv.FormatInt(m.bytes, 10) + "B"
}

func (m *memoryLimit) Set(s string) error {
	s = strings.TrimSpace(s)
	switch s {
	case "auto":
		*m = memoryLimit{auto: true}
		return nil
	case "off":
		*m = memoryLimit{off: true}
		return nil
	}
	num, shift := s, uint(0)
	for _, u := range sizeUnits {
		if n, ok := strings.CutSuffix(s, u.suffix); ok {
			num, shift = n, u.shift
			break
		}
	}
	n, err := strconv.ParseInt(strings.TrimSpace(num), 10, 64)
	if err != nil || n <= 0 || n > math.MaxInt64>>shift {
		return errors.New("must be auto, off, or a size such as 512MiB or 2GiB")
	}
	*m = memoryLimit{bytes: n << shift}
	return nil
}

// Auto's budget: the process without its cache (buffers, database
// connections, the runtime: about 20 MiB in use after a warm-up of cache
// misses), each password hash being computed (argon2id's 19 MiB and the
// garbage it leaves until the next collection), and each cache entry the
// settings allow (a session and its user take about 230 bytes in a full
// cache when every session has a user of its own with about 30 bytes of
// text; see TestAutoPerEntry and cache/memory). The collector does not
// scan the cache, so a collection costs the same however full it is: the
// first two terms are the room it works in, and the third is what a full
// cache holds. 48 MiB + 2 × 32 MiB + 1,000,000 × 240 B ≈ 341 MiB by
// default on two CPUs.
const (
	autoBase     = 48 << 20
	autoPerHash  = 32 << 20
	autoPerEntry = 240
)

// applyMemoryLimit sets the runtime's soft memory limit the settings ask
// for, and logs it. GOMEMLIMIT, read by the runtime itself, stands when the
// setting is auto.
func applyMemoryLimit(cfg *Config, getenv func(string) string, log *slog.Logger) {
	m := cfg.MemoryLimit
	switch {
	case m.off:
		debug.SetMemoryLimit(math.MaxInt64)
		log.Info("memory limit", "limit", "off")
		return
	case m.auto && getenv("GOMEMLIMIT") != "":
		log.Info("memory limit", "limit", getenv("GOMEMLIMIT"), "from", "GOMEMLIMIT")
		return
	case m.auto:
		m.bytes = autoBase + int64(cfg.HashConcurrency)*autoPerHash + int64(cfg.CacheMaxEntries)*autoPerEntry
	}
	debug.SetMemoryLimit(m.bytes)
	log.Info("memory limit", "limit", fmt.Sprintf("%.0f MiB", float64(m.bytes)/(1<<20)), "from", cfg.MemoryLimit.String())
}
