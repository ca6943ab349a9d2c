package api

import (
	"net/url"
	"testing"

	"github.com/latchkeyhq/latchkey"
)

func TestEventsQuery(t *testing.T) {
	for _, tc := range []struct {
		query        string
		before       int64
		limit        int
		invalidField string
	}{
		{"", 0, defaultEventPage, ""},
		{"before=42", 42, defaultEventPage, ""},
		{"limit=1", 0, 1, ""},
		{"limit=200&before=9223372036854775807", 9223372036854775807, 200, ""},
		{"other=x", 0, defaultEventPage, ""},
		{"before=", 0, 0, "before"},
		{"before=0", 0, 0, "before"},
		{"before=-1", 0, 0, "before"},
		{"before=+1", 0, 0, "before"},
		{"before=1e3", 0, 0, "before"},
		{"before=%201", 0, 0, "before"},
		{"before=9223372036854775808", 0, 0, "before"},
		{"before=99999999999999999999", 0, 0, "before"},
		{"before=1&before=2", 0, 0, "before"},
		{"limit=0", 0, 0, "limit"},
		{"limit=201", 0, 0, "limit"},
		{"limit=abc", 0, 0, "limit"},
		{"limit=1&limit=1", 0, 0, "limit"},
	} {
		t.Run(tc.query, func(t *testing.T) {
			q, err := url.ParseQuery(tc.query)
			if err != nil {
				t.Fatal(err)
			}
			before, limit, err := eventsQuery(q)
			if tc.invalidField != "" {
				e := latchkey.AsError(err)
				if e.Kind != latchkey.KindInvalid || len(e.Fields[tc.invalidField]) == 0 {
					t.Fatalf("eventsQuery(%q) = %d, %d, %v; want invalid %s", tc.query, before, limit, err, tc.invalidField)
				}
				return
			}
			if err != nil || before != tc.before || limit != tc.limit {
				t.Fatalf("eventsQuery(%q) = %d, %d, %v; want %d, %d", tc.query, before, limit, err, tc.before, tc.limit)
			}
		})
	}
}

func FuzzEventsQuery(f *testing.F) {
	for _, s := range []string{"", "before=42", "limit=200&before=9223372036854775807", "before=-1", "before=1&before=2", "limit=201", "before=%00", "limit=1e3"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		q, err := url.ParseQuery(raw)
		if err != nil {
			return
		}
		before, limit, err := eventsQuery(q)
		if err != nil {
			if k := latchkey.ErrorKind(err); k != latchkey.KindInvalid {
				t.Fatalf("eventsQuery(%q): kind %v, want invalid", raw, k)
			}
			return
		}
		if before < 0 || limit < 1 || limit > latchkey.MaxEventPage {
			t.Fatalf("eventsQuery(%q) = %d, %d: out of bounds", raw, before, limit)
		}
	})
}
