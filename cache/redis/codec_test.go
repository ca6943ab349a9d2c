package redis

import (
	"bytes"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/latchkeyhq/latchkey"
)

var codecTimes = []time.Time{
	{},
	time.Date(1, 1, 1, 0, 0, 0, 1000, time.UTC),
	time.Date(1969, 12, 31, 23, 59, 59, 999999000, time.UTC),
	time.Unix(0, 0).UTC(),
	time.Date(2025, 6, 1, 12, 0, 0, 123456000, time.UTC),
	time.Date(2025, 6, 1, 12, 0, 0, 123457000, time.UTC),
	time.Date(2262, 1, 1, 0, 0, 0, 0, time.UTC),
	time.Date(9999, 12, 31, 23, 59, 59, 999999000, time.UTC),
}

// TestTimeOrder checks what the touch script relies on: the encoded times
// sort bytewise as the times do.
func TestTimeOrder(t *testing.T) {
	for _, a := range codecTimes {
		for _, b := range codecTimes {
			got := bytes.Compare(putTime(nil, a), putTime(nil, b))
			if want := a.Compare(b); got != want {
				t.Errorf("Compare(enc(%v), enc(%v)) = %d, want %d", a, b, got, want)
			}
			if !getTime(putTime(nil, a)).Equal(a) {
				t.Errorf("getTime(putTime(%v)) = %v", a, getTime(putTime(nil, a)))
			}
		}
	}
}

func TestLastUsedOffset(t *testing.T) {
	s := latchkey.CachedSession{SessionID: "x", LastUsedAt: codecTimes[4]}
	b := encodeSession(s)
	if got := b[lastUsedOffset : lastUsedOffset+8]; !bytes.Equal(got, putTime(nil, s.LastUsedAt)) {
		t.Errorf("LastUsedAt is not at offset %d (the touch script's 26..33)", lastUsedOffset)
	}
}

func TestExpiryRounding(t *testing.T) {
	at := time.Date(2025, 6, 1, 12, 0, 0, 123456789, time.UTC)
	if got, want := expireAtMillis(at), at.Truncate(time.Millisecond).UnixMilli(); got != want {
		t.Errorf("expireAtMillis = %d, want %d (down)", got, want)
	}
	if got, want := claimAtMillis(at), at.Truncate(time.Millisecond).UnixMilli()+1; got != want {
		t.Errorf("claimAtMillis = %d, want %d (up)", got, want)
	}
	whole := at.Truncate(time.Millisecond)
	if got, want := claimAtMillis(whole), whole.UnixMilli(); got != want {
		t.Errorf("claimAtMillis(whole ms) = %d, want %d", got, want)
	}
}

func TestGlobEscape(t *testing.T) {
	tests := []struct{ in, want string }{
		{"latchkey:", "latchkey:"},
		{"a*b?c[d]e", `a\*b\?c\[d\]e`},
		{`x\y-z^`, `x\\y\-z\^`},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			if got := globEscape(tt.in); got != tt.want {
				t.Errorf("globEscape(%q) = %q, want %q", tt.in, got, tt.want)
			}
		})
	}
}

func FuzzSessionCodec(f *testing.F) {
	for i, tm := range codecTimes {
		f.Add("q1w2e3r4t5y6u7i8o9p0aA", int64(i), tm.UnixMicro(), tm.UnixMicro()+1, tm.UnixMicro()-1)
	}
	f.Add("", int64(math.MaxInt64), int64(math.MinInt64), int64(math.MaxInt64), int64(0))
	f.Fuzz(func(t *testing.T, id string, user, created, expires, used int64) {
		s := latchkey.CachedSession{
			SessionID:  id,
			UserID:     user,
			CreatedAt:  time.UnixMicro(created).UTC(),
			ExpiresAt:  time.UnixMicro(expires).UTC(),
			LastUsedAt: time.UnixMicro(used).UTC(),
		}
		b := encodeSession(s)
		got, err := decodeSession(b)
		if err != nil {
			t.Fatalf("decode(encode(%+v)): %v", s, err)
		}
		if got != s {
			t.Fatalf("decode(encode(%+v)) = %+v", s, got)
		}
		// Any prefix or corruption decodes to a value or an error, never a
		// panic.
		for i := range b {
			decodeSession(b[:i])
		}
		decodeSession([]byte(id))
	})
}

func FuzzUserCodec(f *testing.F) {
	f.Add(int64(1), "alice", "alice@example.com", "Alice", "Liddell", true, int64(0), int64(1))
	f.Add(int64(-1), "", "", "", "", false, int64(math.MinInt64), int64(math.MaxInt64))
	f.Add(int64(4), "zoë.ñandú", "zoë@exämple.org", "Zoë", strings.Repeat("ф", 150), true, int64(1), int64(2))
	f.Fuzz(func(t *testing.T, id int64, name, email, first, last string, active bool, login, joined int64) {
		u := latchkey.User{
			ID:         id,
			Username:   name,
			Email:      email,
			FirstName:  first,
			LastName:   last,
			Active:     active,
			LastLogin:  time.UnixMicro(login).UTC(),
			DateJoined: time.UnixMicro(joined).UTC(),
		}
		b := encodeUser(u)
		got, err := decodeUser(id, b)
		if err != nil {
			t.Fatalf("decode(encode(%+v)): %v", u, err)
		}
		if got != u {
			t.Fatalf("decode(encode(%+v)) = %+v", u, got)
		}
		if bytes.Contains(b, []byte("$argon2")) {
			t.Fatal("record carries a hash")
		}
		for i := range b {
			if _, err := decodeUser(id, b[:i]); err == nil {
				t.Fatalf("truncated record (%d of %d bytes) decoded", i, len(b))
			}
		}
		decodeUser(id, []byte(name))
	})
}

func FuzzParseInvalidation(f *testing.F) {
	d := latchkey.Digest{1, 2, 3}
	f.Add(encodeInvalidation(latchkey.Invalidation{All: true}))
	f.Add(encodeInvalidation(latchkey.Invalidation{Sessions: []latchkey.Digest{d, {}}}))
	f.Add(encodeInvalidation(latchkey.Invalidation{Users: []int64{1, math.MaxInt64, -1}}))
	f.Add(encodeInvalidation(latchkey.Invalidation{Sessions: []latchkey.Digest{d}, Users: []int64{7, 8}}))
	f.Add("")
	f.Add("s")
	f.Add("b\x00\x00\x00\x01")
	f.Add("x")
	f.Fuzz(func(t *testing.T, msg string) {
		inv, err := parseInvalidation(msg)
		if err != nil {
			return
		}
		if inv.Empty() || inv.Replay || inv.All && (len(inv.Sessions) > 0 || len(inv.Users) > 0) {
			t.Fatalf("parseInvalidation(%q) = %+v: want All alone, or sessions and users", msg, inv)
		}
		if got := encodeInvalidation(inv); got != msg {
			t.Fatalf("encode(parse(%q)) = %q", msg, got)
		}
	})
}
