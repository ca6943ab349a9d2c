package api

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/latchkeyhq/latchkey"
)

func TestLogLevel(t *testing.T) {
	live := httptest.NewRequest("POST", "/v1/login", nil)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	gone := live.WithContext(ctx)
	canceled := latchkey.AsError(latchkey.Unavailable(fmt.Errorf("login: %w", context.Canceled)))
	broken := latchkey.AsError(latchkey.Unavailable(errors.New("disk on fire")))
	overloaded := latchkey.AsError(latchkey.ErrOverloaded)
	for _, tc := range []struct {
		name string
		r    *http.Request
		e    *latchkey.Error
		want slog.Level
	}{
		{"client gone, work cancelled", gone, canceled, slog.LevelDebug},
		{"client gone, store broken", gone, broken, slog.LevelError},
		{"client here, cancelled anyway", live, canceled, slog.LevelError},
		{"store broken", live, broken, slog.LevelError},
		{"overloaded", live, overloaded, slog.LevelWarn},
	} {
		if got := logLevel(tc.r, tc.e); got != tc.want {
			t.Errorf("%s: %v, want %v", tc.name, got, tc.want)
		}
	}
}
