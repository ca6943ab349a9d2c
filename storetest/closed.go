package storetest

import (
	"context"
	"testing"
	"time"

	"github.com/latchkeyhq/latchkey"
)

// op is a call that a case makes, by name.
type op struct {
	name string
	call func() error
}

// The conformance case of a closed store.

var closedTests = []test{
	{"CallsFail", func(t *testing.T, s latchkey.Store) {
		u := mustUser(t, s, "alice")
		in := mustSession(t, s, u, "s1", base, time.Hour)
		if err := s.Close(); err != nil {
			t.Fatalf("Close: %v", err)
		}
		ctx := context.Background()
		ops := []op{
			{"Ping", func() error { return s.Ping(ctx) }},
			{"UserByID", func() error { return second(s.UserByID(ctx, u.ID)) }},
			{"PasswordHashes", func() error { return s.PasswordHashes(ctx, func(string) error { return nil }) }},
			{"SessionByDigest", func() error { _, _, err := s.SessionByDigest(ctx, in.Digest); return err }},
			{"SessionByID", func() error { _, err := s.SessionByID(ctx, in.ID); return err }},
			{"CreateUser", func() error { return second(s.CreateUser(ctx, userFor("bob"))) }},
			{"DeleteSessions", func() error { return second(s.DeleteSessions(ctx, u.ID, nil)) }},
			{"Changes", func() error { return second(s.Changes(ctx, 0, 10)) }},
			{"ServiceClientByName", func() error { return second(s.ServiceClientByName(ctx, "billing")) }},
			{"AppendEvents", func() error { return s.AppendEvents(ctx, []latchkey.Event{eventAt(latchkey.EventLogout, u.ID, 0)}) }},
			{"EventsOfUser", func() error { return second(s.EventsOfUser(ctx, u.ID, 0, 10)) }},
			{"TOTPOf", func() error { return second(s.TOTPOf(ctx, u.ID)) }},
			{"AcceptTOTPStep", func() error { return second(s.AcceptTOTPStep(ctx, u.ID, 1)) }},
			{"AttemptMFAChallenge", func() error { return second(s.AttemptMFAChallenge(ctx, in.Digest, base, 5)) }},
			{"CreateServiceClient", func() error { return s.CreateServiceClient(ctx, serviceClientFor("billing", base)) }},
		}
		if m, ok := s.(Migrator); ok {
			ops = append(ops, op{"Migrate", func() error { return m.Migrate(ctx) }})
		}
		for _, c := range ops {
			err := c.call()
			if err == nil {
				t.Errorf("%s on a closed store succeeded", c.name)
				continue
			}
			if k := latchkey.ErrorKind(err); k != latchkey.KindInternal {
				t.Errorf("%s on a closed store: kind %v, want internal", c.name, k)
			}
		}
	}},
}
