package pgtest

import (
	"bytes"
	"cmp"
	"context"
	"fmt"
	"net"
	"net/url"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/latchkeyhq/latchkey/tlstest"
)

// missing skips tb for want, or fails it under CI=true.
func missing(tb testing.TB, want string) {
	tb.Helper()
	if os.Getenv("CI") == "true" {
		tb.Fatalf("%s, which CI=true requires", want)
	}
	tb.Skipf("skipped: %s", want)
}

// TLSServer is a PostgreSQL cluster of a test's own, made with initdb in a
// temporary directory, that takes TCP connections over TLS only (pg_hba's
// hostssl) on 127.0.0.1 and 127.0.0.2, with a certificate of the test's CA
// for 127.0.0.1 and localhost: 127.0.0.2 is an address the certificate
// does not name. Its superuser is postgres, with trust authentication,
// and it persists nothing worth keeping (fsync off).
//
// initdb refuses to run as root: as root, the cluster runs as the
// postgres user (which the server's packages create), its directory
// given to that user; otherwise as the current user.
type TLSServer struct {
	CA   *tlstest.CA
	Port int
}

// StartTLSServer starts a cluster signed by ca, stopped and removed when
// tb ends. It skips tb when the PostgreSQL server's programs cannot be
// found (fails it under CI=true). A cluster takes a second or two to make:
// share one among the subtests of a test.
func StartTLSServer(tb testing.TB, ca *tlstest.CA) *TLSServer {
	tb.Helper()
	bin := serverBinDir(tb)
	cred, uid, gid := runAs(tb)
	dir, err := os.MkdirTemp("", "latchkey-pgtls-")
	if err != nil {
		tb.Fatalf("pgtest: %v", err)
	}
	tb.Cleanup(func() { os.RemoveAll(dir) })
	pair := ca.Issue(tb, "127.0.0.1", "localhost")
	files := map[string][]byte{"server.crt": pair.CertPEM, "server.key": pair.KeyPEM}
	for name, data := range files {
		// The server refuses a key that others may read.
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o600); err != nil {
			tb.Fatalf("pgtest: %v", err)
		}
	}
	if cred != nil {
		for _, name := range []string{"", "server.crt", "server.key"} {
			if err := os.Chown(filepath.Join(dir, name), uid, gid); err != nil {
				tb.Fatalf("pgtest: give the cluster's directory to the postgres user: %v", err)
			}
		}
	}
	data := filepath.Join(dir, "data")
	initdb := exec.Command(filepath.Join(bin, "initdb"), "-D", data, "-U", "postgres", "--auth=trust",
		"--no-sync", "-E", "UTF8", "--locale=C")
	initdb.Dir, initdb.SysProcAttr = dir, &syscall.SysProcAttr{Credential: cred}
	if out, err := initdb.CombinedOutput(); err != nil {
		tb.Fatalf("pgtest: initdb: %v\n%s", err, out)
	}
	hba := "local all all trust\nhostssl all all 127.0.0.1/32 trust\nhostssl all all 127.0.0.2/32 trust\n"
	if err := os.WriteFile(filepath.Join(data, "pg_hba.conf"), []byte(hba), 0o600); err != nil {
		tb.Fatalf("pgtest: %v", err)
	}

	s := &TLSServer{CA: ca, Port: freePort(tb)}
	var out lockedBuffer
	cmd := exec.Command(filepath.Join(bin, "postgres"), "-D", data,
		"-c", "listen_addresses=127.0.0.1,127.0.0.2",
		"-c", "port="+strconv.Itoa(s.Port),
		"-c", "unix_socket_directories="+dir,
		"-c", "ssl=on",
		"-c", "ssl_cert_file="+filepath.Join(dir, "server.crt"),
		"-c", "ssl_key_file="+filepath.Join(dir, "server.key"),
		"-c", "fsync=off", "-c", "synchronous_commit=off", "-c", "full_page_writes=off")
	cmd.Dir, cmd.SysProcAttr = dir, &syscall.SysProcAttr{Credential: cred}
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		tb.Fatalf("pgtest: start postgres: %v", err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	tb.Cleanup(func() {
		// A fast shutdown: sessions are ended, nothing is kept.
		cmd.Process.Signal(syscall.SIGINT)
		select {
		case <-exited:
		case <-time.After(10 * time.Second):
			cmd.Process.Kill()
			<-exited
		}
	})

	deadline := time.Now().Add(30 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		conn, err := pgx.Connect(ctx, s.URL())
		cancel()
		if err == nil {
			conn.Close(context.Background())
			return s
		}
		select {
		case werr := <-exited:
			exited <- werr // for the cleanup
			tb.Fatalf("pgtest: postgres exited: %v\n%s", werr, out.String())
		default:
		}
		if time.Now().After(deadline) {
			tb.Fatalf("pgtest: the TLS cluster does not answer: %v\n%s", err, out.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// URL is the cluster's postgres database for its superuser, checked as
// libpq's sslmode=verify-full does: the certificate is the CA's, and
// names 127.0.0.1.
func (s *TLSServer) URL() string {
	return s.URLWith("127.0.0.1", "sslmode=verify-full", "sslrootcert="+s.CA.File)
}

// URLWith is a URL of the cluster on host with these query parameters
// (key=value) and no others.
func (s *TLSServer) URLWith(host string, params ...string) string {
	u := url.URL{
		Scheme:   "postgres",
		User:     url.User("postgres"),
		Host:     net.JoinHostPort(host, strconv.Itoa(s.Port)),
		Path:     "/postgres",
		RawQuery: strings.Join(params, "&"),
	}
	return u.String()
}

// serverBinDir is the directory of initdb and postgres: where PATH finds
// initdb, else the newest of Debian's /usr/lib/postgresql/VERSION/bin.
func serverBinDir(tb testing.TB) string {
	tb.Helper()
	if p, err := exec.LookPath("initdb"); err == nil {
		dir := filepath.Dir(p)
		if _, err := os.Stat(filepath.Join(dir, "postgres")); err == nil {
			return dir
		}
	}
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	slices.SortFunc(dirs, func(a, b string) int {
		va, _ := strconv.ParseFloat(filepath.Base(filepath.Dir(a)), 64)
		vb, _ := strconv.ParseFloat(filepath.Base(filepath.Dir(b)), 64)
		return cmp.Compare(va, vb)
	})
	for i := len(dirs) - 1; i >= 0; i-- {
		if _, err := os.Stat(filepath.Join(dirs[i], "initdb")); err == nil {
			return dirs[i]
		}
	}
	missing(tb, "this test starts a PostgreSQL cluster of its own: it needs initdb and postgres on PATH or in /usr/lib/postgresql/VERSION/bin (Debian's postgresql package)")
	return ""
}

// runAs is who runs the cluster: nil (the current user) unless that is
// root, which initdb refuses; then the postgres user.
func runAs(tb testing.TB) (cred *syscall.Credential, uid, gid int) {
	tb.Helper()
	if os.Geteuid() != 0 {
		return nil, 0, 0
	}
	u, err := user.Lookup("postgres")
	if err != nil {
		missing(tb, "this test runs as root, which initdb refuses, and there is no postgres user to run the cluster as")
	}
	uid, err1 := strconv.Atoi(u.Uid)
	gid, err2 := strconv.Atoi(u.Gid)
	if err1 != nil || err2 != nil {
		tb.Fatalf("pgtest: the postgres user has uid %q, gid %q", u.Uid, u.Gid)
	}
	return &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}, uid, gid
}

// freePort is a TCP port that was free on 127.0.0.1 a moment ago.
func freePort(tb testing.TB) int {
	tb.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatalf("pgtest: find a free port: %v", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// lockedBuffer collects the server's output while the test may read it.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// String names the cluster in test logs.
func (s *TLSServer) String() string { return fmt.Sprintf("TLS PostgreSQL on port %d", s.Port) }
