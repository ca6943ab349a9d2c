package main

import (
	"context"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// TestEndToEndOverflowingAlias starts serve with a TOKEN_EXPIRY_IN_SECONDS
// that overflowed to a lifetime of 1.3 s: it must not start, and must say
// which setting is wrong and what it may be.
func TestEndToEndOverflowingAlias(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	bin := binary(t)
	// Before the fix it served, with tokens of 1.3 s.
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, "serve", "--addr", "127.0.0.1:0")
	cmd.Env = append(cmd.Environ(), append(dbEnv(t), "TOKEN_EXPIRY_IN_SECONDS=18446744075")...)
	out, _ := cmd.CombinedOutput()
	if code := cmd.ProcessState.ExitCode(); code != 2 {
		t.Fatalf("exit status %d, want 2:\n%s", code, out)
	}
	for _, want := range []string{"TOKEN_EXPIRY_IN_SECONDS", "token-ttl", "from 1 to 315360000"} {
		if !strings.Contains(string(out), want) {
			t.Errorf("the message does not say %q:\n%s", want, out)
		}
	}
}
