package deadline_test

import (
	"bufio"
	"errors"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/latchkeyhq/latchkey/internal/deadline"
)

// pair returns a connection accepted by a swept listener whose sweeper
// never ticks by itself (the test sweeps), and the client's end.
func pair(t *testing.T) (*deadline.Listener, net.Conn, net.Conn) {
	t.Helper()
	tcp, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	l := deadline.NewListener(tcp, time.Hour)
	t.Cleanup(func() { l.Close() })
	client, err := net.Dial("tcp", tcp.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { client.Close() })
	server, err := l.Accept()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { server.Close() })
	return l, server, client
}

// read starts a one-byte read and returns where its result will arrive.
func read(c net.Conn) <-chan error {
	done := make(chan error, 1)
	go func() {
		var b [1]byte
		_, err := c.Read(b[:])
		done <- err
	}()
	return done
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.Is(err, os.ErrDeadlineExceeded) && errors.As(err, &ne) && ne.Timeout()
}

// blocked fails the test if the read has ended within a moment.
func blocked(t *testing.T, done <-chan error) {
	t.Helper()
	select {
	case err := <-done:
		t.Fatalf("read ended: %v", err)
	case <-time.After(50 * time.Millisecond):
	}
}

func wait(t *testing.T, done <-chan error) error {
	t.Helper()
	select {
	case err := <-done:
		return err
	case <-time.After(10 * time.Second):
		t.Fatal("read still blocked")
		return nil
	}
}

func TestReadDeadlineSwept(t *testing.T) {
	l, server, client := pair(t)
	t0 := time.Now()
	server.SetReadDeadline(t0.Add(time.Second))
	done := read(server)
	l.Sweep(t0.Add(999 * time.Millisecond)) // not yet due
	blocked(t, done)
	l.Sweep(t0.Add(time.Second))
	if err := wait(t, done); !isTimeout(err) {
		t.Fatalf("read after its deadline: %v, want a timeout", err)
	}
	// Lifting the deadline lets reads go on.
	server.SetReadDeadline(time.Time{})
	done = read(server)
	blocked(t, done)
	client.Write([]byte("x"))
	if err := wait(t, done); err != nil {
		t.Fatalf("read after the deadline was lifted: %v", err)
	}
}

func TestExtendedBeforeSweep(t *testing.T) {
	l, server, client := pair(t)
	t0 := time.Now()
	server.SetReadDeadline(t0.Add(time.Second))
	server.SetReadDeadline(t0.Add(time.Hour))
	done := read(server)
	l.Sweep(t0.Add(2 * time.Second))
	blocked(t, done)
	client.Write([]byte("x"))
	if err := wait(t, done); err != nil {
		t.Fatalf("read with an extended deadline: %v", err)
	}
}

func TestExtendedAfterExpiry(t *testing.T) {
	l, server, client := pair(t)
	t0 := time.Now()
	server.SetDeadline(t0.Add(time.Second))
	l.Sweep(t0.Add(2 * time.Second))
	// The deadline passed: a read now fails at once, as with a timer.
	if err := wait(t, read(server)); !isTimeout(err) {
		t.Fatalf("read after its deadline: %v, want a timeout", err)
	}
	if _, err := server.Write([]byte("x")); !isTimeout(err) {
		t.Fatalf("write after its deadline: %v, want a timeout", err)
	}
	server.SetDeadline(t0.Add(time.Hour))
	done := read(server)
	blocked(t, done)
	client.Write([]byte("x"))
	if err := wait(t, done); err != nil {
		t.Fatalf("read with a new deadline: %v", err)
	}
	if _, err := server.Write([]byte("x")); err != nil {
		t.Fatalf("write with a new deadline: %v", err)
	}
}

// A deadline already past takes effect without a sweep: net/http wakes its
// background read so, and waits for it.
func TestPastDeadlineAtOnce(t *testing.T) {
	_, server, _ := pair(t)
	done := read(server)
	blocked(t, done)
	server.SetReadDeadline(time.Unix(1, 0))
	if err := wait(t, done); !isTimeout(err) {
		t.Fatalf("read after a past deadline: %v, want a timeout", err)
	}
	server.SetReadDeadline(time.Time{})
	blocked(t, read(server))
}

func TestWriteDeadlineSwept(t *testing.T) {
	l, server, _ := pair(t)
	t0 := time.Now()
	server.SetWriteDeadline(t0.Add(time.Second))
	done := make(chan error, 1)
	go func() {
		// The client reads nothing: the buffers fill and the write blocks.
		_, err := server.Write(make([]byte, 64<<20))
		done <- err
	}()
	blocked(t, done)
	l.Sweep(t0.Add(time.Second))
	if err := wait(t, done); !isTimeout(err) {
		t.Fatalf("write after its deadline: %v, want a timeout", err)
	}
}

// The sweeper fires deadlines by itself, never before they are due.
func TestSweeper(t *testing.T) {
	tcp, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	l := deadline.NewListener(tcp, 10*time.Millisecond)
	client, err := net.Dial("tcp", tcp.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	server, err := l.Accept()
	if err != nil {
		t.Fatal(err)
	}
	due := time.Now().Add(100 * time.Millisecond)
	server.SetReadDeadline(due)
	if err := wait(t, read(server)); !isTimeout(err) {
		t.Fatalf("read: %v, want a timeout", err)
	}
	if now := time.Now(); now.Before(due) {
		t.Fatalf("timed out %v early", due.Sub(now))
	}
	if n := l.Len(); n != 1 {
		t.Fatalf("Len = %d, want 1", n)
	}
	// The sweeper outlives the listener while a connection is open.
	l.Close()
	select {
	case <-l.Done():
		t.Fatal("sweeper stopped with a connection open")
	case <-time.After(50 * time.Millisecond):
	}
	server.Close()
	if n := l.Len(); n != 0 {
		t.Fatalf("Len = %d after Close, want 0", n)
	}
	select {
	case <-l.Done():
	case <-time.After(10 * time.Second):
		t.Fatal("sweeper still running")
	}
}

// An HTTP server on a swept listener answers keep-alive requests and drops
// a client that sends half a header once ReadHeaderTimeout is past.
func TestHTTPServer(t *testing.T) {
	tcp, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	l := deadline.NewListener(tcp, 10*time.Millisecond)
	srv := &http.Server{
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			io.WriteString(w, r.URL.Path)
		}),
		ReadHeaderTimeout: 200 * time.Millisecond, ReadTimeout: time.Minute,
		WriteTimeout: time.Minute, IdleTimeout: time.Minute,
	}
	go srv.Serve(l)
	defer srv.Close()

	c, err := net.Dial("tcp", tcp.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	br := bufio.NewReader(c)
	for i := range 100 {
		if _, err := io.WriteString(c, "GET /x HTTP/1.1\r\nHost: a\r\n\r\n"); err != nil {
			t.Fatal(err)
		}
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			t.Fatalf("request %d: %v", i, err)
		}
		body, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != 200 || string(body) != "/x" {
			t.Fatalf("request %d: %d %q", i, resp.StatusCode, body)
		}
	}

	slow, err := net.Dial("tcp", tcp.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer slow.Close()
	start := time.Now()
	io.WriteString(slow, "GET /x HTTP/1.1\r\nHost")
	slow.SetReadDeadline(start.Add(10 * time.Second))
	rest, err := io.ReadAll(slow)
	if err != nil {
		t.Fatalf("slow client: %v (the server kept the connection)", err)
	}
	// net/http answers a header cut short by its timeout with a 400.
	if len(rest) > 0 && !strings.HasPrefix(string(rest), "HTTP/1.1 400 ") {
		t.Fatalf("slow client got %q", rest)
	}
	if d := time.Since(start); d < 200*time.Millisecond {
		t.Fatalf("slow client dropped after %v, before ReadHeaderTimeout", d)
	}
}

// Setting deadlines while sweeps run: for the race detector.
func TestConcurrentSets(t *testing.T) {
	l, server, _ := pair(t)
	var wg sync.WaitGroup
	stop := make(chan struct{})
	wg.Go(func() {
		for {
			select {
			case <-stop:
				return
			default:
				l.Sweep(time.Now())
			}
		}
	})
	for i := range 10_000 {
		d := time.Now().Add(time.Duration(i%3-1) * time.Millisecond)
		server.SetReadDeadline(d)
		server.SetWriteDeadline(d)
	}
	close(stop)
	wg.Wait()
	// Whatever happened, a deadline in the future lets I/O go on.
	server.SetDeadline(time.Now().Add(time.Hour))
	blocked(t, read(server))
}
