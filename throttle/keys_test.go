package throttle

import (
	"net/netip"
	"strings"
	"testing"
)

func TestUserKey(t *testing.T) {
	same := [][]string{
		{"alice", "Alice", "ALICE", "aLiCe"},
		{"kate", "\u212Aate"}, // KELVIN SIGN
		{"σοφία", "ΣΟΦΊΑ", "Σοφία"},
	}
	for _, group := range same {
		for _, u := range group[1:] {
			if userKey(u) != userKey(group[0]) {
				t.Errorf("userKey(%q) != userKey(%q)", u, group[0])
			}
		}
	}
	differ := []string{"alice", "alice ", "alicé", "bob", "", "\xff", "\xfe", "ali\x00ce"}
	seen := map[string]string{}
	for _, u := range differ {
		k := userKey(u)
		if prev, ok := seen[k]; ok {
			t.Errorf("userKey(%q) == userKey(%q)", u, prev)
		}
		seen[k] = u
	}
	// Every key has the same size, however long the username.
	for _, u := range []string{"", "a", strings.Repeat("é", 10_000)} {
		if k := userKey(u); len(k) != 22 || strings.ContainsAny(k, ":|") {
			t.Errorf("userKey(%d bytes) = %q, want 22 characters without separators", len(u), k)
		}
	}
}

func TestAddrKey(t *testing.T) {
	l := &Limiter{cfg: Config{}.withDefaults()}
	tests := []struct{ in, want string }{
		{"192.0.2.1", "192.0.2.1"},
		{"::ffff:192.0.2.1", "192.0.2.1"},
		{"2001:db8:1:2:3:4:5:6", "2001:db8:1:2::/64"},
		{"fe80::1%eth0", "fe80::/64"},
		{"::1", "::/64"},
	}
	for _, tt := range tests {
		if got := l.addrKey(netip.MustParseAddr(tt.in)); got != tt.want {
			t.Errorf("addrKey(%s) = %q, want %q", tt.in, got, tt.want)
		}
	}
	if got := l.addrKey(netip.Addr{}); got != "none" {
		t.Errorf("addrKey(invalid) = %q, want none", got)
	}
	l.cfg.IPv6Prefix = 128
	if got := l.addrKey(netip.MustParseAddr("2001:db8::1")); got != "2001:db8::1" {
		t.Errorf("addrKey with prefix 128 = %q, want the address", got)
	}
}
