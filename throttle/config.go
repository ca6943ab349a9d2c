package throttle

import (
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"time"

	"github.com/latchkeyhq/latchkey"
)

// Config is the limiter's thresholds and what it runs on. Zero values take
// the defaults (DefaultConfig); Validate checks the rest, and New refuses
// what it refuses.
type Config struct {
	// IP limits every attempt from one client address, whatever its
	// outcome. IPv6 clients are counted by network (IPv6Prefix). Default
	// 30 a minute with a burst of 10.
	IP latchkey.Bucket
	// Backoff delays one (username, client address) pair after repeated
	// failures; a success ends it. Default: after 5 failures, 1s, doubling
	// with each further failure up to 15m.
	Backoff latchkey.Backoff
	// Account limits the failures of one username, from every client
	// address not known for it. Once spent, the username's logins from
	// such addresses are delayed (one per Every), never locked. Default
	// 100 an hour, burst 100: 100 an hour sustained, and at most Burst
	// more than that in any one hour (after a quiet one).
	Account latchkey.Bucket
	// Known is the separate allowance of failures of each (username,
	// client address) pair that logged in successfully within KnownFor:
	// its owner keeps logging in while Account is spent. Default 10 an
	// hour, burst 10.
	Known latchkey.Bucket
	// KnownFor is how long a success makes its pair known; default 30
	// days from the last success.
	KnownFor time.Duration
	// ForgetAfter is how long failure counts (the pair's backoff, and
	// the counts FailureCounts reports) last after the last failure;
	// default 24h. It is at least Backoff.Max.
	ForgetAfter time.Duration
	// Challenge limits the captcha challenges issued to one client
	// address (CheckChallenge). IPv6 clients are counted by network
	// (IPv6Prefix). Default 30 a minute with a burst of 10, as IP: each
	// login with a captcha takes one challenge.
	Challenge latchkey.Bucket
	// ServiceClient limits the failed authentications of service clients
	// from one client address (CheckServiceClient): only failures are
	// counted. IPv6 clients are counted by network (IPv6Prefix). Default
	// 30 a minute with a burst of 10.
	ServiceClient latchkey.Bucket
	// IPv6Prefix is the length of the IPv6 network counted as one client
	// (one subscriber usually holds a /64 or more); default 64.
	IPv6Prefix int

	// Fallback, when not nil, is counted in while the store fails (see
	// Limiter). Nil: a failing store refuses every attempt with 503.
	Fallback latchkey.ThrottleStore
	// Timeout bounds each call sequence on the store before the fallback
	// takes over; default 250ms.
	Timeout time.Duration
	// Now is the clock; default time.Now.
	Now func() time.Time
	// Logger receives the store's failures and recoveries; default
	// discards.
	Logger *slog.Logger
}

// Defaults.
const (
	DefaultKnownFor    = 30 * 24 * time.Hour
	DefaultForgetAfter = 24 * time.Hour
	DefaultIPv6Prefix  = 64
	DefaultTimeout     = 250 * time.Millisecond
)

// DefaultConfig returns the default thresholds, as the issue sets them.
func DefaultConfig() Config {
	return Config{
		IP:            latchkey.Bucket{Burst: 10, Every: 2 * time.Second}, // 30/1m
		Backoff:       latchkey.Backoff{After: 5, Base: time.Second, Max: 15 * time.Minute},
		Account:       latchkey.Bucket{Burst: 100, Every: 36 * time.Second}, // 100/1h
		Known:         latchkey.Bucket{Burst: 10, Every: 6 * time.Minute},   // 10/1h
		KnownFor:      DefaultKnownFor,
		ForgetAfter:   DefaultForgetAfter,
		Challenge:     latchkey.Bucket{Burst: 10, Every: 2 * time.Second}, // 30/1m
		ServiceClient: latchkey.Bucket{Burst: 10, Every: 2 * time.Second}, // 30/1m
		IPv6Prefix:    DefaultIPv6Prefix,
		Timeout:       DefaultTimeout,
		Now:           time.Now,
		Logger:        slog.New(slog.DiscardHandler),
	}
}

// withDefaults returns c with its zero fields set to the defaults.
func (c Config) withDefaults() Config {
	d := DefaultConfig()
	bucket := func(b *latchkey.Bucket, def latchkey.Bucket) {
		if b.Burst == 0 {
			b.Burst = def.Burst
		}
		if b.Every == 0 {
			b.Every = def.Every
		}
	}
	bucket(&c.IP, d.IP)
	bucket(&c.Account, d.Account)
	bucket(&c.Known, d.Known)
	bucket(&c.Challenge, d.Challenge)
	bucket(&c.ServiceClient, d.ServiceClient)
	if c.Backoff.After == 0 {
		c.Backoff.After = d.Backoff.After
	}
	if c.Backoff.Base == 0 {
		c.Backoff.Base = d.Backoff.Base
	}
	if c.Backoff.Max == 0 {
		c.Backoff.Max = d.Backoff.Max
	}
	if c.KnownFor == 0 {
		c.KnownFor = d.KnownFor
	}
	if c.ForgetAfter == 0 {
		c.ForgetAfter = d.ForgetAfter
	}
	if c.IPv6Prefix == 0 {
		c.IPv6Prefix = d.IPv6Prefix
	}
	if c.Timeout == 0 {
		c.Timeout = d.Timeout
	}
	if c.Now == nil {
		c.Now = d.Now
	}
	if c.Logger == nil {
		c.Logger = d.Logger
	}
	return c
}

// Validate checks c, with its zero fields taken as the defaults. Setting
// names in its messages are the LATCHKEY_THROTTLE_* settings'.
func (c Config) Validate() error {
	c = c.withDefaults()
	var errs []error
	bucket := func(name string, b latchkey.Bucket) {
		if b.Burst < 1 || b.Burst > 1_000_000 {
			errs = append(errs, fmt.Errorf("throttle %s burst must be between 1 and 1000000", name))
		}
		if b.Every < time.Millisecond || b.Every > 24*time.Hour {
			errs = append(errs, fmt.Errorf("throttle %s rate must allow one attempt every 1ms to 24h", name))
		}
	}
	bucket("ip", c.IP)
	bucket("account", c.Account)
	bucket("known", c.Known)
	bucket("challenge", c.Challenge)
	bucket("client", c.ServiceClient)
	if c.Backoff.After < 1 || c.Backoff.After > 1000 {
		errs = append(errs, errors.New("throttle backoff-after must be between 1 and 1000"))
	}
	if c.Backoff.Base < time.Millisecond || c.Backoff.Base > c.Backoff.Max {
		errs = append(errs, errors.New("throttle backoff-base must be at least 1ms and at most backoff-max"))
	}
	if c.Backoff.Max > 24*time.Hour {
		errs = append(errs, errors.New("throttle backoff-max must be at most 24h"))
	}
	if c.ForgetAfter < c.Backoff.Max || c.ForgetAfter < time.Minute {
		errs = append(errs, errors.New("throttle forget-after must be at least 1m and at least backoff-max"))
	}
	if c.KnownFor < time.Minute {
		errs = append(errs, errors.New("throttle known-for must be at least 1m"))
	}
	if c.IPv6Prefix < 32 || c.IPv6Prefix > 128 {
		errs = append(errs, errors.New("throttle ipv6-prefix must be between 32 and 128"))
	}
	if c.Timeout < 0 {
		errs = append(errs, errors.New("throttle timeout must not be negative"))
	}
	return errors.Join(errs...)
}

// ParseRate parses a rate such as "30/1m", "30/m" or "100/1h" (a count
// of attempts per Go duration, whose leading 1 may be left out) into the
// time between two attempts, a latchkey.Bucket's Every.
func ParseRate(s string) (time.Duration, error) {
	n, per, ok := strings.Cut(strings.TrimSpace(s), "/")
	if !ok {
		return 0, fmt.Errorf("rate %q: want COUNT/DURATION, such as 30/1m", s)
	}
	count, err := strconv.Atoi(strings.TrimSpace(n))
	if err != nil || count < 1 {
		return 0, fmt.Errorf("rate %q: the count must be a whole number of at least 1", s)
	}
	per = strings.TrimSpace(per)
	if per != "" && (per[0] < '0' || per[0] > '9') && per[0] != '.' {
		per = "1" + per
	}
	d, err := time.ParseDuration(per)
	if err != nil || d <= 0 {
		return 0, fmt.Errorf("rate %q: the period must be a positive duration such as 1m", s)
	}
	every := d / time.Duration(count)
	if every < time.Millisecond {
		return 0, fmt.Errorf("rate %q: more than one attempt a millisecond", s)
	}
	return every, nil
}
