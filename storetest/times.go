package storetest

import (
	"testing"
	"time"

	"github.com/latchkeyhq/latchkey"
)

// The conformance cases of the times a store returns.

var timeTests = []test{
	{"UTC", func(t *testing.T, s latchkey.Store) {
		in := userFor("alice")
		in.DateJoined = base.In(time.FixedZone("X", 3600))
		u, err := s.CreateUser(t.Context(), in)
		if err != nil {
			t.Fatalf("CreateUser: %v", err)
		}
		sess := mustSession(t, s, u, "s1", base, time.Hour)
		got, gu, err := s.SessionByDigest(t.Context(), sess.Digest)
		if err != nil {
			t.Fatalf("SessionByDigest: %v", err)
		}
		byID := mustUserByID(t, s, u.ID)
		listed, err := s.ListSessions(t.Context(), u.ID, base)
		if err != nil || len(listed) != 1 {
			t.Fatalf("ListSessions = %v, %v; want one session", listed, err)
		}
		for name, tm := range map[string]time.Time{
			"CreateUser DateJoined":   u.DateJoined,
			"DateJoined":              gu.DateJoined,
			"LastLogin":               gu.LastLogin,
			"UserByID LastLogin":      byID.LastLogin,
			"UserByID DateJoined":     byID.DateJoined,
			"CreatedAt":               got.CreatedAt,
			"LastUsedAt":              got.LastUsedAt,
			"ExpiresAt":               got.ExpiresAt,
			"ListSessions CreatedAt":  listed[0].CreatedAt,
			"ListSessions LastUsedAt": listed[0].LastUsedAt,
			"ListSessions ExpiresAt":  listed[0].ExpiresAt,
		} {
			if tm.Location() != time.UTC {
				t.Errorf("%s in %v, want UTC", name, tm.Location())
			}
		}
	}},
}
