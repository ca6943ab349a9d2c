package main

import (
	"io"
	"net"
	"strings"
	"testing"
	"time"
)

// TestEndToEndSlowHeader holds a connection open with half a request
// header: the server drops it once its 5 s header timeout is past (kept by
// the listener's sweeper, not a timer per request), and not before.
func TestEndToEndSlowHeader(t *testing.T) {
	t.Parallel()
	p := serve(t, dbEnv(t))
	c, err := net.Dial("tcp", strings.TrimPrefix(p.url, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	// A whole request first: the connection is served, and kept alive.
	if _, err := io.WriteString(c, "GET /healthz HTTP/1.1\r\nHost: a\r\n\r\nGET /healthz HTTP/1.1\r\nHost"); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	c.SetReadDeadline(start.Add(60 * time.Second))
	got, err := io.ReadAll(c)
	if err != nil {
		t.Fatalf("after %v: %v; the server kept a connection with half a header", time.Since(start), err)
	}
	if d := time.Since(start); d < 5*time.Second {
		t.Fatalf("dropped after %v, before the 5 s header timeout", d)
	}
	if n := strings.Count(string(got), "HTTP/1.1 200 OK"); n != 1 {
		t.Fatalf("%d answers of 200, want 1:\n%s", n, got)
	}
}
