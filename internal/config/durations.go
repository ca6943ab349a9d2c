package config

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Year is 365 days, for limits.
const Year = 365 * 24 * time.Hour

// The limits of the duration settings. Each setting refuses a value
// outside its range, naming the range, when it is read: a value that
// overflows time.Duration included.
const (
	// A token lives from one second (tests, demos) to ten years (a
	// Django token never expired; ten years is as near as is sane).
	MinTokenTTL, MaxTokenTTL = time.Second, 10 * Year
	// An idle timeout is off (0), or as short as the token check can
	// measure (1s) and as long as a token can live.
	MinIdleTimeout, MaxIdleTimeout = time.Second, MaxTokenTTL
	// How long a cache is trusted without the change feed: beyond an hour,
	// a revoked token would be honoured for longer than anyone expects.
	MinStaleness, MaxStaleness = 10 * time.Millisecond, time.Hour
	// The change feed is read at least once a minute, and under
	// cache-max-staleness (checked across the two settings).
	MinSyncInterval, MaxSyncInterval = time.Millisecond, time.Minute
	// A login that waits longer than the server's write timeout (30s)
	// could not be answered anyway; so for a captcha verification.
	MinHashQueue, MaxHashQueue           = time.Millisecond, 30 * time.Second
	MinCaptchaTimeout, MaxCaptchaTimeout = 100 * time.Millisecond, 30 * time.Second
	// In-flight requests get up to an hour at shutdown; 0 cuts them off.
	MaxShutdownTimeout = time.Hour
	// Security events are kept from an hour (a test, a machine that must
	// keep little) to ten years.
	MinEventsRetention, MaxEventsRetention = time.Hour, 10 * Year
	// The throttle's delays: its own limits.
	MinBackoff, MaxBackoff = time.Millisecond, 24 * time.Hour
)

// Duration is the flag.Value of a duration setting: a Go duration from lo
// to hi, or 0 when the setting can be off.
type Duration struct {
	d      *time.Duration
	lo, hi time.Duration
	off    bool
}

// DurationIn is the flag.Value of a duration setting from lo to hi.
func DurationIn(d *time.Duration, lo, hi time.Duration) *Duration {
	return &Duration{d: d, lo: lo, hi: hi}
}

// DurationOrOff is DurationIn, and 0 is accepted too: the setting is off.
func DurationOrOff(d *time.Duration, lo, hi time.Duration) *Duration {
	return &Duration{d: d, lo: lo, hi: hi, off: true}
}

func (v *Duration) String() string {
	if v.d == nil { // the flag package's zero value, for --help
		return "0s"
	}
	return v.d.String()
}

func (v *Duration) Set(s string) error {
	d, err := time.ParseDuration(strings.TrimSpace(s))
	if err != nil || !(v.lo <= d && d <= v.hi || v.off && d == 0) {
		// Overflow is a parse error, and out of range too.
		return fmt.Errorf("must be %s", v.limits())
	}
	*v.d = d
	return nil
}

// IsZero reports whether the duration is 0 (or unbound).
func (v *Duration) IsZero() bool { return v.d == nil || *v.d == 0 }

// limits says which values v takes.
func (v *Duration) limits() string {
	r := fmt.Sprintf("a Go duration from %s to %s%s", ShortDuration(v.lo), ShortDuration(v.hi), inYears(v.hi))
	if v.off {
		r = "0 (off) or " + r
	}
	return r
}

// ShortDuration is d as time.Duration.String writes it, without the zero
// minutes and seconds: 87600h, not 87600h0m0s.
func ShortDuration(d time.Duration) string {
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}

// inYears is " (N years)" when d is a whole number of years, else "".
func inYears(d time.Duration) string {
	if d < Year || d%Year != 0 {
		return ""
	}
	return fmt.Sprintf(" (%d years)", d/Year)
}

// SecondsBetween converts a duration given in whole seconds (the alias
// TOKEN_EXPIRY_IN_SECONDS) to a Go duration, refusing a number outside lo
// to hi before it can overflow.
func SecondsBetween(lo, hi time.Duration) func(string) (string, error) {
	first, last := int64(lo/time.Second), int64(hi/time.Second)
	return func(s string) (string, error) {
		n, err := strconv.ParseInt(strings.TrimSpace(s), 10, 64)
		if err != nil || n < first || n > last {
			return "", fmt.Errorf("must be a whole number of seconds from %d to %d%s", first, last, inYears(hi))
		}
		return (time.Duration(n) * time.Second).String(), nil
	}
}
