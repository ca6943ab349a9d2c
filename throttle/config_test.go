package throttle_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/latchkeyhq/latchkey"
	"github.com/latchkeyhq/latchkey/throttle"
	"github.com/latchkeyhq/latchkey/throttle/memory"
)

func TestParseRate(t *testing.T) {
	tests := []struct {
		in   string
		want time.Duration
		err  bool
	}{
		{"30/1m", 2 * time.Second, false},
		{"30/m", 2 * time.Second, false},
		{" 30 / 1m ", 2 * time.Second, false},
		{"100/1h", 36 * time.Second, false},
		{"100/h", 36 * time.Second, false},
		{"10/1h", 6 * time.Minute, false},
		{"1/24h", 24 * time.Hour, false},
		{"2/1.5s", 750 * time.Millisecond, false},
		{"1000/1s", time.Millisecond, false},
		{"1001/1s", 0, true},
		{"30", 0, true},
		{"0/1m", 0, true},
		{"-1/1m", 0, true},
		{"x/1m", 0, true},
		{"30/", 0, true},
		{"30/0s", 0, true},
		{"30/-1m", 0, true},
		{"30/minute", 0, true},
		{"", 0, true},
	}
	for _, tt := range tests {
		got, err := throttle.ParseRate(tt.in)
		if (err != nil) != tt.err || got != tt.want {
			t.Errorf("ParseRate(%q) = %v, %v; want %v, error %v", tt.in, got, err, tt.want, tt.err)
		}
	}
}

func TestConfigValidate(t *testing.T) {
	tests := []struct {
		name string
		edit func(*throttle.Config)
		want string // in the error; "" for none
	}{
		{"zero", func(*throttle.Config) {}, ""},
		{"defaults", func(c *throttle.Config) { *c = throttle.DefaultConfig() }, ""},
		{"negative burst", func(c *throttle.Config) { c.IP.Burst = -1 }, "ip burst"},
		{"huge burst", func(c *throttle.Config) { c.Account.Burst = 2_000_000 }, "account burst"},
		{"rate too fast", func(c *throttle.Config) { c.Known.Every = time.Microsecond }, "known rate"},
		{"rate too slow", func(c *throttle.Config) { c.IP.Every = 25 * time.Hour }, "ip rate"},
		{"challenge burst", func(c *throttle.Config) { c.Challenge.Burst = -1 }, "challenge burst"},
		{"challenge rate", func(c *throttle.Config) { c.Challenge.Every = time.Microsecond }, "challenge rate"},
		{"client burst", func(c *throttle.Config) { c.ServiceClient.Burst = 1_000_001 }, "client burst"},
		{"client rate", func(c *throttle.Config) { c.ServiceClient.Every = 25 * time.Hour }, "client rate"},
		{"backoff after", func(c *throttle.Config) { c.Backoff.After = -1 }, "backoff-after"},
		{"base over max", func(c *throttle.Config) { c.Backoff.Base = time.Hour }, "backoff-base"},
		{"max too long", func(c *throttle.Config) {
			c.Backoff.Max = 48 * time.Hour
			c.ForgetAfter = 72 * time.Hour
		}, "backoff-max"},
		{"forget before max", func(c *throttle.Config) { c.ForgetAfter = 10 * time.Minute }, "forget-after"},
		{"known for", func(c *throttle.Config) { c.KnownFor = time.Second }, "known-for"},
		{"ipv6 prefix", func(c *throttle.Config) { c.IPv6Prefix = 16 }, "ipv6-prefix"},
		{"ipv6 host", func(c *throttle.Config) { c.IPv6Prefix = 128 }, ""},
		{"timeout", func(c *throttle.Config) { c.Timeout = -time.Second }, "timeout"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var c throttle.Config
			tt.edit(&c)
			err := c.Validate()
			switch {
			case tt.want == "" && err != nil:
				t.Fatalf("Validate: %v", err)
			case tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)):
				t.Fatalf("Validate = %v, want an error about %s", err, tt.want)
			}
			_, nerr := throttle.New(memory.New(memory.Options{}), c)
			if (nerr == nil) != (err == nil) {
				t.Fatalf("New = %v, Validate = %v: they disagree", nerr, err)
			}
		})
	}
	if _, err := throttle.New(nil, throttle.Config{}); err == nil {
		t.Error("New without a store: no error")
	}
}

func TestDefaultConfig(t *testing.T) {
	c := throttle.DefaultConfig()
	want := []struct {
		name      string
		got, want any
	}{
		{"IP", c.IP, latchkey.Bucket{Burst: 10, Every: 2 * time.Second}},
		{"Backoff", c.Backoff, latchkey.Backoff{After: 5, Base: time.Second, Max: 15 * time.Minute}},
		{"Account", c.Account, latchkey.Bucket{Burst: 100, Every: 36 * time.Second}},
		{"Known", c.Known, latchkey.Bucket{Burst: 10, Every: 6 * time.Minute}},
		{"Challenge", c.Challenge, latchkey.Bucket{Burst: 10, Every: 2 * time.Second}},
		{"ServiceClient", c.ServiceClient, latchkey.Bucket{Burst: 10, Every: 2 * time.Second}},
		{"KnownFor", c.KnownFor, 30 * 24 * time.Hour},
		{"ForgetAfter", c.ForgetAfter, 24 * time.Hour},
		{"IPv6Prefix", c.IPv6Prefix, 64},
	}
	for _, w := range want {
		if w.got != w.want {
			t.Errorf("DefaultConfig().%s = %v, want %v", w.name, w.got, w.want)
		}
	}
}

func TestThrottled(t *testing.T) {
	tests := []struct {
		wait   time.Duration
		want   time.Duration
		detail string
	}{
		{0, time.Second, "Too many attempts; retry in 1 second."},
		{time.Nanosecond, time.Second, "Too many attempts; retry in 1 second."},
		{time.Second, time.Second, "Too many attempts; retry in 1 second."},
		{time.Second + time.Nanosecond, 2 * time.Second, "Too many attempts; retry in 2 seconds."},
		{36 * time.Second, 36 * time.Second, "Too many attempts; retry in 36 seconds."},
		{899*time.Second + 500*time.Millisecond, 900 * time.Second, "Too many attempts; retry in 900 seconds."},
	}
	for _, tt := range tests {
		e := latchkey.Throttled(tt.wait, throttle.LimitIP)
		if e.Kind != latchkey.KindThrottled || e.Code != "throttled" {
			t.Errorf("Throttled(%v): kind %v, code %q; want throttled", tt.wait, e.Kind, e.Code)
		}
		if e.RetryAfter != tt.want || e.Detail != tt.detail {
			t.Errorf("Throttled(%v) = %v, %q; want %v, %q", tt.wait, e.RetryAfter, e.Detail, tt.want, tt.detail)
		}
		if !errors.Is(e, latchkey.ErrThrottled) {
			t.Errorf("Throttled(%v) is not ErrThrottled", tt.wait)
		}
		if latchkey.ThrottleReason(e) != "ip_rate" {
			t.Errorf("Reason(Throttled(%v)) = %q, want ip_rate", tt.wait, latchkey.ThrottleReason(e))
		}
		if strings.Contains(e.Detail, "ip_rate") {
			t.Errorf("Throttled(%v): the limit is in the client's detail %q", tt.wait, e.Detail)
		}
	}
	if r := latchkey.ThrottleReason(latchkey.ErrInvalidCredentials); r != "" {
		t.Errorf("Reason(invalid credentials) = %q, want none", r)
	}
	if r := latchkey.ThrottleReason(nil); r != "" {
		t.Errorf("Reason(nil) = %q, want none", r)
	}
}

func TestBackoffDelay(t *testing.T) {
	b := latchkey.Backoff{After: 5, Base: time.Second, Max: 15 * time.Minute}
	tests := []struct {
		b     latchkey.Backoff
		count int
		want  time.Duration
	}{
		{b, 0, 0},
		{b, 4, 0},
		{b, 5, time.Second},
		{b, 6, 2 * time.Second},
		{b, 14, 512 * time.Second},
		{b, 15, 15 * time.Minute},
		{b, 1 << 30, 15 * time.Minute},
		{latchkey.Backoff{}, 100, 0},
		{latchkey.Backoff{After: 1, Base: time.Second}, 10, time.Second}, // Max below Base: Base
		{latchkey.Backoff{After: 1, Base: 3 * time.Second, Max: 10 * time.Second}, 3, 10 * time.Second},
		{latchkey.Backoff{After: 1, Base: time.Hour, Max: 1<<63 - 1}, 100, 1<<63 - 1},
	}
	for _, tt := range tests {
		if got := tt.b.Delay(tt.count); got != tt.want {
			t.Errorf("%+v.Delay(%d) = %v, want %v", tt.b, tt.count, got, tt.want)
		}
	}
}
