package main

import (
	"context"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"
)

// browserTestDir is the Node project of the browser test.
var browserTestDir = filepath.Join("..", "..", "ui", "browsertest")

// needBrowser finds node, Chromium and playwright-core, or skips t,
// failing it under CI=true, where .ci/run installs them.
func needBrowser(t *testing.T) (node, chromium string) {
	t.Helper()
	if testing.Short() {
		t.Skip("runs a browser and the binary")
	}
	var missing string
	node, err := exec.LookPath("node")
	if err != nil {
		missing = "node (apt-get install -y nodejs)"
	}
	chromium = os.Getenv("LATCHKEY_CHROMIUM")
	for _, c := range []string{"/usr/bin/chromium", "chromium", "chromium-browser"} {
		if chromium != "" {
			break
		}
		if p, err := exec.LookPath(c); err == nil {
			chromium = p
		}
	}
	if chromium == "" && missing == "" {
		missing = "Chromium (apt-get install -y chromium, or LATCHKEY_CHROMIUM=path)"
	}
	if _, err := os.Stat(filepath.Join(browserTestDir, "node_modules", "playwright-core")); err != nil && missing == "" {
		missing = "playwright-core (npm ci in ui/browsertest)"
	}
	if missing != "" {
		want := "this test drives the login page in a browser: it needs " + missing
		if os.Getenv("CI") == "true" {
			t.Fatalf("%s, which CI=true requires", want)
		}
		t.Skipf("skipped: %s", want)
	}
	return node, chromium
}

// TestBrowser drives the login page (LATCHKEY_UI=on) of the built binary
// in Chromium, with ui/browsertest/login.test.mjs: a sign-in after a
// failed one, with the proof-of-work captcha solved in the page, another
// device signed out from the account page, TOTP enrolment, sign-ins with
// the TOTP and with a recovery code (refused the second time), and
// passkeys when the server has the WebAuthn routes. The screenshots go to
// LATCHKEY_BROWSERTEST_OUT when set, else to a temporary folder.
func TestBrowser(t *testing.T) {
	node, chromium := needBrowser(t)
	env := append(dbEnv(t), "LATCHKEY_UI=on", "LATCHKEY_MFA_KEY="+e2eMFAKey, "LATCHKEY_CACHE_URL=memory",
		"LATCHKEY_CAPTCHA_PROVIDER=pow", "LATCHKEY_CAPTCHA_SECRET=browser-test-pow-secret-0123456789",
		"LATCHKEY_CAPTCHA_REQUIRED=after-failures:1",
		// A dozen sign-ins from one address within seconds: more than
		// the default burst of the address's throttle.
		"LATCHKEY_THROTTLE_IP_BURST=100",
		// Each load of the login page asks for passkey options, from the
		// address's bucket of challenges, which the captcha's share.
		"LATCHKEY_THROTTLE_CHALLENGE_BURST=100")
	// Passkeys need a domain, not an address: the page is opened at
	// localhost, on a port chosen here, its origin the relying party's.
	port := freePort(t)
	origin := "http://localhost:" + port
	env = append(env, "LATCHKEY_WEBAUTHN_RP_ID=localhost", "LATCHKEY_WEBAUTHN_ORIGINS="+origin)
	addUser(t, env, "alice")
	p := serveAt(t, env, "127.0.0.1:"+port)

	out := os.Getenv("LATCHKEY_BROWSERTEST_OUT")
	if out == "" {
		out = t.TempDir()
	} else if abs, err := filepath.Abs(out); err == nil {
		out = abs
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, node, "login.test.mjs", origin, out)
	cmd.Dir = browserTestDir
	cmd.Env = append(os.Environ(), "LATCHKEY_CHROMIUM="+chromium, "LATCHKEY_USER=alice", "LATCHKEY_PASSWORD="+e2ePassword)
	b, err := cmd.CombinedOutput()
	t.Logf("screenshots in %s\n%s", out, b)
	if err != nil {
		t.Fatalf("the browser test failed: %v\nlatchkey's log:\n%s", err, p.output())
	}
}

// freePort returns a port of 127.0.0.1 that was free a moment ago.
func freePort(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	_, port, _ := net.SplitHostPort(ln.Addr().String())
	return port
}
