package main

import (
	"bytes"
	"context"
	"encoding/json"
	"net"
	"strings"
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

// TestServeWithoutRedis starts serve with a Redis cache configured that is
// not there: a Redis down when a node starts is an outage like any other.
// The node starts, logs in and checks tokens from the database, refuses a
// revoked token, and writes nothing to its log but its own JSON lines
// (go-redis's messages, a line per failed dial, go to slog at debug).
func TestServeWithoutRedis(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	nobody := ln.Addr().String()
	ln.Close()
	env := append(dbEnv(t), throttleEnv...)
	addUser(t, env, "alice")
	p := serve(t, append(env, "LATCHKEY_CACHE_URL=redis://"+nobody+"/0"))
	tok := p.login(t, "alice", e2ePassword)
	for i, step := range []struct {
		method, path string
		want         int
	}{{"GET", "/v1/me", 200}, {"GET", "/v1/me", 200}, {"POST", "/v1/logout", 204}, {"GET", "/v1/me", 401}} {
		if code, _ := p.call(t, step.method, step.path, tok, nil); code != step.want {
			t.Fatalf("step %d, %s %s with Redis down: %d, want %d", i, step.method, step.path, code, step.want)
		}
	}
	for _, line := range strings.Split(strings.TrimSpace(p.output()), "\n") {
		if !json.Valid([]byte(line)) {
			t.Errorf("a log line that is not latchkey's JSON: %s", line)
		}
	}
}
