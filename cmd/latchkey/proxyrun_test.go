package main

import (
	"fmt"
	"net"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// Running the reverse proxies of the proxy tests: Debian's nginx and
// Caddy, with the README's own configurations, on loopback ports of
// their own, their state in the test's directories.

// readmeMarker precedes each configuration of the README that a test
// runs as it is.
const readmeMarker = "<!-- proxy_test.go runs this configuration as it is here: keep it in one block. -->"

// readmeConfig returns the README's fenced block of lang that follows
// readmeMarker.
func readmeConfig(tb testing.TB, lang string) string {
	tb.Helper()
	b, err := os.ReadFile(filepath.Join("..", "..", "README.md"))
	if err != nil {
		tb.Fatal(err)
	}
	open := readmeMarker + "\n```" + lang + "\n"
	_, rest, ok := strings.Cut(string(b), open)
	if !ok {
		tb.Fatalf("README.md has no %q block after %q", lang, readmeMarker)
	}
	block, _, ok := strings.Cut(rest, "\n```\n")
	if !ok {
		tb.Fatalf("README.md's %s block does not end", lang)
	}
	return block + "\n"
}

// replaceOnce replaces each old (pairs of old, new) in s, failing unless
// old is there exactly once: the README's addresses are what the tests
// swap for their own.
func replaceOnce(tb testing.TB, s string, pairs ...string) string {
	tb.Helper()
	for i := 0; i+1 < len(pairs); i += 2 {
		if n := strings.Count(s, pairs[i]); n != 1 {
			tb.Fatalf("%q is %d times in the configuration, want once:\n%s", pairs[i], n, s)
		}
		s = strings.Replace(s, pairs[i], pairs[i+1], 1)
	}
	return s
}

// needProxy finds the program name (on PATH, or in dirs), or skips tb,
// failing it under CI=true, where the proxies must be installed.
func needProxy(tb testing.TB, name string, dirs ...string) string {
	tb.Helper()
	if testing.Short() {
		tb.Skip("runs a reverse proxy and the binary")
	}
	if p, err := exec.LookPath(name); err == nil {
		return p
	}
	for _, d := range dirs {
		if p := filepath.Join(d, name); isExecutable(p) {
			return p
		}
	}
	want := fmt.Sprintf("this test runs %s in front of latchkey: install it (apt-get install -y %s)", name, name)
	if os.Getenv("CI") == "true" {
		tb.Fatalf("%s, which CI=true requires", want)
	}
	tb.Skipf("skipped: %s", want)
	return ""
}

func isExecutable(p string) bool {
	fi, err := os.Stat(p)
	return err == nil && fi.Mode().IsRegular() && fi.Mode()&0o111 != 0
}

// freeAddr returns a loopback address with a port free a moment ago.
func freeAddr(tb testing.TB) string {
	tb.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// hostPort is the host:port of a URL.
func hostPort(tb testing.TB, u string) string {
	tb.Helper()
	p, err := url.Parse(u)
	if err != nil {
		tb.Fatal(err)
	}
	return p.Host
}

// runProxy starts cmd, which is to listen on addr, and stops it with
// SIGTERM (then SIGKILL) when tb ends.
func runProxy(tb testing.TB, cmd *exec.Cmd, addr string) {
	tb.Helper()
	out := &lockedBuffer{}
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		tb.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	tb.Cleanup(func() {
		cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			cmd.Process.Kill()
			<-done
		}
	})
	deadline := time.Now().Add(20 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			c.Close()
			return
		}
		select {
		case err := <-done:
			done <- err // for the cleanup
			tb.Fatalf("%s exited: %v\n%s", cmd.Path, err, out)
		default:
		}
		if time.Now().After(deadline) {
			tb.Fatalf("%s does not listen on %s:\n%s", cmd.Path, addr, out)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// startNginx runs nginx with the README's configuration, latchkey at lk
// and the application at app (host:port each), unprivileged-style: its
// pid, logs and temporary files in a directory of the test's. extra is
// added to the http block. It returns the base URL of the protected site.
func startNginx(tb testing.TB, lk, app, extra string) string {
	tb.Helper()
	bin := needProxy(tb, "nginx", "/usr/sbin")
	dir := tb.TempDir()
	addr := freeAddr(tb)
	site := replaceOnce(tb, readmeConfig(tb, "nginx"),
		"listen 80;", "listen "+addr+";",
		"server 127.0.0.1:8080;", "server "+lk+";",
		"server 127.0.0.1:3000;", "server "+app+";")
	user := ""
	if os.Geteuid() == 0 {
		// Workers would run as nobody, who cannot enter the test's
		// directories.
		user = "user root root;\n"
	}
	conf := fmt.Sprintf(`%sworker_processes 1;
pid %[2]s/nginx.pid;
error_log stderr warn;
events {
    worker_connections 1024;
}
http {
    access_log off;
    client_body_temp_path %[2]s/client_body;
    proxy_temp_path %[2]s/proxy;
    fastcgi_temp_path %[2]s/fastcgi;
    uwsgi_temp_path %[2]s/uwsgi;
    scgi_temp_path %[2]s/scgi;
%[3]s
%[4]s}
`, user, dir, site, extra)
	path := filepath.Join(dir, "nginx.conf")
	if err := os.WriteFile(path, []byte(conf), 0o600); err != nil {
		tb.Fatal(err)
	}
	cmd := exec.Command(bin, "-p", dir, "-c", path, "-e", "stderr", "-g", "daemon off;")
	runProxy(tb, cmd, addr)
	return "http://" + addr
}

// startCaddy runs Caddy with the README's configuration, latchkey at lk
// and the application at app, with its admin endpoint off and its state
// in a directory of the test's. It returns the base URL of the site.
func startCaddy(tb testing.TB, lk, app string) string {
	tb.Helper()
	bin := needProxy(tb, "caddy")
	dir := tb.TempDir()
	addr := freeAddr(tb)
	site := replaceOnce(tb, readmeConfig(tb, "caddyfile"),
		"app.example.com {", "http://"+addr+" {",
		"forward_auth 127.0.0.1:8080 {", "forward_auth "+lk+" {",
		"reverse_proxy 127.0.0.1:3000", "reverse_proxy "+app)
	conf := "{\n\tadmin off\n\tauto_https off\n\tstorage file_system " + filepath.Join(dir, "data") + "\n}\n\n" + site
	path := filepath.Join(dir, "Caddyfile")
	if err := os.WriteFile(path, []byte(conf), 0o600); err != nil {
		tb.Fatal(err)
	}
	cmd := exec.Command(bin, "run", "--config", path, "--adapter", "caddyfile")
	cmd.Env = append(os.Environ(), "HOME="+dir, "XDG_CONFIG_HOME="+dir, "XDG_DATA_HOME="+dir)
	runProxy(tb, cmd, addr)
	return "http://" + addr
}
