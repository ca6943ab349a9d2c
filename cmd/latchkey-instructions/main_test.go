package main

import (
	"bytes"
	"io"
	"strings"
	"testing"
)

func TestPattern(t *testing.T) {
	for _, tc := range []struct{ bench, want string }{
		{"BenchmarkServe/me", "^BenchmarkServe$/^me$"},
		{"BenchmarkServe/me-metrics", "^BenchmarkServe$/^me-metrics$"},
		{"BenchmarkAuthenticateMiss", "^BenchmarkAuthenticateMiss$"},
	} {
		if got := (path{bench: tc.bench}).pattern(); got != tc.want {
			t.Errorf("pattern of %s = %q, want %q", tc.bench, got, tc.want)
		}
	}
}

func TestCheckRan(t *testing.T) {
	for _, tc := range []struct {
		name, out string
		ok        bool
	}{
		{"one", "goos: linux\nBenchmarkServe/me \t    2000\t    661634 ns/op\nPASS\n", true},
		{"wrong count", "BenchmarkServe/me \t    1999\t    661634 ns/op\nPASS\n", false},
		{"none", "testing: warning: no tests to run\nPASS\n", false},
		{"its metrics too", "BenchmarkServe/me \t 2000\t 1 ns/op\nBenchmarkServe/me/metrics \t 2000\t 1 ns/op\n", false},
		{"procs suffix", "BenchmarkServe/me-2 \t 2000\t 1 ns/op\n", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			why := checkRan(tc.out, "BenchmarkServe/me", 2000)
			if (why == "") != tc.ok {
				t.Errorf("checkRan = %q, want ok %v", why, tc.ok)
			}
		})
	}
}

func TestCollected(t *testing.T) {
	n, ok := collected("==31746== Events    : Ir\n==31746== Collected : 368714880\n==31746== \n==31746== I   refs:      368,714,880\n")
	if !ok || n != 368714880 {
		t.Errorf("collected = %d, %v", n, ok)
	}
	if _, ok := collected("valgrind: no such file\n"); ok {
		t.Error("collected found a count in an error")
	}
}

func TestPerOp(t *testing.T) {
	r := perOp(outcome{instructions: 170_000_000}, outcome{instructions: 420_000_000}, 1000, 6000)
	if r.na != "" || r.perOp != 50_000 {
		t.Errorf("perOp = %+v, want 50,000", r)
	}
	if r := perOp(outcome{na: "n/a"}, outcome{instructions: 1}, 1000, 6000); r.na != "n/a" {
		t.Errorf("perOp of a missing run = %+v, want n/a", r)
	}
	if r := perOp(outcome{na: "failed"}, outcome{na: "n/a"}, 1000, 6000); r.na != "failed" {
		t.Errorf("perOp of a failed run = %+v, want failed", r)
	}
}

func TestWriteTable(t *testing.T) {
	ps := []path{{name: "me", what: "GET /v1/me"}, {name: "login-failure", what: "a wrong password"}}
	trees := []*tree{{label: "main~1 (50cd7d5)"}, {label: "HEAD (b0b4311)"}}
	results := [][]result{
		{{na: "n/a"}, {perOp: 244_349}},
		{{perOp: 49_160}, {perOp: 122_150}},
	}
	var b bytes.Buffer
	if err := writeTable(&b, ps, trees, results); err != nil {
		t.Fatal(err)
	}
	want := `| path | what | instructions/op, main~1 (50cd7d5) | HEAD (b0b4311) | new/old |
| --- | --- | ---: | ---: | ---: |
| me | GET /v1/me | n/a | 49,200 | n/a |
| login-failure | a wrong password | 244,300 | 122,200 | 0.50 |
`
	if b.String() != want {
		t.Errorf("table:\n%s\nwant:\n%s", b.String(), want)
	}
}

func TestParseConfig(t *testing.T) {
	for _, tc := range []struct {
		args []string
		ok   bool
	}{
		{nil, true},
		{[]string{"main~1"}, true},
		{[]string{"-n1", "100", "-n2", "600", "-paths", "me,healthz", "a", "b"}, true},
		{[]string{"a", "b", "c"}, false},
		{[]string{"-n1", "600", "-n2", "600"}, false},
		{[]string{"-paths", "nope"}, false},
		{[]string{"-j", "0"}, false},
	} {
		_, err := parseConfig(tc.args, io.Discard)
		if (err == nil) != tc.ok {
			t.Errorf("parseConfig(%s): %v, want ok %v", strings.Join(tc.args, " "), err, tc.ok)
		}
	}
	c, _ := parseConfig([]string{"-paths", "login-failure,me"}, io.Discard)
	if len(c.paths) != 2 || c.paths[0].name != "me" {
		t.Errorf("-paths login-failure,me selected %v, want me first, in the table's order", c.paths)
	}
}

func TestCheck(t *testing.T) {
	trees := []*tree{{label: "a"}}
	ps := []path{{name: "me"}, {name: "healthz"}}
	na := [][]result{{{perOp: 1}, {na: "n/a"}}}
	failed := [][]result{{{perOp: 1}, {na: "failed"}}}
	if err := check(config{paths: ps}, trees, na); err != nil {
		t.Errorf("n/a failed without -strict: %v", err)
	}
	if err := check(config{paths: ps, strict: true}, trees, na); err == nil {
		t.Error("n/a passed with -strict")
	}
	if err := check(config{paths: ps}, trees, failed); err == nil {
		t.Error("a failed run passed")
	}
}
