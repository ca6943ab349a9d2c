// Command latchkey-bench measures latchkey end to end, over loopback, with
// wrk as the load tool, and prints a markdown table of the results.
//
// It builds ./cmd/latchkey, seeds a fresh SQLite database with -users
// users and -tokens live tokens, starts `latchkey serve` on it, and runs
// each scenario for -duration with -connections connections on -threads
// wrk threads:
//
//   - GET /healthz, the same server's ceiling, GET /v1/me with one
//     warmed token, a cache hit, the same on a second server on the same
//     database with the Prometheus metrics on (LATCHKEY_METRICS_ADDR), and
//     GET /v1/forward-auth with the same token, in alternating rounds;
//   - GET /v1/me with a token never sent before on each request, a cache
//     miss (one store query and a cache fill), on 1 connection and on
//     -connections;
//   - POST /v1/login on 1 connection, beside the argon2id verification
//     alone timed in this process, and on -login-connections;
//   - the server's resident memory before and after caching every token.
//
// With -peer it also runs the original Django REST Framework API
// (../shared/peers/drf-seed beside the repository) and its GET /api/me on
// a cache hit, in the same rounds; with -scale it runs the cache misses
// and the login again on 10,000 and on 1,000,000 users and tokens, and
// with -postgres URL also the cache misses on PostgreSQL at both sizes, in
// databases it creates on that server and drops. Every
// ratio in the table is taken within one run, so that the machine's load
// weighs on both sides alike.
//
// Usage, from the repository root (scripts/bench installs wrk if missing):
//
//	go run ./cmd/latchkey-bench [-users N] [-tokens M] [-duration 10s] [-peer] [-scale]
//
// BENCHMARKS.md explains what bounds each figure.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Environ(), os.Stdout, os.Stderr)
	stop()
	if errors.Is(err, flag.ErrHelp) {
		os.Exit(0)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "latchkey-bench:", err)
		os.Exit(1)
	}
}

// config is every setting, from flags.
type config struct {
	users, tokens     int
	duration          time.Duration
	connections       int
	threads           int
	rounds            int
	loginConnections  int
	lastUsed          time.Duration
	peer, scale       bool
	scaleUsers        int
	scaleTokens       int
	wrk               string
	postgres          string
	keep              bool
	peerStartTimeout  time.Duration
	serverStopTimeout time.Duration
}

// Bounds on the settings, so that a typo cannot fill the disk or run for
// a day.
const (
	maxUsers    = 10_000_000
	maxTokens   = 10_000_000
	maxDuration = 10 * time.Minute
	maxConns    = 10_000
	// fillTimeout bounds the pass that caches every token.
	fillTimeout = 10 * time.Minute
)

func parseConfig(args []string, stderr io.Writer) (*config, error) {
	c := &config{}
	fs := flag.NewFlagSet("latchkey-bench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.IntVar(&c.users, "users", 10_000, "users in the database")
	fs.IntVar(&c.tokens, "tokens", 10_000, "live tokens in the database, spread over the users")
	fs.DurationVar(&c.duration, "duration", 10*time.Second, "length of each scenario (whole seconds)")
	fs.IntVar(&c.connections, "connections", 32, "wrk connections")
	fs.IntVar(&c.threads, "threads", 2, "wrk threads")
	fs.IntVar(&c.rounds, "rounds", 5, "alternating rounds that the healthz, cache hit and original runs split -duration into")
	fs.IntVar(&c.loginConnections, "login-connections", 4, "connections of the login throughput scenario (the latency one uses 1)")
	fs.DurationVar(&c.lastUsed, "last-used", time.Hour, "how long before the run the seeded tokens were last used; 1m or more (the default) makes every cache miss also queue a last-use write")
	fs.BoolVar(&c.peer, "peer", false, "also measure the original Django API from ../shared/peers/drf-seed")
	fs.BoolVar(&c.scale, "scale", false, "also run the cache misses and the login on 10,000 users and tokens and on -scale-users users and -scale-tokens tokens")
	fs.IntVar(&c.scaleUsers, "scale-users", 1_000_000, "users of -scale's large database")
	fs.IntVar(&c.scaleTokens, "scale-tokens", 1_000_000, "tokens of -scale's large database")
	fs.StringVar(&c.wrk, "wrk", "wrk", "the wrk program")
	fs.StringVar(&c.postgres, "postgres", "", "with -scale, also run the cache misses on PostgreSQL at -scale's two sizes, in databases of their own that the bench creates and drops on the server of this postgres:// URL")
	fs.BoolVar(&c.keep, "keep", false, "keep the temporary directory (databases, token files, logs)")
	fs.DurationVar(&c.peerStartTimeout, "peer-start-timeout", 10*time.Minute, "how long the peer may take to install and start")
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), "usage: latchkey-bench [flags]\n\nBuilds latchkey, seeds a fresh database, drives it with wrk over loopback and prints a markdown table.\n\n")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	c.serverStopTimeout = 15 * time.Second
	var errs []error
	check := func(ok bool, format string, a ...any) {
		if !ok {
			errs = append(errs, fmt.Errorf(format, a...))
		}
	}
	check(c.users >= 1 && c.users <= maxUsers, "-users must be in 1..%d", maxUsers)
	check(c.scaleUsers >= 1 && c.scaleUsers <= maxUsers, "-scale-users must be in 1..%d", maxUsers)
	check(c.threads >= 1 && c.threads <= 64, "-threads must be in 1..64")
	check(c.tokens >= c.threads && c.tokens <= maxTokens, "-tokens must be in -threads..%d", maxTokens)
	check(c.scaleTokens >= c.threads && c.scaleTokens <= maxTokens, "-scale-tokens must be in -threads..%d", maxTokens)
	check(c.duration >= time.Second && c.duration <= maxDuration, "-duration must be in 1s..%v", maxDuration)
	check(c.rounds >= 1 && c.rounds <= 100, "-rounds must be in 1..100")
	check(c.connections >= c.threads && c.connections <= maxConns, "-connections must be in -threads..%d", maxConns)
	check(c.loginConnections >= 1 && c.loginConnections <= maxConns, "-login-connections must be in 1..%d", maxConns)
	check(c.lastUsed >= 0 && c.lastUsed < 23*time.Hour, "-last-used must be in 0..23h")
	check(c.peerStartTimeout > 0, "-peer-start-timeout must be positive")
	check(c.postgres == "" || c.scale, "-postgres needs -scale")
	check(c.postgres == "" || strings.HasPrefix(c.postgres, "postgres://") || strings.HasPrefix(c.postgres, "postgresql://"), "-postgres must be a postgres:// URL")
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return c, nil
}

// run is the whole program, with its environment passed in.
func run(ctx context.Context, args []string, environ []string, stdout, stderr io.Writer) error {
	cfg, err := parseConfig(args, stderr)
	if err != nil {
		return err
	}
	b, err := newBench(ctx, cfg, environ, stderr)
	if err != nil {
		return err
	}
	defer b.close()
	rep, err := b.run(ctx)
	if err != nil {
		return err
	}
	rep.write(stdout)
	return nil
}
