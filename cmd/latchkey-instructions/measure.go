package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
)

// tree is one version of the code: a commit checked out in a temporary
// worktree, or the working tree itself.
type tree struct {
	label string // as the table names it
	dir   string
	bins  map[string]string // package → its test binary; absent when it did not build
}

// result is one path's count in one tree.
type result struct {
	perOp float64
	na    string // why there is no count: "n/a" or "failed"
}

// measureAll builds each tree's test binaries, runs every path's two
// callgrind runs in each, -j at once, and prints the table.
func measureAll(ctx context.Context, c config, stdout, stderr io.Writer) (err error) {
	if _, err := exec.LookPath("valgrind"); err != nil {
		return errors.New("valgrind not found: apt-get install -y valgrind (scripts/bench-instructions does)")
	}
	tmp, err := os.MkdirTemp("", "latchkey-instructions-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	root, err := gitOut(ctx, c.dir, "rev-parse", "--show-toplevel")
	if err != nil {
		return err
	}
	var trees []*tree
	for i, rev := range c.revs {
		t, cleanup, err := checkout(ctx, root, rev, filepath.Join(tmp, fmt.Sprintf("tree%d", i)))
		if err != nil {
			return err
		}
		defer func() {
			if cerr := cleanup(); cerr != nil && err == nil {
				err = cerr
			}
		}()
		trees = append(trees, t)
	}
	if len(trees) < 2 {
		t, err := workingTree(ctx, root)
		if err != nil {
			return err
		}
		trees = append(trees, t)
	}
	for i, t := range trees {
		if err := build(ctx, t, c.paths, filepath.Join(tmp, fmt.Sprintf("bin%d", i)), stderr); err != nil {
			return err
		}
	}
	results, err := runAll(ctx, c, trees, stderr)
	if err != nil {
		return err
	}
	version, _ := exec.CommandContext(ctx, "valgrind", "--version").Output()
	fmt.Fprintf(stdout, "Instructions per operation (callgrind; %s; GOMAXPROCS=1 GODEBUG=asyncpreemptoff=1 GOGC=%s; n1=%d, n2=%d):\n\n",
		strings.TrimSpace(string(version)), c.gogc, c.n1, c.n2)
	if err := writeTable(stdout, c.paths, trees, results); err != nil {
		return err
	}
	return check(c, trees, results)
}

// check returns an error when a run failed, or with -strict when a path
// has no count.
func check(c config, trees []*tree, results [][]result) error {
	var bad []string
	for ti, t := range trees {
		for pi, p := range c.paths {
			if r := results[ti][pi]; r.na == "failed" || (c.strict && r.na != "") {
				bad = append(bad, fmt.Sprintf("%s in %s: %s", p.name, t.label, r.na))
			}
		}
	}
	if len(bad) > 0 {
		return errors.New(strings.Join(bad, "; "))
	}
	return nil
}

// checkout adds a detached worktree of rev at dir; cleanup removes it.
func checkout(ctx context.Context, root, rev, dir string) (*tree, func() error, error) {
	hash, err := gitOut(ctx, root, "rev-parse", "--verify", "--quiet", rev+"^{commit}")
	if err != nil {
		return nil, nil, fmt.Errorf("%s: not a commit", rev)
	}
	if _, err := gitOut(ctx, root, "worktree", "add", "--detach", dir, hash); err != nil {
		return nil, nil, err
	}
	cleanup := func() error {
		// Not ctx: the worktree goes also when the command is interrupted.
		_, err := gitOut(context.Background(), root, "worktree", "remove", "--force", dir)
		return err
	}
	label := rev
	if short := hash[:7]; !strings.HasPrefix(rev, short) {
		label = fmt.Sprintf("%s (%s)", rev, short)
	}
	return &tree{label: label, dir: dir}, cleanup, nil
}

// workingTree is the repository's own checkout, with what is not
// committed yet.
func workingTree(ctx context.Context, root string) (*tree, error) {
	desc, err := gitOut(ctx, root, "describe", "--always", "--dirty")
	if err != nil {
		return nil, err
	}
	return &tree{label: "working tree (" + desc + ")", dir: root}, nil
}

func gitOut(ctx context.Context, dir string, args ...string) (string, error) {
	cmd := exec.CommandContext(ctx, "git", args...)
	cmd.Dir = dir
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return "", fmt.Errorf("git %s: %v: %s", strings.Join(args, " "), err, strings.TrimSpace(stderr.String()))
	}
	return strings.TrimSpace(string(out)), nil
}

// build compiles the test binary of each package the paths need. A
// package that does not build in t gives its paths "n/a", with the
// compiler's output on stderr: an old commit may not have it.
func build(ctx context.Context, t *tree, ps []path, dir string, stderr io.Writer) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	t.bins = map[string]string{}
	for i, p := range ps {
		if _, done := t.bins[p.pkg]; done || seenBefore(ps[:i], p.pkg) {
			continue
		}
		bin := filepath.Join(dir, fmt.Sprintf("pkg%d.test", i))
		cmd := exec.CommandContext(ctx, "go", "test", "-c", "-o", bin, p.pkg)
		cmd.Dir = t.dir
		out, err := cmd.CombinedOutput()
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if err != nil {
			fmt.Fprintf(stderr, "%s: %s does not build; its paths are n/a:\n%s\n", t.label, p.pkg, out)
			continue
		}
		t.bins[p.pkg] = bin
	}
	return nil
}

func seenBefore(ps []path, pkg string) bool {
	for _, p := range ps {
		if p.pkg == pkg {
			return true
		}
	}
	return false
}

// job is one callgrind run: a path in a tree, for n iterations.
type job struct {
	tree, path int
	n          int
}

// outcome is what a job found: the instructions, or why there are none.
type outcome struct {
	instructions int64
	na           string
}

// runAll runs every job, c.jobs at once, the longer runs first, and
// returns each tree's results by path.
func runAll(ctx context.Context, c config, trees []*tree, stderr io.Writer) ([][]result, error) {
	var jobs []job
	for _, n := range []int{c.n2, c.n1} {
		for pi := range c.paths {
			for ti, t := range trees {
				if _, ok := t.bins[c.paths[pi].pkg]; ok {
					jobs = append(jobs, job{ti, pi, n})
				}
			}
		}
	}
	outcomes := make(map[job]outcome)
	var mu sync.Mutex
	var wg sync.WaitGroup
	next := make(chan job)
	for range c.jobs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := range next {
				t, p := trees[j.tree], c.paths[j.path]
				fmt.Fprintf(stderr, "%s: %s, %d iterations\n", t.label, p.name, j.n)
				o := runOne(ctx, t, p, j.n, c.gogc, stderr)
				mu.Lock()
				outcomes[j] = o
				mu.Unlock()
			}
		}()
	}
	for _, j := range jobs {
		select {
		case next <- j:
		case <-ctx.Done():
		}
	}
	close(next)
	wg.Wait()
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	results := make([][]result, len(trees))
	for ti, t := range trees {
		results[ti] = make([]result, len(c.paths))
		for pi, p := range c.paths {
			if _, ok := t.bins[p.pkg]; !ok {
				results[ti][pi] = result{na: "n/a"}
				continue
			}
			results[ti][pi] = perOp(outcomes[job{ti, pi, c.n1}], outcomes[job{ti, pi, c.n2}], c.n1, c.n2)
		}
	}
	return results, nil
}

// perOp is the cost of one iteration from the runs of n1 and n2.
func perOp(o1, o2 outcome, n1, n2 int) result {
	switch {
	case o1.na == "failed" || o2.na == "failed":
		return result{na: "failed"}
	case o1.na != "" || o2.na != "":
		return result{na: "n/a"}
	}
	return result{perOp: float64(o2.instructions-o1.instructions) / float64(n2-n1)}
}

// runOne runs p's benchmark for n iterations under callgrind, in the
// package's directory as go test would.
func runOne(ctx context.Context, t *tree, p path, n int, gogc string, stderr io.Writer) outcome {
	cmd := exec.CommandContext(ctx, "valgrind", "--tool=callgrind", "--callgrind-out-file=/dev/null",
		t.bins[p.pkg], "-test.run", "^$", "-test.bench", p.pattern(), "-test.benchtime", fmt.Sprintf("%dx", n))
	cmd.Dir = filepath.Join(t.dir, p.pkg)
	cmd.Env = append(os.Environ(), "GOMAXPROCS=1", "GODEBUG=asyncpreemptoff=1", "GOGC="+gogc)
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err := cmd.Run()
	if ctx.Err() != nil {
		return outcome{na: "failed"}
	}
	if err != nil {
		fmt.Fprintf(stderr, "%s: %s failed: %v\n%s%s\n", t.label, p.name, err, out.Bytes(), tail(errOut.String(), 20))
		return outcome{na: "failed"}
	}
	if why := checkRan(out.String(), p.bench, n); why != "" {
		fmt.Fprintf(stderr, "%s: %s is n/a: %s\n", t.label, p.name, why)
		return outcome{na: "n/a"}
	}
	ins, ok := collected(errOut.String())
	if !ok {
		fmt.Fprintf(stderr, "%s: %s: no \"Collected\" line from callgrind:\n%s\n", t.label, p.name, tail(errOut.String(), 20))
		return outcome{na: "failed"}
	}
	return outcome{instructions: ins}
}

var collectedRE = regexp.MustCompile(`(?m)^==\d+== Collected : (\d+)$`)

// collected reads the instructions callgrind counted from its stderr.
func collected(stderr string) (int64, bool) {
	m := collectedRE.FindAllStringSubmatch(stderr, -1)
	if len(m) != 1 {
		return 0, false
	}
	n, err := strconv.ParseInt(m[0][1], 10, 64)
	return n, err == nil
}

// checkRan reports why the test binary's output is not one result of
// the benchmark named bench with n iterations, or "" when it is: a
// commit may not have the benchmark, or name its sub-benchmarks so that
// the pattern selects others too.
func checkRan(stdout, bench string, n int) string {
	var names []string
	found := false
	sc := bufio.NewScanner(strings.NewReader(stdout))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) < 4 || !strings.HasPrefix(f[0], "Benchmark") || f[3] != "ns/op" {
			continue
		}
		count, err := strconv.Atoi(f[1])
		if err != nil {
			continue
		}
		names = append(names, f[0])
		if f[0] == bench && count == n {
			found = true
		}
	}
	switch {
	case len(names) == 0:
		return "no such benchmark"
	case !found || len(names) > 1:
		return fmt.Sprintf("the pattern ran %s, want %s alone, %d times", strings.Join(names, ", "), bench, n)
	}
	return ""
}

func tail(s string, lines int) string {
	l := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(l) > lines {
		l = l[len(l)-lines:]
	}
	return strings.Join(l, "\n")
}
