package memory

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/latchkeyhq/latchkey"
)

// TestArenaChurn replaces, deletes and re-adds entries of a one-shard
// cache many times over, so that its arenas fill and compact again and
// again: every entry reads back as last written, strings handed out before
// a compaction still read as they did, and the arenas stay within a few
// times the live text.
func TestArenaChurn(t *testing.T) {
	ctx := context.Background()
	now := time.Unix(1e9, 0)
	c := New(Options{MaxEntries: 64, Now: func() time.Time { return now }})
	if len(c.sessions) != 1 || len(c.users) != 1 {
		t.Fatalf("%d session and %d user shards, want 1 each", len(c.sessions), len(c.users))
	}
	digest := func(i int) latchkey.Digest { return latchkey.Digest{byte(i), byte(i >> 8), 1} }
	want := map[int]string{} // live entries: i → the id and the user's name
	var held []struct{ got, want string }
	for round := range 200 {
		for i := range 64 {
			if (i+round)%7 == 0 {
				c.Invalidate(ctx, latchkey.Invalidation{Sessions: []latchkey.Digest{digest(i)}})
				c.Invalidate(ctx, latchkey.Invalidation{Users: []int64{int64(i + 1)}})
				delete(want, i)
				continue
			}
			s := fmt.Sprintf("r%d-i%d-%s", round, i, strings.Repeat("x", (i*round)%40))
			c.PutSession(ctx, digest(i), latchkey.CachedSession{SessionID: s, UserID: int64(i + 1), ExpiresAt: now.Add(time.Hour)})
			c.PutUser(ctx, latchkey.User{ID: int64(i + 1), Username: s, Email: s + "@x", FirstName: "F" + s, LastName: "L"})
			want[i] = s
		}
		for i, s := range want {
			cs, ok, _ := c.Session(ctx, digest(i))
			u, uok, _ := c.User(ctx, int64(i+1))
			if !ok || !uok || cs.SessionID != s || u.Username != s || u.Email != s+"@x" || u.FirstName != "F"+s || u.LastName != "L" {
				t.Fatalf("round %d, entry %d: session %q (%t), user %+v (%t); want %q", round, i, cs.SessionID, ok, u, uok, s)
			}
			if round%50 == 0 {
				held = append(held, struct{ got, want string }{cs.SessionID, strings.Clone(s)})
			}
		}
	}
	for _, h := range held {
		if h.got != h.want {
			t.Fatalf("a session id handed out earlier now reads %q, was %q", h.got, h.want)
		}
	}
	live := 0
	for _, s := range want {
		live += len(s)
	}
	if n := cap(c.sessions[0].a.buf); n > 8*live+minArena {
		t.Errorf("session arena of %d bytes for %d live bytes", n, live)
	}
}

// TestTextTooLong: an entry with more text than maxText is not cached, and
// drops the entry it would have replaced.
func TestTextTooLong(t *testing.T) {
	ctx := context.Background()
	c := New(Options{})
	long := strings.Repeat("a", maxText+1)
	d := latchkey.Digest{1}
	c.PutSession(ctx, d, latchkey.CachedSession{SessionID: "short", ExpiresAt: time.Now().Add(time.Hour)})
	c.PutSession(ctx, d, latchkey.CachedSession{SessionID: long, ExpiresAt: time.Now().Add(time.Hour)})
	if _, ok, _ := c.Session(ctx, d); ok {
		t.Error("a session with a too long id is cached")
	}
	c.PutUser(ctx, latchkey.User{ID: 1, Username: "alice"})
	c.PutUser(ctx, latchkey.User{ID: 1, Username: "alice", Email: long})
	if _, ok, _ := c.User(ctx, 1); ok {
		t.Error("a user with too much text is cached")
	}
}
