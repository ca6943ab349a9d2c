package config

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"strings"
)

// ParseOrigins reads LATCHKEY_WEBAUTHN_ORIGINS: comma-separated origins,
// each scheme://host[:port] with no path, query or user (a trailing "/" is
// dropped), https but for localhost, where browsers allow http. They come
// back lowercased, as a browser writes an origin in clientDataJSON; ""
// is none (nil).
func ParseOrigins(s string) ([]string, error) {
	var out []string
	for _, part := range strings.Split(s, ",") {
		o := strings.TrimSpace(part)
		if o == "" {
			continue
		}
		canon, err := parseOrigin(o)
		if err != nil {
			return nil, err
		}
		out = append(out, canon)
	}
	return out, nil
}

func parseOrigin(o string) (string, error) {
	bad := func(why string) error { return fmt.Errorf("origin %q: %s", o, why) }
	u, err := url.Parse(o)
	if err != nil {
		return "", bad("not a URL")
	}
	scheme := strings.ToLower(u.Scheme)
	host := strings.ToLower(u.Hostname())
	switch {
	case scheme != "https" && scheme != "http":
		return "", bad("want https://host[:port]")
	case u.Opaque != "" || host == "":
		return "", bad("no host: want https://host[:port]")
	case u.User != nil || (u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.ForceQuery || u.Fragment != "":
		return "", bad("an origin has no user, path, query or fragment: want https://host[:port]")
	case scheme == "http" && host != "localhost":
		return "", bad("https only, but for http://localhost")
	}
	canon := scheme + "://" + host
	if strings.Contains(host, ":") {
		canon = scheme + "://[" + host + "]"
	}
	if p := u.Port(); p != "" {
		canon += ":" + p
	}
	return canon, nil
}

// CheckWebAuthn checks the relying party settings together: an id
// (LATCHKEY_WEBAUTHN_RP_ID) and origins go together, the id is a domain
// name (no scheme, port or path) or localhost, and each origin's host is
// the id or a name under it, as browsers require.
func CheckWebAuthn(rpID string, origins []string) error {
	switch {
	case rpID == "" && len(origins) == 0:
		return nil
	case rpID == "":
		return errors.New("webauthn-origins needs webauthn-rp-id (LATCHKEY_WEBAUTHN_RP_ID): the domain the passkeys belong to")
	case len(origins) == 0:
		return errors.New("webauthn-rp-id needs webauthn-origins (LATCHKEY_WEBAUTHN_ORIGINS): the origins of the pages that use passkeys, https://host[:port], comma-separated")
	}
	if err := checkRPID(rpID); err != nil {
		return fmt.Errorf("webauthn-rp-id %q: %w", rpID, err)
	}
	for _, o := range origins {
		u, err := url.Parse(o)
		if err != nil {
			return fmt.Errorf("webauthn-origins: origin %q: not a URL", o)
		}
		if h := u.Hostname(); h != rpID && !strings.HasSuffix(h, "."+rpID) {
			return fmt.Errorf("webauthn-origins: origin %q is not on webauthn-rp-id %q: its host must be %s or a name under it", o, rpID, rpID)
		}
	}
	return nil
}

// checkRPID checks that id is a lowercase domain name.
func checkRPID(id string) error {
	if len(id) > 253 {
		return errors.New("longer than a domain name")
	}
	if net.ParseIP(id) != nil {
		return errors.New("an address: want a domain name (example.com)")
	}
	for _, label := range strings.Split(id, ".") {
		if label == "" || len(label) > 63 || label[0] == '-' || label[len(label)-1] == '-' {
			return errors.New("not a domain name: want the domain of the origins (example.com), no scheme, port or path")
		}
		for i := 0; i < len(label); i++ {
			c := label[i]
			if !('a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '-') {
				return errors.New("not a lowercase domain name: want the domain of the origins (example.com), no scheme, port or path")
			}
		}
	}
	return nil
}

// Origins is the value of LATCHKEY_WEBAUTHN_ORIGINS, parsed when set.
type Origins []string

func (v *Origins) String() string {
	if v == nil {
		return ""
	}
	return strings.Join(*v, ",")
}

func (v *Origins) Set(s string) error {
	o, err := ParseOrigins(s)
	if err != nil {
		return err
	}
	*v = o
	return nil
}
