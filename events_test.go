package latchkey_test

import (
	"bytes"
	"context"
	"log/slog"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/latchkeyhq/latchkey"
	"github.com/latchkeyhq/latchkey/throttle"
)

// operatorEvents flushes a's queue and returns every event, oldest first.
func operatorEvents(t *testing.T, a *latchkey.Authenticator) []latchkey.Event {
	t.Helper()
	if err := a.FlushEvents(t.Context()); err != nil {
		t.Fatal(err)
	}
	var es []latchkey.Event
	if err := a.Events(t.Context(), latchkey.EventFilter{}, func(e latchkey.Event) error { es = append(es, e); return nil }); err != nil {
		t.Fatal(err)
	}
	return es
}

func eventSummary(es []latchkey.Event) string {
	var b []string
	for _, e := range es {
		s := string(e.Kind)
		if e.Detail != "" {
			s += "(" + e.Detail + ")"
		}
		b = append(b, s)
	}
	return strings.Join(b, " ")
}

// TestLoginEvents: every login is an event, whatever its outcome; a
// failure against an account is the account's, an unknown name's is no
// one's, and the reason stays in Detail for operators.
func TestLoginEvents(t *testing.T) {
	ctx := context.Background()
	var log bytes.Buffer
	f := newFixture(t, latchkey.Options{Logger: slog.New(slog.NewJSONHandler(&log, nil))})
	alice := f.addUser(t, "alice")
	bob := f.addUser(t, "bob")
	if err := f.auth.SetUserActive(ctx, "bob", false); err != nil {
		t.Fatal(err)
	}
	home := latchkey.Client{Addr: netip.MustParseAddr("198.51.100.1"), UserAgent: "home browser"}
	elsewhere := latchkey.Client{Addr: netip.MustParseAddr("203.0.113.9"), UserAgent: "attacker\x00tool"}
	is, err := f.auth.Login(ctx, latchkey.LoginRequest{Username: "alice", Password: pw, Client: home})
	if err != nil {
		t.Fatal(err)
	}
	const typo = "my secret passphrase as a name"
	for _, req := range []latchkey.LoginRequest{
		{Username: "alice", Password: "wrong passphrase", Client: elsewhere},
		{Username: typo, Password: pw, Client: elsewhere},
		{Username: "bob", Password: pw, Client: elsewhere},
		{Username: "alice", Password: "", Client: elsewhere},
	} {
		if _, err := f.auth.Login(ctx, req); err == nil {
			t.Fatalf("login %q succeeded", req.Username)
		}
	}
	f.clock.Add(time.Minute)

	all := operatorEvents(t, f.auth)
	want := "user.disable(set by an operator) login.success login.failure(wrong_password) login.failure(unknown_user) login.failure(inactive) login.failure(invalid_request)"
	if got := eventSummary(all); got != want {
		t.Fatalf("events:\n got %s\nwant %s", got, want)
	}
	if e := all[1]; e.UserID != alice.ID || e.SessionID != is.Session.ID || e.IP != "198.51.100.1" || e.UserAgent != "home browser" || !e.At.Equal(f.clock.Now().Add(-time.Minute)) {
		t.Errorf("success: %+v", e)
	}
	if e := all[2]; e.UserID != alice.ID || e.Username != "alice" || e.IP != "203.0.113.9" || e.UserAgent != "attackertool" || e.SessionID != "" {
		t.Errorf("failure against alice: %+v", e)
	}
	if e := all[3]; e.UserID != 0 || e.Username != typo {
		t.Errorf("unknown name: %+v", e)
	}
	if e := all[4]; e.UserID != bob.ID {
		t.Errorf("inactive bob: %+v", e)
	}

	// Alice sees her success and the failure from elsewhere, newest
	// first, and nothing of the others.
	p, err := f.auth.Authenticate(ctx, is.Token.Reveal())
	if err != nil {
		t.Fatal(err)
	}
	mine, err := f.auth.UserEvents(ctx, p, 0, 50)
	if err != nil {
		t.Fatal(err)
	}
	// An attempt refused before the lookup (no password) is no one's.
	if got := eventSummary(mine); got != "login.failure(wrong_password) login.success" {
		t.Fatalf("alice's events: %s", got)
	}
	if page, _ := f.auth.UserEvents(ctx, p, mine[0].ID, 1); len(page) != 1 || page[0].ID != mine[1].ID {
		t.Fatalf("the page before %d: %+v", mine[0].ID, page)
	}

	// One line per event, with its kind; the typed name that is no one's
	// only as its hash; no password anywhere.
	for _, e := range []string{`"event":"login.success"`, `"event":"login.failure"`, `"event":"user.disable"`, `"detail":"unknown_user"`} {
		if !strings.Contains(log.String(), e) {
			t.Errorf("log lacks %s", e)
		}
	}
	if n := strings.Count(log.String(), `"msg":"security event"`); n != len(all) {
		t.Errorf("%d event lines, want %d", n, len(all))
	}
	for _, secret := range []string{string(pw), "wrong passphrase", typo, is.Token.Reveal(), is.Session.Digest.Hex()} {
		if strings.Contains(log.String(), secret) {
			t.Errorf("the log holds %q:\n%s", secret, &log)
		}
	}
	for _, e := range all {
		for _, secret := range []string{string(pw), "wrong passphrase", is.Token.Reveal(), is.Session.Digest.Hex()} {
			if strings.Contains(e.Username+e.Detail+e.UserAgent+e.IP+e.SessionID, secret) {
				t.Errorf("event %+v holds a secret", e)
			}
		}
	}
}

func TestUserEventsBounds(t *testing.T) {
	f := newFixture(t, latchkey.Options{})
	f.addUser(t, "alice")
	p, err := f.auth.Authenticate(t.Context(), f.login(t, "alice").Token.Reveal())
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		before int64
		limit  int
	}{{-1, 10}, {0, 0}, {0, -1}, {0, latchkey.MaxEventPage + 1}} {
		_, err := f.auth.UserEvents(t.Context(), p, tc.before, tc.limit)
		if k := latchkey.ErrorKind(err); k != latchkey.KindInvalid {
			t.Errorf("UserEvents(%d, %d): %v, want invalid", tc.before, tc.limit, err)
		}
	}
	if es, err := f.auth.UserEvents(t.Context(), p, 0, latchkey.MaxEventPage); err != nil || len(es) != 0 {
		t.Fatalf("before the flush: %v, %v; want none yet", es, err)
	}
}

// TestRevocationEvents: logouts with their scope, deleted sessions,
// password changes (the user's and an operator's), disable and enable.
func TestRevocationEvents(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, latchkey.Options{})
	f.addUser(t, "alice")
	c := latchkey.Client{Addr: netip.MustParseAddr("192.0.2.3"), UserAgent: "ua"}
	principal := func() latchkey.Principal {
		p, err := f.auth.Authenticate(ctx, f.login(t, "alice").Token.Reveal())
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	p := principal()
	if err := f.auth.Logout(ctx, p, "", c); err != nil {
		t.Fatal(err)
	}
	if err := f.auth.Logout(ctx, principal(), latchkey.LogoutGlobal, c); err != nil {
		t.Fatal(err)
	}
	other := f.login(t, "alice")
	if err := f.auth.RevokeSession(ctx, principal(), other.Session.ID, c); err != nil {
		t.Fatal(err)
	}
	const newPW = latchkey.Password("another long passphrase")
	is, err := f.auth.ChangePassword(ctx, principal(), pw, newPW, "", c)
	if err != nil {
		t.Fatal(err)
	}
	if err := f.auth.SetUserPassword(ctx, "alice", pw); err != nil {
		t.Fatal(err)
	}
	if err := f.auth.SetUserActive(ctx, "alice", false); err != nil {
		t.Fatal(err)
	}
	if err := f.auth.SetUserActive(ctx, "alice", true); err != nil {
		t.Fatal(err)
	}
	var got []latchkey.Event
	for _, e := range operatorEvents(t, f.auth) {
		if e.Kind != latchkey.EventLoginSuccess {
			got = append(got, e)
		}
	}
	want := "logout(local) logout(global) session.delete password.change password.change(set by an operator) user.disable(set by an operator) user.enable(set by an operator)"
	if s := eventSummary(got); s != want {
		t.Fatalf("events:\n got %s\nwant %s", s, want)
	}
	if got[0].SessionID != p.Session.SessionID || got[0].IP != "192.0.2.3" || got[0].UserAgent != "ua" {
		t.Errorf("logout: %+v", got[0])
	}
	if got[2].SessionID != other.Session.ID {
		t.Errorf("session.delete names %q, want the deleted %q", got[2].SessionID, other.Session.ID)
	}
	if got[3].SessionID != is.Session.ID {
		t.Errorf("password.change names %q, want the new session %q", got[3].SessionID, is.Session.ID)
	}
}

// TestGateRefusalEvents: a throttle's refusal and a captcha's are events,
// with the limit or the captcha's code in Detail.
func TestGateRefusalEvents(t *testing.T) {
	g := newGateFixture(t, throttle.Config{IP: latchkey.Bucket{Burst: 3, Every: time.Hour}}, 0)
	g.login("alice", pw, "")
	g.login("alice", pw, "wrong")
	g.login("alice", pw, "ok")
	g.login("alice", pw, "ok")
	want := "login.captcha_refused(captcha_required) login.captcha_refused(captcha_invalid) login.success login.throttled(ip_rate)"
	if got := eventSummary(operatorEvents(t, g.auth)); got != want {
		t.Fatalf("events:\n got %s\nwant %s", got, want)
	}
}

// TestEventRetention: Cleanup deletes the events older than the
// retention, by the injected clock, and keeps the others.
func TestEventRetention(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, latchkey.Options{EventRetention: 48 * time.Hour})
	f.addUser(t, "alice")
	f.login(t, "alice")
	f.auth.FlushEvents(ctx)
	f.clock.Add(47 * time.Hour)
	f.login(t, "alice")
	f.auth.Cleanup(ctx)
	if n := len(operatorEvents(t, f.auth)); n != 2 {
		t.Fatalf("%d events after 47h, want 2", n)
	}
	f.clock.Add(2 * time.Hour)
	f.auth.Cleanup(ctx)
	es := operatorEvents(t, f.auth)
	if len(es) != 1 || !es[0].At.Equal(f.clock.Now().Add(-2*time.Hour)) {
		t.Fatalf("after 49h: %+v, want the second login's only", es)
	}
}

// TestEventsWrittenOnStop: Run writes the queued events before it
// returns, so that a graceful stop loses none.
func TestEventsWrittenOnStop(t *testing.T) {
	f := newFixture(t, latchkey.Options{})
	f.addUser(t, "alice")
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- f.auth.Run(ctx) }()
	for range 3 {
		f.login(t, "alice")
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	var n int
	if err := f.store.Events(t.Context(), latchkey.EventFilter{}, func(latchkey.Event) error { n++; return nil }); err != nil {
		t.Fatal(err)
	}
	if n != 3 {
		t.Fatalf("%d events stored after Run returned, want 3", n)
	}
}
