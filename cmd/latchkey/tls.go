package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	stdlog "log"
	"log/slog"
	"os"
	"strings"
	"sync/atomic"
	"time"
)

// keyPair is the certificate and key that serve's HTTPS presents, read
// from their files at start and again on each SIGHUP. Handshakes take the
// current pair through GetCertificate, so a reload swaps one pointer:
// connections already open keep theirs, the listener is never closed, and
// a certificate renewed on disk reaches new connections without a restart.
type keyPair struct {
	certFile, keyFile string
	current           atomic.Pointer[tls.Certificate]
}

// loadKeyPair reads the pair serve starts with; an error names both files.
func loadKeyPair(certFile, keyFile string) (*keyPair, error) {
	k := &keyPair{certFile: certFile, keyFile: keyFile}
	if _, err := k.reload(); err != nil {
		return nil, err
	}
	return k, nil
}

// reload reads both files again and, when they hold a certificate and the
// private key of that certificate (tls.LoadX509KeyPair checks that they
// match), makes it the pair of every new handshake. On any error the
// current pair stays.
func (k *keyPair) reload() (*x509.Certificate, error) {
	c, err := tls.LoadX509KeyPair(k.certFile, k.keyFile)
	if err != nil {
		return nil, fmt.Errorf("tls-cert-file %s, tls-key-file %s: %w", k.certFile, k.keyFile, err)
	}
	k.current.Store(&c)
	return c.Leaf, nil
}

func (k *keyPair) getCertificate(*tls.ClientHelloInfo) (*tls.Certificate, error) {
	return k.current.Load(), nil
}

// config is serve's TLS configuration: TLS 1.2 at least, Go's default
// cipher suites and curves, and HTTP/2 as net/http adds it (ServeTLS
// puts h2 and http/1.1 in NextProtos).
func (k *keyPair) config() *tls.Config {
	return &tls.Config{
		MinVersion:     tls.VersionTLS12,
		GetCertificate: k.getCertificate,
	}
}

// certAttrs describe a certificate in the log: whom it names and until
// when it is valid.
func certAttrs(c *x509.Certificate) []any {
	names := append([]string(nil), c.DNSNames...)
	for _, ip := range c.IPAddresses {
		names = append(names, ip.String())
	}
	return []any{"subject", c.Subject.String(), "names", names, "not_after", c.NotAfter.UTC().Format(time.RFC3339)}
}

// onHangup serves SIGHUP until ctx ends: it reloads pair, or, when serve
// is not serving TLS (pair is nil), only says that there is nothing to
// reload. serve takes SIGHUP so that a hangup never ends it: a script
// that sends SIGHUP to every server after renewing certificates stops none.
// A reload that fails is logged once, and the current pair stays.
func onHangup(ctx context.Context, hup <-chan os.Signal, pair *keyPair, log *slog.Logger) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-hup:
		}
		if pair == nil {
			log.Info("SIGHUP: not serving TLS, nothing to reload")
			continue
		}
		leaf, err := pair.reload()
		if err != nil {
			log.Error("TLS certificate not reloaded; the current one stays", "err", err)
			continue
		}
		log.Info("TLS certificate reloaded", certAttrs(leaf)...)
	}
}

// serverLog is the http.Server's own log (ErrorLog): its lines at warn,
// but for failed TLS handshakes, which clients cause (an old TLS version,
// plain HTTP on the HTTPS port, a scanner, a TCP health check) and which
// go to debug, so that no client fills the log at warn.
func serverLog(log *slog.Logger) *stdlog.Logger {
	return stdlog.New(serverLogWriter{log}, "", 0)
}

type serverLogWriter struct{ log *slog.Logger }

func (w serverLogWriter) Write(p []byte) (int, error) {
	msg := strings.TrimSuffix(string(p), "\n")
	level := slog.LevelWarn
	if strings.HasPrefix(msg, "http: TLS handshake error") {
		level = slog.LevelDebug
	}
	w.log.Log(context.Background(), level, msg)
	return len(p), nil
}
