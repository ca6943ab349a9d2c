package main

import (
	"bytes"
	"context"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/latchkeyhq/latchkey"
	"github.com/latchkeyhq/latchkey/cache/redis"
	"github.com/latchkeyhq/latchkey/cache/redis/redistest"
)

// TestUserCommandPublishes checks that `latchkey user disable`, run with a
// Redis cache configured, announces the revoked sessions on the
// invalidation channel itself, so that nodes drop them at once rather than
// at their next read of the change feed. No server runs on that Redis:
// only the command can have published.
func TestUserCommandPublishes(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary, on Redis")
	}
	redistest.URL(t) // the shared Redis's variable enables Redis tests
	srv := redistest.StartServer(t)
	db := dbEnv(t)
	addUser(t, db, "alice")
	p := serve(t, db) // the in-process cache: it never talks to srv
	tok := p.login(t, "alice", e2ePassword)
	want := latchkey.Token(tok).Digest()

	opt, err := goredis.ParseURL(srv.URL())
	if err != nil {
		t.Fatal(err)
	}
	rc := goredis.NewClient(opt)
	defer rc.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	sub := rc.Subscribe(ctx, redis.DefaultPrefix+"invalidate")
	defer sub.Close()
	if _, err := sub.Receive(ctx); err != nil { // the subscription's confirmation
		t.Fatal(err)
	}

	env := append(db, "LATCHKEY_CACHE_URL="+srv.URL())
	if out, err := cli(t, env, "", "user", "disable", "alice"); err != nil {
		t.Fatalf("user disable: %v\n%s", err, out)
	}
	for {
		m, err := sub.ReceiveMessage(ctx)
		if err != nil {
			t.Fatalf("no invalidation naming alice's session was published: %v", err)
		}
		if bytes.Contains([]byte(m.Payload), want[:]) {
			break
		}
	}
	// The server, on its own cache, learns of it from the change feed.
	p.refusedWithin(t, tok, 5*time.Second)
}
