package redis

import (
	"context"
	"encoding/binary"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/latchkeyhq/latchkey"
	"github.com/latchkeyhq/latchkey/cache/memory"
	"github.com/latchkeyhq/latchkey/cache/redis/redistest"
)

// A rolling upgrade runs nodes of two versions on one Redis. These tests
// hold the invalidation messages of this version against the first
// version's decoder, kept below exactly as it shipped (cache/redis/codec.go
// before invalidations became one latchkey.Invalidation), with what its
// subscriber (cache/tiered) did with a message: drop what it names, or,
// when it cannot parse it, purge its whole local layer.

// v1Invalidation is the first version's message contents.
type v1Invalidation struct {
	All      bool // Purge: drop everything
	Sessions []latchkey.Digest
	Users    []int64
}

// v1Encode is the first version's encodeInvalidation.
func v1Encode(inv v1Invalidation) string {
	switch {
	case inv.All:
		return string(rune('a'))
	case len(inv.Sessions) > 0:
		b := make([]byte, 0, 1+len(inv.Sessions)*len(latchkey.Digest{}))
		b = append(b, 's')
		for _, d := range inv.Sessions {
			b = append(b, d[:]...)
		}
		return string(b)
	default:
		b := make([]byte, 0, 1+8*len(inv.Users))
		b = append(b, 'u')
		for _, id := range inv.Users {
			b = binary.BigEndian.AppendUint64(b, uint64(id))
		}
		return string(b)
	}
}

// v1Parse is the first version's ParseInvalidation.
func v1Parse(msg string) (v1Invalidation, error) {
	if msg == "" {
		return v1Invalidation{}, errors.New("redis: empty invalidation")
	}
	body := msg[1:]
	switch msg[0] {
	case 'a':
		if body != "" {
			break
		}
		return v1Invalidation{All: true}, nil
	case 's':
		const size = len(latchkey.Digest{})
		if body == "" || len(body)%size != 0 {
			break
		}
		ds := make([]latchkey.Digest, len(body)/size)
		for i := range ds {
			copy(ds[i][:], body[i*size:])
		}
		return v1Invalidation{Sessions: ds}, nil
	case 'u':
		if body == "" || len(body)%8 != 0 {
			break
		}
		ids := make([]int64, len(body)/8)
		for i := range ids {
			ids[i] = int64(binary.BigEndian.Uint64([]byte(body[i*8 : i*8+8])))
		}
		return v1Invalidation{Users: ids}, nil
	}
	return v1Invalidation{}, errors.New("redis: malformed invalidation")
}

// v1Apply is what a first-version node's subscriber did with a message on
// its local layer.
func v1Apply(local *memory.Cache, msg string) {
	ctx := context.Background()
	inv, err := v1Parse(msg)
	switch {
	case err != nil: // it may have named anything
		local.Invalidate(ctx, latchkey.Invalidation{All: true})
	case inv.All:
		local.Invalidate(ctx, latchkey.Invalidation{All: true})
	case len(inv.Sessions) > 0:
		local.Invalidate(ctx, latchkey.Invalidation{Sessions: inv.Sessions})
	default:
		for _, id := range inv.Users {
			local.Invalidate(ctx, latchkey.Invalidation{Users: []int64{id}})
		}
	}
}

var (
	upgradeA = latchkey.Digest{1}
	upgradeB = latchkey.Digest{2}
)

// TestWireBothWays: what the first version can say, this one says alike,
// and reads alike; what it cannot say (sessions and users at once) is a
// kind it does not parse.
func TestWireBothWays(t *testing.T) {
	for _, tt := range []struct {
		name string
		inv  latchkey.Invalidation
		v1   *v1Invalidation // nil: the first version cannot parse it
	}{
		{"sessions", latchkey.Invalidation{Sessions: []latchkey.Digest{upgradeA, upgradeB}}, &v1Invalidation{Sessions: []latchkey.Digest{upgradeA, upgradeB}}},
		{"users", latchkey.Invalidation{Users: []int64{3, 4}}, &v1Invalidation{Users: []int64{3, 4}}},
		{"all", latchkey.Invalidation{All: true}, &v1Invalidation{All: true}},
		{"sessions and users", latchkey.Invalidation{Sessions: []latchkey.Digest{upgradeA}, Users: []int64{3}}, nil},
	} {
		t.Run(tt.name, func(t *testing.T) {
			msg := encodeInvalidation(tt.inv)
			old, err := v1Parse(msg)
			if tt.v1 == nil {
				if err == nil {
					t.Fatalf("the first version parses %q as %+v: it would drop only part of it", msg, old)
				}
				return
			}
			if err != nil || old.All != tt.v1.All || !slices.Equal(old.Sessions, tt.v1.Sessions) || !slices.Equal(old.Users, tt.v1.Users) {
				t.Fatalf("the first version reads %+v, %v; want %+v", old, err, *tt.v1)
			}
			// And a first-version node's message reads the same here.
			got, err := parseInvalidation(v1Encode(*tt.v1))
			if err != nil || got.All != tt.inv.All || !slices.Equal(got.Sessions, tt.inv.Sessions) || !slices.Equal(got.Users, tt.inv.Users) {
				t.Fatalf("this version reads the first's %q as %+v, %v; want %+v", v1Encode(*tt.v1), got, err, tt.inv)
			}
		})
	}
}

// TestRollingUpgrade runs a first-version node's subscriber beside a node
// of this version on a real Redis: a logout reaches its local layer
// exactly; a password change, one message of a kind it does not know,
// purges its local layer whole rather than leave the revoked entries.
func TestRollingUpgrade(t *testing.T) {
	url := redistest.URL(t)
	ctx := t.Context()
	client, err := NewClient(url)
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	c := New(client, Options{Prefix: redistest.Prefix(t, url)})

	// The old node: a local layer and a subscription on the channel.
	local := memory.New(memory.Options{})
	ps := redistest.Client(t, url).Subscribe(ctx, c.Channel())
	defer ps.Close()
	if _, err := ps.Receive(ctx); err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	fillOld := func() {
		for i, d := range []latchkey.Digest{upgradeA, upgradeB} {
			local.PutSession(ctx, d, latchkey.CachedSession{SessionID: "s", UserID: int64(i + 1), CreatedAt: now, LastUsedAt: now, ExpiresAt: now.Add(time.Hour)})
			local.PutUser(ctx, latchkey.User{ID: int64(i + 1), Username: "u", Active: true})
		}
	}
	receive := func() {
		t.Helper()
		m, err := ps.ReceiveMessage(ctx)
		if err != nil {
			t.Fatal(err)
		}
		v1Apply(local, m.Payload)
	}
	has := func(d latchkey.Digest, id int64) (bool, bool) {
		_, s, _ := local.Session(ctx, d)
		_, u, _ := local.User(ctx, id)
		return s, u
	}

	fillOld()
	if err := c.Invalidate(ctx, latchkey.Invalidation{Sessions: []latchkey.Digest{upgradeA}}); err != nil {
		t.Fatal(err)
	}
	receive()
	if s, _ := has(upgradeA, 1); s {
		t.Error("logout: the old node still holds the session")
	}
	if s, u := has(upgradeB, 2); !s || !u {
		t.Error("logout: the old node dropped more than the session")
	}

	fillOld()
	if err := c.Invalidate(ctx, latchkey.Invalidation{Sessions: []latchkey.Digest{upgradeA}, Users: []int64{1}}); err != nil {
		t.Fatal(err)
	}
	receive()
	for i, d := range []latchkey.Digest{upgradeA, upgradeB} {
		if s, u := has(d, int64(i+1)); s || u {
			t.Errorf("password change: the old node kept entry %d (session %v, user %v); want its local layer purged", i, s, u)
		}
	}
}
