package main

import (
	"testing"
	"time"
)

func TestParseSince(t *testing.T) {
	now := time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
	for _, tc := range []struct {
		in   string
		want time.Time
		ok   bool
	}{
		{"24h", now.Add(-24 * time.Hour), true},
		{" 1s ", now.Add(-time.Second), true},
		{"87600h", now.Add(-87600 * time.Hour), true},
		{"2029-12-31T00:00:00Z", time.Date(2029, 12, 31, 0, 0, 0, 0, time.UTC), true},
		{"2029-12-31T01:00:00+01:00", time.Date(2029, 12, 31, 0, 0, 0, 0, time.UTC), true},
		{"", time.Time{}, false},
		{"0", time.Time{}, false},
		{"-1h", time.Time{}, false},
		{"500ms", time.Time{}, false},
		{"87601h", time.Time{}, false},
		{"9999999999h", time.Time{}, false},
		{"yesterday", time.Time{}, false},
		{"2029-12-31", time.Time{}, false},
	} {
		t.Run(tc.in, func(t *testing.T) {
			got, err := parseSince(tc.in, now)
			if (err == nil) != tc.ok || !got.Equal(tc.want) {
				t.Fatalf("parseSince(%q) = %v, %v; want %v (ok %t)", tc.in, got, err, tc.want, tc.ok)
			}
		})
	}
}

func FuzzParseSince(f *testing.F) {
	for _, s := range []string{"24h", "1s", "87600h", "2029-12-31T00:00:00Z", "0", "-1h", "yesterday", "1e9h"} {
		f.Add(s)
	}
	now := time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
	f.Fuzz(func(t *testing.T, s string) {
		got, err := parseSince(s, now)
		if err != nil {
			if !got.IsZero() {
				t.Fatalf("parseSince(%q): a time with an error", s)
			}
			return
		}
		if got.Location() != time.UTC {
			t.Fatalf("parseSince(%q) = %v, not UTC", s, got)
		}
	})
}
