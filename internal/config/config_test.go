package config

import (
	"strings"
	"testing"
	"time"
)

func envOf(kv ...string) func(string) string {
	m := map[string]string{}
	for i := 0; i < len(kv); i += 2 {
		m[kv[i]] = kv[i+1]
	}
	return func(k string) string { return m[k] }
}

func TestRead(t *testing.T) {
	ttl := Setting{Flag: "token-ttl", Env: "LATCHKEY_TOKEN_TTL", Default: "24h",
		Aliases: []string{"TOKEN_EXPIRY_IN_SECONDS"}, Alias: SecondsBetween(MinTokenTTL, MaxTokenTTL)}
	for _, tc := range []struct {
		name    string
		env     []string
		want    time.Duration
		wantErr string
	}{
		{"default", nil, 24 * time.Hour, ""},
		{"variable", []string{"LATCHKEY_TOKEN_TTL", "1h"}, time.Hour, ""},
		{"alias", []string{"TOKEN_EXPIRY_IN_SECONDS", "60"}, time.Minute, ""},
		{"variable over alias", []string{"LATCHKEY_TOKEN_TTL", "2h", "TOKEN_EXPIRY_IN_SECONDS", "60"}, 2 * time.Hour, ""},
		{"out of range", []string{"LATCHKEY_TOKEN_TTL", "0"}, 0, "token-ttl (from LATCHKEY_TOKEN_TTL): must be a Go duration from 1s to 87600h (10 years)"},
		{"bad alias", []string{"TOKEN_EXPIRY_IN_SECONDS", "x"}, 0, "token-ttl (from TOKEN_EXPIRY_IN_SECONDS): must be a whole number of seconds from 1 to 315360000 (10 years)"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var d time.Duration
			err := ttl.Read(envOf(tc.env...), DurationIn(&d, MinTokenTTL, MaxTokenTTL))
			if tc.wantErr != "" {
				if err == nil || err.Error() != tc.wantErr {
					t.Fatalf("err = %v, want %q", err, tc.wantErr)
				}
				return
			}
			if err != nil || d != tc.want {
				t.Fatalf("%v, %v; want %v", d, err, tc.want)
			}
		})
	}
}

// TestFill holds a program's values to the rules the environment's are
// held to, and gives the defaults to what it left unset.
func TestFill(t *testing.T) {
	var (
		db, cache     string
		idle, stale   time.Duration
		sync          = 20 * time.Millisecond
		entries       = 10
		stale2        = 2 * time.Hour
		bad           = -1
		dbSet, cache2 = "sqlite:x.db", "redis://c:6379/0"
	)
	for _, v := range []Var{DatabaseURL(&db), CacheURL(&cache), IdleTimeout(&idle), CacheMaxStaleness(&stale), SyncInterval(&sync), CacheMaxEntries(&entries), DatabaseURL(&dbSet), CacheURL(&cache2)} {
		if err := v.Fill(); err != nil {
			t.Fatalf("%s: %v", v.Flag, err)
		}
	}
	if db != "sqlite:latchkey.db" || cache != "memory" || idle != 0 || stale != 250*time.Millisecond || sync != 20*time.Millisecond || entries != 10 || dbSet != "sqlite:x.db" || cache2 != "redis://c:6379/0" {
		t.Fatalf("filled: %q %q %v %v %v %d %q %q", db, cache, idle, stale, sync, entries, dbSet, cache2)
	}
	if err := CacheMaxStaleness(&stale2).Fill(); err == nil || !strings.Contains(err.Error(), "cache-max-staleness 2h0m0s: must be a Go duration from 10ms to 1h") {
		t.Fatalf("2h: %v", err)
	}
	if err := CheckCache(bad, time.Second, time.Second); err == nil || err.Error() != "cache-max-entries must be at least 1\nsync-interval must be under cache-max-staleness" {
		t.Fatalf("CheckCache: %v", err)
	}
}
