package storetest

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/latchkeyhq/latchkey"
)

// The conformance cases of the service clients (ServiceClientStore).

// serviceClientFor returns a client named name; its digest follows from
// the name.
func serviceClientFor(name string, created time.Time) latchkey.ServiceClient {
	return latchkey.ServiceClient{
		Name:      name,
		Digest:    latchkey.ClientSecret("storetest-secret-" + name).Digest(),
		CreatedAt: created,
	}
}

func mustServiceClient(t *testing.T, s latchkey.Store, name string, created time.Time) latchkey.ServiceClient {
	t.Helper()
	c := serviceClientFor(name, created)
	if err := s.CreateServiceClient(t.Context(), c); err != nil {
		t.Fatalf("CreateServiceClient(%s): %v", name, err)
	}
	return c
}

func checkServiceClient(t *testing.T, what string, got, want latchkey.ServiceClient) {
	t.Helper()
	if got.Name != want.Name || got.Digest != want.Digest || !got.CreatedAt.Equal(want.CreatedAt) || got.CreatedAt.Location() != time.UTC {
		t.Errorf("%s:\n got %s %x %v\nwant %s %x %v", what, got.Name, got.Digest[:4], got.CreatedAt, want.Name, want.Digest[:4], want.CreatedAt)
	}
}

var serviceClientTests = []test{
	{"RoundTrip", func(t *testing.T, s latchkey.Store) {
		// The creation time comes back to the microsecond, in UTC, from
		// any zone.
		in := serviceClientFor("billing", base.In(time.FixedZone("X", -7*3600)))
		if err := s.CreateServiceClient(t.Context(), in); err != nil {
			t.Fatalf("CreateServiceClient: %v", err)
		}
		got, err := s.ServiceClientByName(t.Context(), "billing")
		if err != nil {
			t.Fatalf("ServiceClientByName: %v", err)
		}
		checkServiceClient(t, "ServiceClientByName", got, in)
	}},
	{"NotFound", func(t *testing.T, s latchkey.Store) {
		mustServiceClient(t, s, "billing", base)
		for _, name := range []string{"nobody", "Billing", "billing ", ""} {
			_, err := s.ServiceClientByName(t.Context(), name)
			wantErr(t, "ServiceClientByName("+name+")", err, latchkey.ErrNotFound)
		}
	}},
	{"DuplicateName", func(t *testing.T, s latchkey.Store) {
		first := mustServiceClient(t, s, "billing", base)
		dup := serviceClientFor("billing", base.Add(time.Hour))
		dup.Digest = latchkey.ClientSecret("another secret").Digest()
		err := s.CreateServiceClient(t.Context(), dup)
		wantErr(t, "CreateServiceClient(taken name)", err, latchkey.ErrConflict)
		wantNoSecret(t, err, first.Digest.Hex(), dup.Digest.Hex())
		got, err := s.ServiceClientByName(t.Context(), "billing")
		if err != nil {
			t.Fatalf("ServiceClientByName: %v", err)
		}
		checkServiceClient(t, "the first client, after a refused second", got, first)
		// Names are exact: another case is another client.
		mustServiceClient(t, s, "Billing", base)
	}},
	{"List", func(t *testing.T, s latchkey.Store) {
		cs, err := s.ListServiceClients(t.Context())
		if err != nil || len(cs) != 0 {
			t.Fatalf("ListServiceClients of an empty store = %v, %v; want none", cs, err)
		}
		// Ordered by name, bytewise, whatever the order of creation.
		var want []latchkey.ServiceClient
		for i, name := range []string{"reports", "Zeta", "billing", "a.b-c_d", "billing2"} {
			want = append(want, mustServiceClient(t, s, name, base.Add(time.Duration(i)*time.Second)))
		}
		slices.SortFunc(want, func(a, b latchkey.ServiceClient) int { return strings.Compare(a.Name, b.Name) })
		cs, err = s.ListServiceClients(t.Context())
		if err != nil {
			t.Fatalf("ListServiceClients: %v", err)
		}
		if len(cs) != len(want) {
			t.Fatalf("ListServiceClients returned %d clients, want %d", len(cs), len(want))
		}
		for i := range want {
			checkServiceClient(t, "ListServiceClients", cs[i], want[i])
		}
	}},
	{"Delete", func(t *testing.T, s latchkey.Store) {
		mustServiceClient(t, s, "billing", base)
		keep := mustServiceClient(t, s, "reports", base)
		if err := s.DeleteServiceClient(t.Context(), "billing"); err != nil {
			t.Fatalf("DeleteServiceClient: %v", err)
		}
		_, err := s.ServiceClientByName(t.Context(), "billing")
		wantErr(t, "ServiceClientByName after its deletion", err, latchkey.ErrNotFound)
		wantErr(t, "DeleteServiceClient again", s.DeleteServiceClient(t.Context(), "billing"), latchkey.ErrNotFound)
		wantErr(t, "DeleteServiceClient(unknown)", s.DeleteServiceClient(t.Context(), "nobody"), latchkey.ErrNotFound)
		cs, err := s.ListServiceClients(t.Context())
		if err != nil || len(cs) != 1 {
			t.Fatalf("ListServiceClients = %v, %v; want reports alone", cs, err)
		}
		checkServiceClient(t, "the client left", cs[0], keep)
		// The name is free again.
		again := mustServiceClient(t, s, "billing", base.Add(time.Minute))
		got, err := s.ServiceClientByName(t.Context(), "billing")
		if err != nil {
			t.Fatalf("ServiceClientByName: %v", err)
		}
		checkServiceClient(t, "a client created under a freed name", got, again)
	}},
	{"NoChangeEntry", func(t *testing.T, s latchkey.Store) {
		// No cache holds service clients: nothing to announce.
		mustServiceClient(t, s, "billing", base)
		if err := s.DeleteServiceClient(t.Context(), "billing"); err != nil {
			t.Fatal(err)
		}
		if last := mustLastChange(t, s); last != 0 {
			t.Errorf("LastChange = %d after service client changes, want 0", last)
		}
	}},
	{"Canceled", func(t *testing.T, s latchkey.Store) {
		mustServiceClient(t, s, "billing", base)
		ctx, cancel := context.WithCancel(t.Context())
		cancel()
		for _, c := range []op{
			{"CreateServiceClient", func() error { return s.CreateServiceClient(ctx, serviceClientFor("reports", base)) }},
			{"ServiceClientByName", func() error { return second(s.ServiceClientByName(ctx, "billing")) }},
			{"ListServiceClients", func() error { return second(s.ListServiceClients(ctx)) }},
			{"DeleteServiceClient", func() error { return s.DeleteServiceClient(ctx, "billing") }},
		} {
			if err := c.call(); err == nil {
				t.Errorf("%s with a canceled context succeeded", c.name)
			}
		}
		// Nothing changed.
		if _, err := s.ServiceClientByName(t.Context(), "billing"); err != nil {
			t.Errorf("billing after canceled calls: %v", err)
		}
		if _, err := s.ServiceClientByName(t.Context(), "reports"); !errors.Is(err, latchkey.ErrNotFound) {
			t.Errorf("reports after a canceled create: %v, want not found", err)
		}
	}},
}
