package api

import (
	"net/http"
	"net/http/httptest"
	"net/netip"
	"slices"
	"strings"
	"testing"
)

// testTrusted is the proxies the client address tests trust.
var testTrusted = []netip.Prefix{
	netip.MustParsePrefix("10.0.0.0/8"),
	netip.MustParsePrefix("2001:db8:ffff::/48"),
	netip.MustParsePrefix("fe80::/10"),
	netip.MustParsePrefix("127.0.0.1/32"),
}

type clientIPCase struct {
	name   string
	remote string
	xff    []string // X-Forwarded-For lines
	fwd    []string // Forwarded lines
	want   string   // "" for an invalid address
}

var clientIPCases = []clientIPCase{
	// An untrusted peer is the client, whatever it claims.
	{name: "peer", remote: "203.0.113.5:4000", want: "203.0.113.5"},
	{name: "spoofed xff", remote: "203.0.113.5:4000", xff: []string{"1.2.3.4"}, want: "203.0.113.5"},
	{name: "spoofed forwarded", remote: "203.0.113.5:4000", fwd: []string{"for=1.2.3.4"}, want: "203.0.113.5"},
	{name: "spoofed both", remote: "203.0.113.5:4000", xff: []string{"1.2.3.4"}, fwd: []string{"for=1.2.3.4"}, want: "203.0.113.5"},
	{name: "spoofed trusted address", remote: "203.0.113.5:4000", xff: []string{"10.0.0.2"}, want: "203.0.113.5"},
	{name: "ipv6 peer", remote: "[2001:db8::5]:443", want: "2001:db8::5"},
	{name: "mapped peer", remote: "[::ffff:203.0.113.5]:443", want: "203.0.113.5"},
	{name: "peer without port", remote: "203.0.113.5", want: "203.0.113.5"},
	{name: "unix socket", remote: "@", xff: []string{"1.2.3.4"}, want: ""},
	{name: "no peer", remote: "", want: ""},

	// A trusted peer: X-Forwarded-For from the right.
	{name: "xff", remote: "10.0.0.1:5000", xff: []string{"203.0.113.5"}, want: "203.0.113.5"},
	{name: "trusted peer without headers", remote: "10.0.0.1:5000", want: "10.0.0.1"},
	{name: "xff client prepended a lie", remote: "10.0.0.1:5000", xff: []string{"1.2.3.4, 203.0.113.5"}, want: "203.0.113.5"},
	{name: "xff client prepended a trusted lie", remote: "10.0.0.1:5000", xff: []string{"10.9.9.9, 203.0.113.5"}, want: "203.0.113.5"},
	{name: "xff chain of proxies", remote: "10.0.0.1:5000", xff: []string{"1.2.3.4, 203.0.113.5, 10.0.0.3, 10.0.0.2"}, want: "203.0.113.5"},
	{name: "xff all trusted", remote: "10.0.0.1:5000", xff: []string{"10.0.0.3, 10.0.0.2"}, want: "10.0.0.3"},
	{name: "xff lines", remote: "10.0.0.1:5000", xff: []string{"1.2.3.4", "203.0.113.5", "10.0.0.2"}, want: "203.0.113.5"},
	{name: "xff no spaces", remote: "10.0.0.1:5000", xff: []string{"1.2.3.4,203.0.113.5"}, want: "203.0.113.5"},
	{name: "xff blank line", remote: "10.0.0.1:5000", xff: []string{" "}, want: "10.0.0.1"},
	{name: "xff garbage last", remote: "10.0.0.1:5000", xff: []string{"203.0.113.5, garbage"}, want: "10.0.0.1"},
	{name: "xff garbage behind proxies", remote: "10.0.0.1:5000", xff: []string{"203.0.113.5, garbage, 10.0.0.2"}, want: "10.0.0.2"},
	{name: "xff garbage first", remote: "10.0.0.1:5000", xff: []string{"garbage, 203.0.113.5"}, want: "203.0.113.5"},
	{name: "xff unknown", remote: "10.0.0.1:5000", xff: []string{"unknown"}, want: "10.0.0.1"},
	{name: "xff empty entry", remote: "10.0.0.1:5000", xff: []string{"203.0.113.5,,10.0.0.2"}, want: "10.0.0.2"},
	{name: "xff trailing comma", remote: "10.0.0.1:5000", xff: []string{"203.0.113.5,"}, want: "10.0.0.1"},
	{name: "xff with port", remote: "10.0.0.1:5000", xff: []string{"203.0.113.5:999"}, want: "203.0.113.5"},
	{name: "xff ipv6", remote: "10.0.0.1:5000", xff: []string{"2001:db8::7"}, want: "2001:db8::7"},
	{name: "xff ipv6 bracketed", remote: "10.0.0.1:5000", xff: []string{"[2001:db8::7]"}, want: "2001:db8::7"},
	{name: "xff ipv6 with port", remote: "10.0.0.1:5000", xff: []string{"[2001:db8::7]:1234"}, want: "2001:db8::7"},
	{name: "xff mapped", remote: "10.0.0.1:5000", xff: []string{"::ffff:203.0.113.5"}, want: "203.0.113.5"},
	{name: "xff zone dropped", remote: "10.0.0.1:5000", xff: []string{"fe80::9%eth0, 10.0.0.2"}, want: "fe80::9"},
	{name: "xff ipv6 trusted peer", remote: "[2001:db8:ffff::1]:80", xff: []string{"2001:db8:1::5, 2001:db8:ffff::2"}, want: "2001:db8:1::5"},
	{name: "xff mapped trusted peer", remote: "[::ffff:10.0.0.1]:80", xff: []string{"203.0.113.5"}, want: "203.0.113.5"},
	{name: "xff zoned trusted peer", remote: "[fe80::1%eth0]:80", xff: []string{"203.0.113.5"}, want: "203.0.113.5"},

	// A trusted peer: Forwarded (RFC 7239) from the right.
	{name: "fwd", remote: "10.0.0.1:5000", fwd: []string{"for=203.0.113.5"}, want: "203.0.113.5"},
	{name: "fwd pairs", remote: "10.0.0.1:5000", fwd: []string{`For="203.0.113.5:80";proto=https;by=10.0.0.1`}, want: "203.0.113.5"},
	{name: "fwd ipv6", remote: "10.0.0.1:5000", fwd: []string{`for="[2001:db8::9]:4711"`}, want: "2001:db8::9"},
	{name: "fwd ipv6 no port", remote: "10.0.0.1:5000", fwd: []string{`for="[2001:db8::9]"`}, want: "2001:db8::9"},
	{name: "fwd ipv6 unquoted", remote: "10.0.0.1:5000", fwd: []string{`for=[2001:db8::9]`}, want: "2001:db8::9"},
	{name: "fwd obfuscated port", remote: "10.0.0.1:5000", fwd: []string{`for="203.0.113.5:_abc"`}, want: "203.0.113.5"},
	{name: "fwd escapes", remote: "10.0.0.1:5000", fwd: []string{`for="\[2001:db8::9\]"`}, want: "2001:db8::9"},
	{name: "fwd client prepended a lie", remote: "10.0.0.1:5000", fwd: []string{"for=1.2.3.4, for=203.0.113.5"}, want: "203.0.113.5"},
	{name: "fwd chain", remote: "10.0.0.1:5000", fwd: []string{"for=203.0.113.5;proto=https, for=10.0.0.2"}, want: "203.0.113.5"},
	{name: "fwd lines", remote: "10.0.0.1:5000", fwd: []string{"for=1.2.3.4", "for=203.0.113.5"}, want: "203.0.113.5"},
	{name: "fwd empty pairs", remote: "10.0.0.1:5000", fwd: []string{"proto=https;;for=203.0.113.5;"}, want: "203.0.113.5"},
	{name: "fwd obfuscated", remote: "10.0.0.1:5000", fwd: []string{"for=_hidden"}, want: "10.0.0.1"},
	{name: "fwd obfuscated last", remote: "10.0.0.1:5000", fwd: []string{"for=203.0.113.5, for=_hidden"}, want: "10.0.0.1"},
	{name: "fwd obfuscated behind proxy", remote: "10.0.0.1:5000", fwd: []string{"for=_hidden, for=10.0.0.2"}, want: "10.0.0.2"},
	{name: "fwd unknown", remote: "10.0.0.1:5000", fwd: []string{"for=unknown"}, want: "10.0.0.1"},
	{name: "fwd no for", remote: "10.0.0.1:5000", fwd: []string{"proto=https"}, want: "10.0.0.1"},
	{name: "fwd two fors", remote: "10.0.0.1:5000", fwd: []string{"for=1.2.3.4;for=203.0.113.5"}, want: "10.0.0.1"},
	{name: "fwd unquoted ipv4 port", remote: "10.0.0.1:5000", fwd: []string{"for=203.0.113.5:80"}, want: "203.0.113.5"},
	{name: "fwd bad port", remote: "10.0.0.1:5000", fwd: []string{`for="203.0.113.5:http"`}, want: "10.0.0.1"},
	{name: "fwd unterminated quote swallows the proxy's entry", remote: "10.0.0.1:5000", fwd: []string{`for="1.2.3.4, for=203.0.113.5`}, want: "10.0.0.1"},
	{name: "fwd unterminated quote on its own line", remote: "10.0.0.1:5000", fwd: []string{`for="1.2.3.4`, "for=203.0.113.5"}, want: "203.0.113.5"},
	{name: "fwd broken after the client", remote: "10.0.0.1:5000", fwd: []string{"for=203.0.113.5, junk"}, want: "10.0.0.1"},
	{name: "fwd junk after value", remote: "10.0.0.1:5000", fwd: []string{`for="203.0.113.5"x`}, want: "10.0.0.1"},
	{name: "fwd quote in address", remote: "10.0.0.1:5000", fwd: []string{`for="[2001:db8::\"9]"`}, want: "10.0.0.1"},
	{name: "fwd trailing comma", remote: "10.0.0.1:5000", fwd: []string{"for=203.0.113.5,"}, want: "10.0.0.1"},

	// Both headers.
	{name: "both agree", remote: "10.0.0.1:5000", xff: []string{"203.0.113.5"}, fwd: []string{"for=203.0.113.5"}, want: "203.0.113.5"},
	{name: "both differ", remote: "10.0.0.1:5000", xff: []string{"203.0.113.5"}, fwd: []string{"for=6.6.6.6"}, want: "10.0.0.1"},
	{name: "forged forwarded beside xff", remote: "10.0.0.1:5000", xff: []string{"6.6.6.6, 203.0.113.5"}, fwd: []string{"for=6.6.6.6"}, want: "10.0.0.1"},
	{name: "blank xff beside forwarded", remote: "10.0.0.1:5000", xff: []string{""}, fwd: []string{"for=203.0.113.5"}, want: "203.0.113.5"},
}

func newClientIPRequest(tc clientIPCase) *http.Request {
	r := httptest.NewRequest("POST", "/v1/login", nil)
	r.RemoteAddr = tc.remote
	for _, v := range tc.xff {
		r.Header.Add("X-Forwarded-For", v)
	}
	for _, v := range tc.fwd {
		r.Header.Add("Forwarded", v)
	}
	return r
}

func TestClientIP(t *testing.T) {
	c := ClientIP{Trusted: testTrusted}
	for _, tc := range clientIPCases {
		t.Run(tc.name, func(t *testing.T) {
			r := newClientIPRequest(tc)
			got := c.Of(r)
			if !addrIs(got, tc.want) {
				t.Fatalf("Of = %v, want %q", got, tc.want)
			}
			// An Authorization header changes nothing.
			r.Header.Set("Authorization", "Bearer "+strings.Repeat("a", 40))
			if again := c.Of(r); again != got {
				t.Fatalf("with an Authorization header: Of = %v, want %v", again, got)
			}
		})
	}
}

// TestClientIPNoneTrusted checks that without trusted proxies every
// header is ignored.
func TestClientIPNoneTrusted(t *testing.T) {
	for _, tc := range clientIPCases {
		r := newClientIPRequest(tc)
		want := parseNode(tc.remote)
		if got := (ClientIP{}).Of(r); got != want {
			t.Errorf("%s: Of with no trusted proxy = %v, want the peer %v", tc.name, got, want)
		}
	}
}

func addrIs(a netip.Addr, want string) bool {
	if want == "" {
		return !a.IsValid()
	}
	return a == netip.MustParseAddr(want)
}

func TestParseTrustedProxies(t *testing.T) {
	tests := []struct {
		in   string
		want []string // nil with err
		err  bool
	}{
		{in: "", want: []string{}},
		{in: " , ", want: []string{}},
		{in: "10.0.0.0/8", want: []string{"10.0.0.0/8"}},
		{in: "10.0.0.0/8, 192.168.1.1", want: []string{"10.0.0.0/8", "192.168.1.1/32"}},
		{in: ",,10.0.0.0/8,,", want: []string{"10.0.0.0/8"}},
		{in: "10.1.2.3/8", want: []string{"10.0.0.0/8"}},
		{in: "::1", want: []string{"::1/128"}},
		{in: "2001:db8::/32 fd00::/8\n127.0.0.1", want: []string{"2001:db8::/32", "fd00::/8", "127.0.0.1/32"}},
		{in: "::ffff:10.0.0.0/104", want: []string{"10.0.0.0/8"}},
		{in: "::ffff:10.0.0.1", want: []string{"10.0.0.1/32"}},
		{in: "0.0.0.0/0", want: []string{"0.0.0.0/0"}},
		{in: "10.0.0.0/33", err: true},
		{in: "10.0.0", err: true},
		{in: "fe80::1%eth0", err: true},
		{in: "fe80::/10%eth0", err: true},
		{in: "localhost", err: true},
		{in: "10.0.0.0/8/8", err: true},
		{in: "10.0.0.0/8;192.168.0.0/16", err: true},
	}
	for _, tt := range tests {
		got, err := ParseTrustedProxies(tt.in)
		if tt.err {
			if err == nil {
				t.Errorf("ParseTrustedProxies(%q) = %v, want an error", tt.in, got)
			}
			continue
		}
		if err != nil {
			t.Errorf("ParseTrustedProxies(%q): %v", tt.in, err)
			continue
		}
		var s []string
		for _, p := range got {
			s = append(s, p.String())
		}
		if !slices.Equal(s, tt.want) && !(len(s) == 0 && len(tt.want) == 0) {
			t.Errorf("ParseTrustedProxies(%q) = %v, want %v", tt.in, s, tt.want)
		}
	}
}

// FuzzClientIP checks the property that matters: behind a trusted proxy
// that appends the address it saw (C), nothing a client writes in either
// header makes its address anything but C or the proxy.
func FuzzClientIP(f *testing.F) {
	for _, tc := range clientIPCases {
		for mode := range uint8(8) {
			f.Add(strings.Join(tc.xff, ","), strings.Join(tc.fwd, ","), uint32(0xcb007105), mode)
		}
	}
	f.Fuzz(func(t *testing.T, forgedXFF, forgedFwd string, client uint32, mode uint8) {
		var c netip.Addr
		if mode&4 == 0 {
			c = netip.AddrFrom4([4]byte{203, byte(client >> 16), byte(client >> 8), byte(client)})
		} else {
			c = netip.AddrFrom16([16]byte{0x20, 0x01, 0x0d, 0xb8, 0, 1, 10: byte(client >> 8), 15: byte(client)})
		}
		r := httptest.NewRequest("POST", "/v1/login", nil)
		r.RemoteAddr = "10.0.0.1:5000"
		if forgedXFF != "" {
			r.Header.Add("X-Forwarded-For", forgedXFF)
		}
		if forgedFwd != "" {
			r.Header.Add("Forwarded", forgedFwd)
		}
		// The proxy appends C to one header, on the same line (as Go's
		// ReverseProxy does) or on a line of its own.
		name, entry := "X-Forwarded-For", c.String()
		if mode&1 != 0 {
			name, entry = "Forwarded", "for="+c.String()
			if c.Is6() {
				entry = `for="[` + c.String() + `]"`
			}
		}
		if prior := r.Header.Values(name); mode&2 != 0 && len(prior) > 0 {
			r.Header.Set(name, strings.Join(prior, ", ")+", "+entry)
		} else {
			r.Header.Add(name, entry)
		}
		peer := netip.MustParseAddr("10.0.0.1")
		got := ClientIP{Trusted: testTrusted}.Of(r)
		if got != c && got != peer {
			t.Fatalf("X-Forwarded-For %q, Forwarded %q: client %v, want %v or the proxy",
				r.Header.Values("X-Forwarded-For"), r.Header.Values("Forwarded"), got, c)
		}
	})
}

// FuzzClientIPHeaders feeds arbitrary peers and headers: no panic, an
// untrusted peer is always the answer, and any answer is an address.
func FuzzClientIPHeaders(f *testing.F) {
	for _, tc := range clientIPCases {
		f.Add(tc.remote, strings.Join(tc.xff, "\n"), strings.Join(tc.fwd, "\n"))
	}
	f.Fuzz(func(t *testing.T, remote, xff, fwd string) {
		r := httptest.NewRequest("POST", "/v1/login", nil)
		r.RemoteAddr = remote
		for line := range strings.SplitSeq(xff, "\n") {
			r.Header.Add("X-Forwarded-For", line)
		}
		for line := range strings.SplitSeq(fwd, "\n") {
			r.Header.Add("Forwarded", line)
		}
		c := ClientIP{Trusted: testTrusted}
		got := c.Of(r)
		peer := parseNode(remote)
		if got.IsValid() != peer.IsValid() {
			t.Fatalf("Of = %v for peer %q", got, remote)
		}
		if peer.IsValid() && !c.trusted(peer) && got != peer {
			t.Fatalf("untrusted peer %v: Of = %v", peer, got)
		}
		if got.IsValid() && (got.Zone() != "" || got.Is4In6()) {
			t.Fatalf("Of = %v: zones and mapped addresses are normalised away", got)
		}
	})
}

func FuzzParseTrustedProxies(f *testing.F) {
	for _, s := range []string{"", "10.0.0.0/8, 192.168.1.1", "2001:db8::/32 fd00::/8\n127.0.0.1", "::ffff:10.0.0.0/104", "fe80::1%eth0", "10.1.2.3/8"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		ps, err := ParseTrustedProxies(s)
		if err != nil {
			return
		}
		var out []string
		for _, p := range ps {
			if !p.IsValid() || p != p.Masked() || p.Addr().Zone() != "" || p.Addr().Is4In6() && p.Bits() >= 96 {
				t.Fatalf("ParseTrustedProxies(%q): %v is not canonical", s, p)
			}
			out = append(out, p.String())
		}
		again, err := ParseTrustedProxies(strings.Join(out, ","))
		if err != nil || !slices.Equal(again, ps) {
			t.Fatalf("ParseTrustedProxies(%q) = %v; reparsed: %v, %v", s, ps, again, err)
		}
	})
}
