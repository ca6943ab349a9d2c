package main

import (
	"fmt"
	"regexp"
	"strings"
)

// path is one measured path: a benchmark, whose every iteration is one
// request or call.
type path struct {
	name  string // the table's
	what  string
	pkg   string // the package, relative to the repository
	bench string // the benchmark's full name, as the test binary prints it
}

var paths = []path{
	{"bare", "the bench's bare handler (internal/bare): SHA-256 and a map, /v1/me's body, net/http's server with a read-header timeout only", "./api", "BenchmarkServe/bare"},
	{"bare-forward-auth", "the bare handler writing forward-auth's header fields", "./api", "BenchmarkServe/bare-forward-auth"},
	{"healthz", "GET /healthz through net/http's server", "./api", "BenchmarkServe/healthz"},
	{"me", "GET /v1/me, token in the cache", "./api", "BenchmarkServe/me"},
	{"forward-auth", "GET /v1/forward-auth, token in the cache", "./api", "BenchmarkServe/forward-auth"},
	{"me-metrics", "GET /v1/me, token in the cache, Prometheus metrics on", "./api", "BenchmarkServe/me-metrics"},
	{"bare-tcp", "the bare handler over loopback TCP, the client's share included, as in every -tcp path", "./api", "BenchmarkServeTCP/bare"},
	{"healthz-tcp", "GET /healthz over loopback TCP, serve's timeouts on its swept listener", "./api", "BenchmarkServeTCP/healthz"},
	{"me-tcp", "GET /v1/me over loopback TCP, token in the cache, serve's timeouts on its swept listener", "./api", "BenchmarkServeTCP/me"},
	{"me-miss", "GET /v1/me, cache miss: SQLite query and fill", "./api", "BenchmarkServe/me-miss"},
	{"check-miss", "the token check alone, cache miss on SQLite", ".", "BenchmarkAuthenticateMiss"},
	{"login-failure", "a wrong password without the hash: query, log, event", ".", "BenchmarkLoginFailureNoHash"},
}

func pathNames() []string {
	var s []string
	for _, p := range paths {
		s = append(s, p.name)
	}
	return s
}

// selectPaths returns the paths named in list, separated by commas, in
// the table's order; all of them when list is empty.
func selectPaths(list string) ([]path, error) {
	if list == "" {
		return paths, nil
	}
	want := map[string]bool{}
	for _, n := range strings.Split(list, ",") {
		want[strings.TrimSpace(n)] = true
	}
	var sel []path
	for _, p := range paths {
		if want[p.name] {
			sel = append(sel, p)
			delete(want, p.name)
		}
	}
	for n := range want {
		return nil, fmt.Errorf("-paths: no path %q (the paths: %s)", n, strings.Join(pathNames(), ", "))
	}
	return sel, nil
}

// pattern is the -test.bench pattern that selects the benchmark: each
// level anchored, since -test.bench splits its pattern at each '/' and
// matches the name level by level.
func (p path) pattern() string {
	levels := strings.Split(p.bench, "/")
	for i, l := range levels {
		levels[i] = "^" + regexp.QuoteMeta(l) + "$"
	}
	return strings.Join(levels, "/")
}
