package api

import (
	"fmt"
	"net/http"
	"net/netip"
	"strings"
	"unicode"
)

// ClientIP finds the address of the client a request came from, for the
// login throttle and the session record: the connection's peer, unless the
// peer is a trusted proxy. Then it is the address the proxies recorded in
// X-Forwarded-For or Forwarded (RFC 7239), read from the right, where the
// nearest proxy appended its own peer, past every trusted proxy: the first
// address that is not one is the client. Whatever a client writes in those
// headers itself sits further left, behind the address its proxy appended,
// and is never reached.
//
// Where the walk meets an entry it cannot read (garbage, "unknown", an
// obfuscated identifier), it stops at the last trusted proxy it reached:
// an address nobody outside chose. When both headers are present and name
// different clients (a proxy that maintains one while the client forged
// the other), the peer is the answer, for the same reason.
type ClientIP struct {
	// Trusted lists the proxies whose forwarding headers are believed
	// (see ParseTrustedProxies). Empty: the peer is always the client.
	Trusted []netip.Prefix
}

// Of returns the client address of r, IPv4 addresses unmapped and zones
// dropped. It is invalid only when r.RemoteAddr is not an IP address (a
// Unix socket, say).
func (c ClientIP) Of(r *http.Request) netip.Addr {
	peer := parseNode(r.RemoteAddr)
	if !peer.IsValid() || !c.trusted(peer) {
		return peer
	}
	xff, hasXFF := c.walk(peer, forwardedFor(r.Header.Values("X-Forwarded-For")))
	fwd, hasFwd := c.walk(peer, forwarded(r.Header.Values("Forwarded")))
	switch {
	case hasXFF && hasFwd:
		if xff == fwd {
			return xff
		}
		return peer
	case hasXFF:
		return xff
	case hasFwd:
		return fwd
	}
	return peer
}

// fromTrustedProxy reports whether r came straight from a trusted proxy,
// whose headers about the request it forwards are believed.
func (c ClientIP) fromTrustedProxy(r *http.Request) bool {
	peer := parseNode(r.RemoteAddr)
	return peer.IsValid() && c.trusted(peer)
}

func (c ClientIP) trusted(a netip.Addr) bool {
	for _, p := range c.Trusted {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// walk returns the client among hops (oldest first; an invalid address
// for an entry that could not be read) as seen from a trusted peer, and
// whether there were hops at all.
func (c ClientIP) walk(peer netip.Addr, hops []netip.Addr) (netip.Addr, bool) {
	if len(hops) == 0 {
		return peer, false
	}
	last := peer
	for i := len(hops) - 1; i >= 0; i-- {
		h := hops[i]
		if !h.IsValid() {
			return last, true
		}
		if !c.trusted(h) {
			return h, true
		}
		last = h
	}
	return last, true
}

// forwardedFor reads X-Forwarded-For lines: comma-separated addresses,
// with or without a port (IPv6 then in brackets). Blank lines add nothing;
// an empty or unreadable entry is an invalid address.
func forwardedFor(lines []string) []netip.Addr {
	var hops []netip.Addr
	for _, line := range lines {
		if strings.TrimSpace(line) == "" {
			continue
		}
		for part := range strings.SplitSeq(line, ",") {
			hops = append(hops, parseNode(strings.TrimSpace(part)))
		}
	}
	return hops
}

// forwarded reads Forwarded lines (RFC 7239): comma-separated elements of
// semicolon-separated name=value pairs, values tokens or quoted strings.
// Each element gives the address of its for= pair; an element without
// one, with two, or with one that names no address (unknown, _hidden) is
// an invalid address. A line that breaks the syntax ends, at the break,
// with an invalid address: where an entry ends can no longer be told.
func forwarded(lines []string) []netip.Addr {
	var hops []netip.Addr
	for _, line := range lines {
		if strings.TrimSpace(line) == "" {
			continue
		}
		hops = forwardedLine(line, hops)
	}
	return hops
}

func forwardedLine(s string, hops []netip.Addr) []netip.Addr {
	i := 0
	for {
		var (
			node  string
			found int
		)
		// One element: pairs up to a comma or the end.
		for {
			i = skipSpace(s, i)
			if i == len(s) || s[i] == ',' {
				break
			}
			if s[i] == ';' {
				i++
				continue
			}
			j := i
			for j < len(s) && isTokenChar(s[j]) {
				j++
			}
			if j == i || j == len(s) || s[j] != '=' {
				return append(hops, netip.Addr{})
			}
			name := s[i:j]
			i = j + 1
			var value string
			if i < len(s) && s[i] == '"' {
				var ok bool
				if value, i, ok = quotedString(s, i); !ok {
					return append(hops, netip.Addr{})
				}
			} else {
				j = i
				for j < len(s) && isValueChar(s[j]) {
					j++
				}
				value, i = s[i:j], j
			}
			if strings.EqualFold(name, "for") {
				node = value
				found++
			}
			i = skipSpace(s, i)
			if i < len(s) && s[i] != ';' && s[i] != ',' {
				return append(hops, netip.Addr{})
			}
		}
		if found == 1 {
			hops = append(hops, parseForwardedNode(node))
		} else {
			hops = append(hops, netip.Addr{})
		}
		if i == len(s) {
			return hops
		}
		i++ // the comma
	}
}

func skipSpace(s string, i int) int {
	for i < len(s) && (s[i] == ' ' || s[i] == '\t') {
		i++
	}
	return i
}

// isTokenChar reports whether b may appear in an RFC 9110 token.
func isTokenChar(b byte) bool {
	switch {
	case 'a' <= b && b <= 'z', 'A' <= b && b <= 'Z', '0' <= b && b <= '9':
		return true
	}
	return strings.IndexByte("!#$%&'*+-.^_`|~", b) >= 0
}

// isValueChar reports whether b may appear in an unquoted value. It admits
// more than a token (':' '[' ']'), for proxies that leave an address with
// a port unquoted.
func isValueChar(b byte) bool {
	return isTokenChar(b) || b == ':' || b == '[' || b == ']'
}

// quotedString reads the quoted string that starts at s[i] and returns its
// content (escapes resolved) and the index after it.
func quotedString(s string, i int) (string, int, bool) {
	var b strings.Builder
	for i++; i < len(s); i++ {
		switch s[i] {
		case '"':
			return b.String(), i + 1, true
		case '\\':
			if i++; i == len(s) {
				return "", i, false
			}
		}
		b.WriteByte(s[i])
	}
	return "", i, false
}

// parseForwardedNode reads a Forwarded node: an IPv4 address or a
// bracketed IPv6 one, either with an optional port, which may be an
// obfuscated one ("_abc"). An unknown or obfuscated address is invalid.
func parseForwardedNode(v string) netip.Addr {
	if v == "" || v[0] == '_' || strings.EqualFold(v, "unknown") {
		return netip.Addr{}
	}
	host, port, hasPort := v, "", false
	if v[0] == '[' {
		end := strings.IndexByte(v, ']')
		if end < 0 {
			return netip.Addr{}
		}
		host, port = v[1:end], v[end+1:]
		if port != "" {
			if port[0] != ':' {
				return netip.Addr{}
			}
			port, hasPort = port[1:], true
		}
	} else if strings.Count(v, ":") == 1 {
		host, port, hasPort = strings.Cut(v, ":")
		if a, err := netip.ParseAddr(host); err != nil || !a.Is4() {
			return netip.Addr{}
		}
	}
	if hasPort && !validPort(port) {
		return netip.Addr{}
	}
	a, err := netip.ParseAddr(host)
	if err != nil {
		return netip.Addr{}
	}
	return a.Unmap().WithZone("")
}

// validPort reports whether s is a port number or an obfuscated port.
func validPort(s string) bool {
	if s == "" {
		return false
	}
	if s[0] == '_' {
		for i := 1; i < len(s); i++ {
			if !isTokenChar(s[i]) {
				return false
			}
		}
		return len(s) > 1
	}
	if len(s) > 5 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// parseNode reads an address with an optional port: "192.0.2.1",
// "192.0.2.1:80", "2001:db8::1", "[2001:db8::1]", "[2001:db8::1]:80".
// Anything else is an invalid address.
func parseNode(s string) netip.Addr {
	var a netip.Addr
	if ap, err := netip.ParseAddrPort(s); err == nil {
		a = ap.Addr()
	} else {
		if len(s) > 2 && s[0] == '[' && s[len(s)-1] == ']' {
			s = s[1 : len(s)-1]
		}
		if a, err = netip.ParseAddr(s); err != nil {
			return netip.Addr{}
		}
	}
	return a.Unmap().WithZone("")
}

// ParseTrustedProxies parses LATCHKEY_TRUSTED_PROXIES: CIDR prefixes and
// bare addresses (a /32 or /128), separated by commas or spaces. Prefixes
// are masked (10.1.2.3/8 is 10.0.0.0/8), and IPv4-mapped IPv6 ones become
// IPv4 ones, as the addresses they are matched with are. An empty string
// trusts no proxy.
func ParseTrustedProxies(s string) ([]netip.Prefix, error) {
	var ps []netip.Prefix
	for _, f := range strings.FieldsFunc(s, func(r rune) bool { return r == ',' || unicode.IsSpace(r) }) {
		p, ok := parseTrusted(f)
		if !ok {
			return nil, fmt.Errorf("trusted proxies: %q is not an IP address or CIDR prefix", f)
		}
		ps = append(ps, p)
	}
	return ps, nil
}

func parseTrusted(f string) (netip.Prefix, bool) {
	if strings.Contains(f, "/") {
		p, err := netip.ParsePrefix(f)
		if err != nil {
			return netip.Prefix{}, false
		}
		p = p.Masked()
		if a := p.Addr(); a.Is4In6() && p.Bits() >= 96 {
			p = netip.PrefixFrom(a.Unmap(), p.Bits()-96)
		}
		return p, true
	}
	a, err := netip.ParseAddr(f)
	if err != nil || a.Zone() != "" {
		return netip.Prefix{}, false
	}
	a = a.Unmap()
	return netip.PrefixFrom(a, a.BitLen()), true
}
