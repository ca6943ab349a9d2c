package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"runtime/debug"
	"time"
)

// metricsServer serves /metrics on a listener of its own
// (LATCHKEY_METRICS_ADDR), apart from the API, so that it can be firewalled
// apart and a scrape never queues behind logins.
type metricsServer struct {
	srv *http.Server
	ln  net.Listener
	log *slog.Logger
}

// listenMetrics listens on addr; serve starts answering.
func listenMetrics(addr string, h http.Handler, log *slog.Logger) (*metricsServer, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("metrics: listen: %w", err)
	}
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", h)
	return &metricsServer{ln: ln, log: log, srv: &http.Server{
		Handler:           mux,
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       10 * time.Second,
		WriteTimeout:      30 * time.Second,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    16 << 10,
		ErrorLog:          serverLog(log),
	}}, nil
}

// serve answers scrapes until shutdown or close.
func (m *metricsServer) serve() {
	m.log.Info("metrics listening", "addr", m.ln.Addr().String(), "path", "/metrics")
	go func() {
		if err := m.srv.Serve(m.ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			m.log.Error("metrics server stopped", "err", err)
		}
	}()
}

// shutdown lets the scrapes in flight finish, within ctx.
func (m *metricsServer) shutdown(ctx context.Context) {
	if err := m.srv.Shutdown(ctx); err != nil {
		m.log.Warn("metrics server shutdown", "err", err)
	}
}

// close stops it at once (the listener too, when serve never ran).
func (m *metricsServer) close() {
	m.srv.Close()
	m.ln.Close()
}

// version is the build's module version, "(devel)" for a build from a
// working tree.
func version() string {
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" {
		return bi.Main.Version
	}
	return "(devel)"
}
