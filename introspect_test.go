package latchkey_test

import (
	"context"
	"errors"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/latchkeyhq/latchkey"
)

// recordingThrottle is a ServiceClientThrottle that records its calls and
// refuses when told to.
type recordingThrottle struct {
	mu     sync.Mutex
	calls  []string
	refuse error
}

func (r *recordingThrottle) CheckServiceClient(_ context.Context, ip netip.Addr) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.calls = append(r.calls, "check "+ip.String())
	return r.refuse
}

func (r *recordingThrottle) RecordServiceClient(_ context.Context, ip netip.Addr, o latchkey.Outcome) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.calls = append(r.calls, "record "+ip.String()+" "+o.String())
	return nil
}

func (r *recordingThrottle) take() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	c := r.calls
	r.calls = nil
	return c
}

var from = latchkey.Client{Addr: netip.MustParseAddr("192.0.2.7")}

// TestIntrospect checks the domain's answers: an active token with its
// principal, an inactive one, a refused client.
func TestIntrospect(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, latchkey.Options{})
	f.addUser(t, "alice")
	is := f.login(t, "alice")
	_, secret, err := f.auth.AddServiceClient(ctx, "billing")
	if err != nil {
		t.Fatal(err)
	}
	ask := func(name string, s latchkey.ClientSecret, tok string) (latchkey.Introspection, error) {
		return f.auth.Introspect(ctx, latchkey.IntrospectRequest{ClientName: name, ClientSecret: s, Token: tok, Client: from})
	}
	in, err := ask("billing", secret, is.Token.Reveal())
	if err != nil || !in.Active {
		t.Fatalf("Introspect = %+v, %v; want active", in, err)
	}
	p := in.Principal
	if p.User.Username != "alice" || p.User.PasswordHash != "" || p.Session.SessionID != is.Session.ID || !p.Session.ExpiresAt.Equal(is.Session.ExpiresAt) {
		t.Fatalf("principal %+v", p)
	}
	unknown, _ := latchkey.NewToken(nil)
	for _, tok := range []string{unknown.Reveal(), "", "a b", strings.Repeat("x", 300)} {
		if in, err := ask("billing", secret, tok); err != nil || in != (latchkey.Introspection{}) {
			t.Errorf("Introspect(%q) = %+v, %v; want inactive and nothing more", tok, in, err)
		}
	}
	for _, c := range []struct {
		name   string
		secret latchkey.ClientSecret
	}{{"", ""}, {"billing", ""}, {"", secret}, {"billing", "lkc_x"}, {"nosuch", secret}, {"bill ing", secret}} {
		if in, err := ask(c.name, c.secret, is.Token.Reveal()); !errors.Is(err, latchkey.ErrInvalidClient) || in.Active {
			t.Errorf("client %q: %+v, %v; want ErrInvalidClient", c.name, in, err)
		}
	}
}

// TestIntrospectCacheHit checks that the token check of an introspection
// is the one of any request: a cached token costs no session query.
func TestIntrospectCacheHit(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, latchkey.Options{})
	f.addUser(t, "alice")
	is := f.login(t, "alice")
	_, secret, err := f.auth.AddServiceClient(ctx, "billing")
	if err != nil {
		t.Fatal(err)
	}
	before := f.store.calls()
	for range 50 {
		in, err := f.auth.Introspect(ctx, latchkey.IntrospectRequest{ClientName: "billing", ClientSecret: secret, Token: is.Token.Reveal(), Client: from})
		if err != nil || !in.Active {
			t.Fatalf("Introspect = %+v, %v", in, err)
		}
	}
	if n := f.store.calls() - before; n != 0 {
		t.Fatalf("50 introspections of a cached token made %d session or user queries, want 0", n)
	}
	if n := f.store.clients.Load(); n != 50 {
		t.Fatalf("50 introspections looked the client up %d times, want 50", n)
	}
}

// TestIntrospectThrottleOrder checks when the throttle is asked: before
// the secret is compared, for a known client as for an unknown one, and
// told the outcome once; a refusal stops everything; no credentials cost
// nothing.
func TestIntrospectThrottleOrder(t *testing.T) {
	ctx := context.Background()
	th := &recordingThrottle{}
	f := newFixture(t, latchkey.Options{ServiceClientThrottle: th})
	f.addUser(t, "alice")
	is := f.login(t, "alice")
	_, secret, err := f.auth.AddServiceClient(ctx, "billing")
	if err != nil {
		t.Fatal(err)
	}
	ip := from.Addr.String()
	for _, tc := range []struct {
		what    string
		name    string
		secret  latchkey.ClientSecret
		refuse  error
		want    error
		lookups int64
		calls   []string
	}{
		{"right", "billing", secret, nil, nil, 1, []string{"check " + ip, "record " + ip + " success"}},
		{"wrong secret", "billing", "lkc_wrong", nil, latchkey.ErrInvalidClient, 1, []string{"check " + ip, "record " + ip + " failure"}},
		{"unknown client", "nosuch", secret, nil, latchkey.ErrInvalidClient, 1, []string{"check " + ip, "record " + ip + " failure"}},
		{"impossible name", "a:b", secret, nil, latchkey.ErrInvalidClient, 0, []string{"check " + ip, "record " + ip + " failure"}},
		{"no credentials", "", "", nil, latchkey.ErrInvalidClient, 0, nil},
		{"refused, right", "billing", secret, latchkey.Throttled(time.Minute, latchkey.ThrottleLimit("x")), latchkey.ErrThrottled, 1, []string{"check " + ip}},
		{"refused, wrong", "billing", "lkc_wrong", latchkey.Throttled(time.Minute, latchkey.ThrottleLimit("x")), latchkey.ErrThrottled, 1, []string{"check " + ip}},
		{"throttle down", "billing", secret, latchkey.Unavailable(errors.New("down")), latchkey.ErrUnavailable, 1, []string{"check " + ip}},
	} {
		t.Run(tc.what, func(t *testing.T) {
			th.refuse = tc.refuse
			th.take()
			f.store.clients.Store(0)
			_, err := f.auth.Introspect(ctx, latchkey.IntrospectRequest{ClientName: tc.name, ClientSecret: tc.secret, Token: is.Token.Reveal(), Client: from})
			if !errors.Is(err, tc.want) && !(err == nil && tc.want == nil) {
				t.Fatalf("Introspect: %v, want %v", err, tc.want)
			}
			if n := f.store.clients.Load(); n != tc.lookups {
				t.Errorf("%d lookups of the client, want %d", n, tc.lookups)
			}
			if got := th.take(); !slices.Equal(got, tc.calls) {
				t.Errorf("throttle calls %q, want %q", got, tc.calls)
			}
		})
	}
}
