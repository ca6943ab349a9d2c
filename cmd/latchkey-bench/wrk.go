package main

import (
	"bytes"
	"context"
	"embed"
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"
)

//go:embed lua/*.lua
var luaFS embed.FS

// scripts are the wrk scripts by name, each common.lua and its parts:
// solo is walk with each request timed by the script (timed.lua).
var scripts = map[string][]string{
	"static": {"static"},
	"walk":   {"walk"},
	"solo":   {"walk", "timed"},
	"login":  {"login"},
}

// writeScripts writes the wrk scripts to dir and returns their paths by
// name.
func writeScripts(dir string) (map[string]string, error) {
	paths := map[string]string{}
	for name, parts := range scripts {
		var body []byte
		for _, part := range append([]string{"common"}, parts...) {
			b, err := luaFS.ReadFile("lua/" + part + ".lua")
			if err != nil {
				return nil, err
			}
			body = append(append(body, b...), '\n')
		}
		p := filepath.Join(dir, name+".lua")
		if err := os.WriteFile(p, body, 0o644); err != nil {
			return nil, err
		}
		paths[name] = p
	}
	return paths, nil
}

// load is one wrk run.
type load struct {
	script      string   // path of the Lua script
	url         string   // target
	headers     []string // -H values
	args        []string // script arguments, after "--"
	threads     int
	connections int
	duration    time.Duration
	// doneFiles, when set, are written by the script's threads as each
	// runs out of work; wrk is ended once they all exist.
	doneFiles []string
}

// result is what one wrk run measured.
type result struct {
	Requests int64
	Elapsed  time.Duration // from the first request sent to the last
	RPS      float64
	P50, P99 time.Duration
	Max      time.Duration
	Used     int64 // tokens the walk script sent
	// Errors counts failed connections, reads, writes and timeouts, and
	// responses with a status of 400 or more.
	Errors int64
	Status int64 // the part of Errors that are statuses ≥ 400
	// Hist counts requests by latency in microseconds, as wrk reports
	// it: corrected for coordinated omission, with the mean interval
	// between a connection's requests as the expected one, so that a
	// request k intervals long also adds requests of k−1, k−2, … 1
	// intervals. On one connection that makes one slow request count as
	// many.
	Hist map[int64]int64
	// Timed counts the requests by the latency the script timed itself
	// (the solo script: threads of one connection each), without wrk's
	// correction; nil for other scripts.
	Timed              map[int64]int64
	TimedP50, TimedP99 time.Duration
}

// merge adds up runs of one scenario, taken in rounds: counts and times
// add, and the percentiles come from the merged histograms.
func merge(rs []result) result {
	var m result
	m.Hist = map[int64]int64{}
	for _, r := range rs {
		m.Requests += r.Requests
		m.Elapsed += r.Elapsed
		m.Used += r.Used
		m.Errors += r.Errors
		m.Status += r.Status
		m.Max = max(m.Max, r.Max)
		for v, c := range r.Hist {
			m.Hist[v] += c
		}
		for v, c := range r.Timed {
			if m.Timed == nil {
				m.Timed = map[int64]int64{}
			}
			m.Timed[v] += c
		}
	}
	m.TimedP50, m.TimedP99 = percentile(m.Timed, 50), percentile(m.Timed, 99)
	if m.Elapsed > 0 {
		m.RPS = float64(m.Requests) / m.Elapsed.Seconds()
	}
	m.P50, m.P99 = percentile(m.Hist, 50), percentile(m.Hist, 99)
	return m
}

// percentile is wrk's: the smallest latency whose cumulative count
// reaches round(p% of the count + 0.5).
func percentile(hist map[int64]int64, p float64) time.Duration {
	var total int64
	vs := make([]int64, 0, len(hist))
	for v, c := range hist {
		total += c
		vs = append(vs, v)
	}
	if total == 0 {
		return 0
	}
	slices.Sort(vs)
	rank := int64(math.Round(p/100*float64(total) + 0.5))
	var cum int64
	for _, v := range vs {
		if cum += hist[v]; cum >= rank {
			return time.Duration(v) * time.Microsecond
		}
	}
	return time.Duration(vs[len(vs)-1]) * time.Microsecond
}

// runWrk runs wrk and parses the line the scripts' done() prints.
func runWrk(ctx context.Context, wrk string, l load) (result, error) {
	secs := int((l.duration + time.Second - 1) / time.Second)
	args := []string{"-t", strconv.Itoa(l.threads), "-c", strconv.Itoa(l.connections),
		"-d", strconv.Itoa(secs) + "s", "--timeout", "5s", "-s", l.script}
	for _, h := range l.headers {
		args = append(args, "-H", h)
	}
	args = append(args, l.url)
	if len(l.args) > 0 {
		args = append(append(args, "--"), l.args...)
	}
	for _, f := range l.doneFiles {
		os.Remove(f)
	}
	var out bytes.Buffer
	cmd := exec.Command(wrk, args...)
	cmd.Stdout, cmd.Stderr = &out, &out
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return result{}, fmt.Errorf("wrk: %w", err)
	}
	waited := make(chan error, 1)
	go func() { waited <- cmd.Wait() }()

	// wrk prints its results on SIGINT as at the end of its duration.
	interrupt := func() { cmd.Process.Signal(syscall.SIGINT) }
	var poll <-chan time.Time
	if len(l.doneFiles) > 0 {
		t := time.NewTicker(20 * time.Millisecond)
		defer t.Stop()
		poll = t.C
	}
	hard := time.NewTimer(time.Duration(secs)*time.Second + 30*time.Second)
	defer hard.Stop()
	var err error
wait:
	for {
		select {
		case err = <-waited:
			break wait
		case <-poll:
			if allExist(l.doneFiles) {
				interrupt()
				poll = nil
			}
		case <-ctx.Done():
			interrupt()
			select {
			case <-waited:
			case <-time.After(5 * time.Second):
				cmd.Process.Kill()
				<-waited
			}
			return result{}, ctx.Err()
		case <-hard.C:
			cmd.Process.Kill()
			<-waited
			return result{}, fmt.Errorf("wrk did not end within its duration and 30 s:\n%s", out.String())
		}
	}
	if err != nil {
		return result{}, fmt.Errorf("wrk %s: %w\n%s", strings.Join(args, " "), err, out.String())
	}
	return parseReport(out.String())
}

func allExist(paths []string) bool {
	for _, p := range paths {
		if _, err := os.Stat(p); err != nil {
			return false
		}
	}
	return true
}

// parseReport reads the LKBENCH and LKHIST lines of common.lua's done().
func parseReport(out string) (result, error) {
	var line, hist, timed string
	for _, l := range strings.Split(out, "\n") {
		if rest, ok := strings.CutPrefix(l, "LKBENCH "); ok {
			line = rest
		}
		if rest, ok := strings.CutPrefix(l, "LKHIST "); ok {
			hist = rest
		}
		if rest, ok := strings.CutPrefix(l, "LKRAW "); ok {
			timed = rest
		}
	}
	if line == "" {
		return result{}, fmt.Errorf("wrk printed no LKBENCH line:\n%s", out)
	}
	v := map[string]int64{}
	for _, f := range strings.Fields(line) {
		k, s, ok := strings.Cut(f, "=")
		if !ok {
			return result{}, fmt.Errorf("wrk report: odd field %q", f)
		}
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			return result{}, fmt.Errorf("wrk report: %s: %w", k, err)
		}
		v[k] = n
	}
	r := result{
		Requests: v["requests"],
		Elapsed:  time.Duration(v["elapsed_us"]) * time.Microsecond,
		P50:      time.Duration(v["p50_us"]) * time.Microsecond,
		P99:      time.Duration(v["p99_us"]) * time.Microsecond,
		Max:      time.Duration(v["max_us"]) * time.Microsecond,
		Used:     v["used"],
		Status:   v["status"],
		Errors:   v["connect"] + v["read"] + v["write"] + v["timeout"] + v["status"],
	}
	if r.Elapsed > 0 {
		r.RPS = float64(r.Requests) / r.Elapsed.Seconds()
	}
	var err error
	if r.Hist, err = parseHist(hist); err != nil {
		return result{}, err
	}
	if r.Timed, err = parseHist(timed); err != nil {
		return result{}, err
	}
	r.TimedP50, r.TimedP99 = percentile(r.Timed, 50), percentile(r.Timed, 99)
	return r, nil
}

// parseHist reads a histogram line's value:count pairs; nil when empty.
func parseHist(line string) (map[int64]int64, error) {
	if line == "" {
		return nil, nil
	}
	h := map[int64]int64{}
	for _, f := range strings.Fields(line) {
		vs, cs, ok := strings.Cut(f, ":")
		v, err1 := strconv.ParseInt(vs, 10, 64)
		c, err2 := strconv.ParseInt(cs, 10, 64)
		if !ok || err1 != nil || err2 != nil {
			return nil, fmt.Errorf("wrk report: odd histogram entry %q", f)
		}
		h[v] += c
	}
	return h, nil
}

// wrkVersion returns wrk's version line.
func wrkVersion(wrk string) string {
	out, _ := exec.Command(wrk, "-v").CombinedOutput()
	first, _, _ := strings.Cut(string(out), "\n")
	if v, _, ok := strings.Cut(first, " ["); ok {
		return v
	}
	return strings.TrimSpace(first)
}
