package redis_test

import (
	"strings"
	"testing"

	goredis "github.com/redis/go-redis/v9"

	"github.com/latchkeyhq/latchkey/cache/redis"
	"github.com/latchkeyhq/latchkey/cache/redis/redistest"
	"github.com/latchkeyhq/latchkey/tlstest"
)

// TestNewClientTLS: a rediss:// URL makes a client that speaks TLS and
// verifies the server against the system's roots (which SSL_CERT_FILE
// extends, as the end-to-end test shows): a server of a CA the system
// does not trust is refused.
func TestNewClientTLS(t *testing.T) {
	redistest.URL(t) // what enables the Redis tests
	srv := redistest.StartTLSServer(t, tlstest.NewCA(t))
	if !strings.HasPrefix(srv.URL(), "rediss://127.0.0.1:") {
		t.Fatalf("URL %s", srv.URL())
	}
	// A generous dial timeout: the refusal, not a slow handshake on a
	// loaded machine, is what this test waits for.
	client, err := redis.NewClient(srv.URL() + "?dial_timeout=10s")
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	o := client.(*goredis.Client).Options().TLSConfig
	if o == nil || o.InsecureSkipVerify || o.ServerName != "127.0.0.1" || o.RootCAs != nil {
		t.Fatalf("TLS config %+v: want the server's name verified against the system's roots", o)
	}
	err = client.Ping(t.Context()).Err()
	if err == nil || !strings.Contains(err.Error(), "certificate signed by unknown authority") {
		t.Fatalf("PING a server of an unknown CA: %v", err)
	}
}
