package latchkey

import (
	"context"
	"io"
	"log/slog"
	"testing"
)

// BenchmarkEventEmit measures the part of a security event the request
// that makes it waits for, which BenchmarkLoginEvents cannot turn off:
// the event bounded, its log line (JSON at info, as serve writes it, to
// io.Discard) and its place in the queue. The queue is emptied as Run's
// writes empty it.
func BenchmarkEventEmit(b *testing.B) {
	a := NewAuthenticator(nil, nil, nil, Options{Logger: slog.New(slog.NewJSONHandler(io.Discard, nil))})
	ctx := context.Background()
	e := Event{Kind: EventLoginSuccess, UserID: 7, Username: "alice", IP: "203.0.113.7",
		UserAgent: "Mozilla/5.0 (X11; Linux x86_64; rv:146.0) Gecko/20100101 Firefox/146.0", SessionID: "kU-M92-Pc-MyZm1VMfIPSA"}
	b.ReportAllocs()
	for b.Loop() {
		a.emit(ctx, e)
		if len(a.events.pending) == eventBatch {
			a.events.pending = nil
		}
	}
}
