package main

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// year is 365 days, for limits.
const year = 365 * 24 * time.Hour

// The limits of the duration settings. Each setting refuses a value
// outside its range, naming the range, when it is read: a value that
// overflows time.Duration included.
const (
	// A token lives from one second (tests, demos) to ten years (a
	// Django token never expired; ten years is as near as is sane).
	minTokenTTL, maxTokenTTL = time.Second, 10 * year
	// An idle timeout is off (0), or as short as the token check can
	// measure (1s) and as long as a token can live.
	minIdleTimeout, maxIdleTimeout = time.Second, maxTokenTTL
	// How long a cache is trusted without the change feed: beyond an hour,
	// a revoked token would be honoured for longer than anyone expects.
	minStaleness, maxStaleness = 10 * time.Millisecond, time.Hour
	// The change feed is read at least once a minute, and under
	// cache-max-staleness (checked across the two settings).
	minSyncInterval, maxSyncInterval = time.Millisecond, time.Minute
	// A login that waits longer than the server's write timeout (30s)
	// could not be answered anyway; so for a captcha verification.
	minHashQueue, maxHashQueue           = time.Millisecond, 30 * time.Second
	minCaptchaTimeout, maxCaptchaTimeout = 100 * time.Millisecond, 30 * time.Second
	// In-flight requests get up to an hour at shutdown; 0 cuts them off.
	maxShutdownTimeout = time.Hour
	// Security events are kept from an hour (a test, a machine that must
	// keep little) to ten years.
	minEventsRetention, maxEventsRetention = time.Hour, 10 * year
	// The throttle's delays: its own limits.
	minBackoff, maxBackoff = time.Millisecond, 24 * time.Hour
)

// durationValue is a duration setting: a Go duration from lo to hi, or 0
// when the setting can be off.
type durationValue struct {
	d      *time.Duration
	lo, hi time.Duration
	off    bool
}

// durationIn is the flag.Value of a duration setting from lo to hi.
func durationIn(d *time.Duration, lo, hi time.Duration) *durationValue {
	return &durationValue{d: d, lo: lo, hi: hi}
}

// durationOrOff is durationIn, and 0 is accepted too: the setting is off.
func durationOrOff(d *time.Duration, lo, hi time.Duration) *durationValue {
	return &durationValue{d: d, lo: lo, hi: hi, off: true}
}

func (v *durationValue) String() string {
	if v.d == nil { // the flag package's zero value, for --help
		return "0s"
	}
	return v.d.String()
}

func (v *durationValue) Set(s string) error {
	d, err := time.ParseDuration(strings.TrimSpace(s))
	if err != nil || !(v.lo <= d && d <= v.hi || v.off && d == 0) {
		// Overflow is a parse error, and out of range too.
		return fmt.Errorf("must be %s", v.limits())
	}
	*v.d = d
	return nil
}

// limits says which values v takes.
func (v *durationValue) limits() string {
	r := fmt.Sprintf("a Go duration from %s to %s%s", shortDuration(v.lo), shortDuration(v.hi), inYears(v.hi))
	if v.off {
		r = "0 (off) or " + r
	}
	return r
}

// shortDuration is d as time.Duration.String writes it, without the zero
// minutes and seconds: 87600h, not 87600h0m0s.
func shortDuration(d time.Duration) string {
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
	if d < year || d%year != 0 {
		return ""
	}
	return fmt.Sprintf(" (%d years)", d/year)
}

// secondsBetween converts a duration given in whole seconds (the alias
// TOKEN_EXPIRY_IN_SECONDS) to a Go duration, refusing a number outside lo
// to hi before it can overflow.
func secondsBetween(lo, hi time.Duration) func(string) (string, error) {
	first, last := int64(lo/time.Second), int64(hi/time.Second)
	return func(s string) (string, error) {
		n, err := strconv.ParseInt(strings.TrimSpace(s), 10, 64)
		if err != nil || n < first || n > last {
			return "", fmt.Errorf("must be a whole number of seconds from %d to %d%s", first, last, inYears(hi))
		}
		return (time.Duration(n) * time.Second).String(), nil
	}
}
