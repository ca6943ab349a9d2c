package dial

import (
	"net/url"
	"strings"
)

// RedactURL returns a database or cache URL fit to be logged or echoed:
// the user's password, and the value of every query parameter whose name
// holds "password" (PostgreSQL's password and sslpassword), become xxxxx.
// A value that could still hold a secret after that (an @ that is not the
// user's, as in a password with a slash in it, or a key=value string with
// a password=) keeps only its scheme. Every URL that latchkey logs or puts
// in an error goes through it.
func RedactURL(s string) string {
	if !mayHoldSecret(s) {
		return s
	}
	if u, err := url.Parse(s); err == nil {
		if _, ok := u.User.Password(); ok {
			u.User = url.UserPassword(u.User.Username(), "xxxxx")
		}
		query, rest := redactQuery(u.RawQuery)
		bare := *u
		bare.User, bare.RawQuery = nil, rest
		if !mayHoldSecret(bare.String()) {
			u.RawQuery = query
			return u.String()
		}
	}
	scheme, tail, ok := strings.Cut(s, ":")
	if !ok || !isScheme(scheme) {
		return "[redacted]"
	}
	if strings.HasPrefix(tail, "//") {
		return scheme + "://[redacted]"
	}
	return scheme + ":[redacted]"
}

// mayHoldSecret reports whether s, percent-decoded, holds an @ or the word
// password: where a URL or a connection string carries a secret.
func mayHoldSecret(s string) bool {
	if d, err := url.PathUnescape(s); err == nil {
		s = d
	}
	return strings.Contains(s, "@") || strings.Contains(strings.ToLower(s), "password")
}

// redactQuery masks the values of the parameters of a raw query whose
// decoded name holds "password". It returns the query masked, and the
// query without those parameters.
func redactQuery(raw string) (masked, rest string) {
	if raw == "" {
		return "", ""
	}
	var m, r []string
	for _, kv := range strings.Split(raw, "&") {
		k, _, _ := strings.Cut(kv, "=")
		name := k
		if d, err := url.QueryUnescape(k); err == nil {
			name = d
		}
		if strings.Contains(strings.ToLower(name), "password") {
			m = append(m, k+"=xxxxx")
			continue
		}
		m, r = append(m, kv), append(r, kv)
	}
	return strings.Join(m, "&"), strings.Join(r, "&")
}

// isScheme reports whether s is a URL scheme (RFC 3986: a letter, then
// letters, digits, +, - and .).
func isScheme(s string) bool {
	if s == "" || !('a' <= s[0] && s[0] <= 'z' || 'A' <= s[0] && s[0] <= 'Z') {
		return false
	}
	for _, c := range []byte(s) {
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '+' || c == '-' || c == '.') {
			return false
		}
	}
	return true
}
