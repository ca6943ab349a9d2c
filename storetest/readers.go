package storetest

import (
	"testing"
	"time"

	"github.com/latchkeyhq/latchkey"
)

// The conformance cases of the reader records: the processes a
// revocation waits for.

var readerTests = []test{
	{"CountsOthersLive", func(t *testing.T, s latchkey.Store) {
		ctx := t.Context()
		count := func(id string, now time.Time) int {
			t.Helper()
			n, err := s.OtherReaders(ctx, id, now)
			if err != nil {
				t.Fatalf("OtherReaders: %v", err)
			}
			return n
		}
		if n := count("a", base); n != 0 {
			t.Fatalf("OtherReaders of an empty store = %d, want 0", n)
		}
		for id, until := range map[string]time.Time{"a": base.Add(10 * time.Second), "b": base.Add(5 * time.Second), "c": base.Add(-time.Second)} {
			if err := s.RenewReader(ctx, id, until); err != nil {
				t.Fatalf("RenewReader(%s): %v", id, err)
			}
		}
		for _, tt := range []struct {
			id   string
			now  time.Time
			want int
		}{
			{"a", base, 1},                      // b; c expired, a is itself
			{"b", base, 1},                      // a
			{"c", base, 2},                      // a and b
			{"x", base, 2},                      // an unknown id counts every live one
			{"x", base.Add(5 * time.Second), 1}, // b expired at that instant
			{"x", base.Add(time.Minute), 0},
		} {
			if n := count(tt.id, tt.now); n != tt.want {
				t.Errorf("OtherReaders(%s, base%+v) = %d, want %d", tt.id, tt.now.Sub(base), n, tt.want)
			}
		}
		// A renewal replaces the record: later or earlier.
		if err := s.RenewReader(ctx, "b", base.Add(time.Hour)); err != nil {
			t.Fatal(err)
		}
		if n := count("x", base.Add(time.Minute)); n != 1 {
			t.Errorf("after b's renewal: OtherReaders = %d, want 1", n)
		}
		if err := s.RenewReader(ctx, "b", base.Add(time.Second)); err != nil {
			t.Fatal(err)
		}
		if n := count("x", base.Add(time.Minute)); n != 0 {
			t.Errorf("after b's shorter renewal: OtherReaders = %d, want 0", n)
		}
		// A dropped reader is gone; dropping an unknown one is no error.
		if err := s.DropReader(ctx, "a"); err != nil {
			t.Fatalf("DropReader: %v", err)
		}
		if err := s.DropReader(ctx, "nobody"); err != nil {
			t.Fatalf("DropReader of an unknown id: %v", err)
		}
		if n := count("x", base); n != 1 {
			t.Errorf("after dropping a: OtherReaders = %d, want 1 (b)", n)
		}
	}},
	{"NoChangeEntry", func(t *testing.T, s latchkey.Store) {
		// Reader records are bookkeeping, not data a cache holds.
		if err := s.RenewReader(t.Context(), "a", base.Add(time.Hour)); err != nil {
			t.Fatal(err)
		}
		if err := s.DropReader(t.Context(), "a"); err != nil {
			t.Fatal(err)
		}
		if last := mustLastChange(t, s); last != 0 {
			t.Errorf("LastChange = %d after reader records, want 0", last)
		}
	}},
}
