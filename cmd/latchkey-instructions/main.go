// Command latchkey-instructions counts the instructions of latchkey's hit
// path and of a few others, per request, under valgrind's callgrind: a
// figure that does not move with the machine's load, as a time does, so
// that two commits can be compared on a busy machine.
//
// Each path is a Go benchmark (BenchmarkServe's sub-benchmarks in ./api,
// BenchmarkAuthenticateMiss and BenchmarkLoginFailureNoHash in the root
// package), run twice under callgrind, for -n1 and for -n2 iterations:
// the difference of the two totals over the difference of the counts is
// the cost of one iteration, without the test binary's start and the
// benchmark's setup, which both runs pay alike. The runs have GOMAXPROCS=1,
// so that idle Ps do not spin looking for work,
// GODEBUG=asyncpreemptoff=1, without which the runtime's preemption
// signals make valgrind abort, and GOGC=off: the collector's pacing
// follows the clock, and with it on the totals of two runs differ by
// tens of millions of instructions. The counts are of the work of each
// request itself, its allocations included but not their collection.
//
// With no argument it measures the working tree. With one commit it
// compares that commit with the working tree, and with two the first with
// the second; each commit is checked out in a temporary git worktree,
// removed when the command ends. A path whose benchmark a commit does not
// have is "n/a". The output is a markdown table; the command fails when
// a run failed, and with -strict when a path is n/a.
//
// Usage, from the repository root (scripts/bench-instructions installs
// valgrind if missing):
//
//	go run ./cmd/latchkey-instructions [-n1 1000] [-n2 6000] [-j 4] [-gogc off] [-paths me,healthz] [OLD [NEW]]
//
// BENCHMARKS.md ("Instructions per request") says what the counts leave out.
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
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	if errors.Is(err, flag.ErrHelp) {
		os.Exit(0)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "latchkey-instructions:", err)
		os.Exit(1)
	}
}

// config is every setting, from flags and arguments.
type config struct {
	n1, n2 int
	jobs   int
	gogc   string
	strict bool
	paths  []path
	revs   []string // the commits to compare, at most two
	dir    string   // the repository
}

// maxN bounds the iterations: under callgrind a request takes about
// 1.5 ms, so that 10 million would run for hours.
const maxN = 10_000_000

func parseConfig(args []string, stderr io.Writer) (config, error) {
	fs := flag.NewFlagSet("latchkey-instructions", flag.ContinueOnError)
	fs.SetOutput(stderr)
	c := config{}
	fs.IntVar(&c.n1, "n1", 1000, "iterations of the shorter run of each path")
	fs.IntVar(&c.n2, "n2", 6000, "iterations of the longer run of each path")
	fs.IntVar(&c.jobs, "j", 4, "valgrind runs at once (a run under valgrind waits much of its time)")
	fs.StringVar(&c.gogc, "gogc", "off", "GOGC of the runs: with the collector on, its work follows the clock and the counts vary by several percent")
	names := fs.String("paths", "", "the paths to measure, separated by commas (default all: "+strings.Join(pathNames(), ",")+")")
	fs.StringVar(&c.dir, "C", ".", "the repository")
	fs.BoolVar(&c.strict, "strict", false, "fail when a path is n/a, as well as when one failed (for CI)")
	fs.Usage = func() {
		fmt.Fprintln(fs.Output(), "usage: latchkey-instructions [flags] [OLD [NEW]]")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return config{}, err
	}
	switch {
	case c.n1 < 1 || c.n2 > maxN || c.n2 <= c.n1:
		return config{}, fmt.Errorf("-n1 %d and -n2 %d: want 1 ≤ n1 < n2 ≤ %d", c.n1, c.n2, maxN)
	case c.jobs < 1:
		return config{}, fmt.Errorf("-j %d: want at least 1", c.jobs)
	case fs.NArg() > 2:
		return config{}, fmt.Errorf("at most two commits, got %d", fs.NArg())
	}
	c.revs = fs.Args()
	var err error
	if c.paths, err = selectPaths(*names); err != nil {
		return config{}, err
	}
	return c, nil
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	c, err := parseConfig(args, stderr)
	if err != nil {
		return err
	}
	return measureAll(ctx, c, stdout, stderr)
}
