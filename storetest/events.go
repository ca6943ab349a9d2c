package storetest

import (
	"errors"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/latchkeyhq/latchkey"
)

// The conformance cases of the security events (EventStore).

// eventAt returns an event of kind for userID at base+d.
func eventAt(kind latchkey.EventKind, userID int64, d time.Duration) latchkey.Event {
	return latchkey.Event{
		At: base.Add(d), Kind: kind, UserID: userID, Username: "alice",
		Detail: "wrong_password", IP: "192.0.2.1", UserAgent: "curl/8", SessionID: "s1",
	}
}

func mustAppend(t *testing.T, s latchkey.Store, es ...latchkey.Event) {
	t.Helper()
	if err := s.AppendEvents(t.Context(), es); err != nil {
		t.Fatalf("AppendEvents: %v", err)
	}
}

func allEvents(t *testing.T, s latchkey.Store, f latchkey.EventFilter) []latchkey.Event {
	t.Helper()
	var es []latchkey.Event
	if err := s.Events(t.Context(), f, func(e latchkey.Event) error { es = append(es, e); return nil }); err != nil {
		t.Fatalf("Events: %v", err)
	}
	return es
}

func checkEvent(t *testing.T, what string, got, want latchkey.Event) {
	t.Helper()
	want.ID = got.ID
	if !got.At.Equal(want.At) || got.At.Location() != time.UTC {
		t.Errorf("%s: At = %v, want %v in UTC", what, got.At, want.At)
	}
	got.At, want.At = time.Time{}, time.Time{}
	if got != want {
		t.Errorf("%s:\n got %+v\nwant %+v", what, got, want)
	}
}

func kindsOf(es []latchkey.Event) string {
	var b []string
	for _, e := range es {
		b = append(b, string(e.Kind))
	}
	return strings.Join(b, " ")
}

var eventTests = []test{
	{"RoundTrip", func(t *testing.T, s latchkey.Store) {
		u := mustUser(t, s, "alice")
		in := eventAt(latchkey.EventLoginFailure, u.ID, 0)
		in.At = in.At.In(time.FixedZone("X", 3600))
		mustAppend(t, s, in)
		es, err := s.EventsOfUser(t.Context(), u.ID, 0, 10)
		if err != nil || len(es) != 1 {
			t.Fatalf("EventsOfUser = %d events, %v; want 1", len(es), err)
		}
		if es[0].ID <= 0 {
			t.Errorf("ID = %d, want positive", es[0].ID)
		}
		checkEvent(t, "EventsOfUser", es[0], in)
		all := allEvents(t, s, latchkey.EventFilter{})
		if len(all) != 1 {
			t.Fatalf("Events = %d events, want 1", len(all))
		}
		checkEvent(t, "Events", all[0], es[0])
	}},
	{"Empty", func(t *testing.T, s latchkey.Store) {
		if err := s.AppendEvents(t.Context(), nil); err != nil {
			t.Fatalf("AppendEvents(nil): %v", err)
		}
		es, err := s.EventsOfUser(t.Context(), 1, 0, 10)
		if err != nil || len(es) != 0 {
			t.Fatalf("EventsOfUser = %v, %v; want none", es, err)
		}
	}},
	{"OrderAndPages", func(t *testing.T, s latchkey.Store) {
		u := mustUser(t, s, "alice")
		// More than one insert statement's worth, in one call.
		var in []latchkey.Event
		for i := range 250 {
			in = append(in, eventAt(latchkey.EventLoginSuccess, u.ID, time.Duration(i)*time.Second))
		}
		mustAppend(t, s, in...)
		var got []latchkey.Event
		before := int64(0)
		for {
			page, err := s.EventsOfUser(t.Context(), u.ID, before, 100)
			if err != nil {
				t.Fatalf("EventsOfUser: %v", err)
			}
			got = append(got, page...)
			if len(page) < 100 {
				break
			}
			before = page[len(page)-1].ID
		}
		if len(got) != 250 {
			t.Fatalf("%d events over the pages, want 250", len(got))
		}
		for i, e := range got {
			if want := in[249-i].At; !e.At.Equal(want) {
				t.Fatalf("event %d at %v, want %v (newest first)", i, e.At, want)
			}
			if i > 0 && e.ID >= got[i-1].ID {
				t.Fatalf("event %d: id %d after %d, want decreasing", i, e.ID, got[i-1].ID)
			}
		}
		all := allEvents(t, s, latchkey.EventFilter{})
		for i, e := range all {
			if !e.At.Equal(in[i].At) {
				t.Fatalf("Events: event %d at %v, want %v (oldest first)", i, e.At, in[i].At)
			}
		}
	}},
	{"OfUserOnly", func(t *testing.T, s latchkey.Store) {
		a, b := mustUser(t, s, "alice"), mustUser(t, s, "bob")
		mustAppend(t, s,
			eventAt(latchkey.EventLoginSuccess, a.ID, 0),
			eventAt(latchkey.EventLoginFailure, 0, time.Second), // an unknown name
			eventAt(latchkey.EventLogout, b.ID, 2*time.Second),
			eventAt(latchkey.EventLoginFailure, a.ID, 3*time.Second),
		)
		es, err := s.EventsOfUser(t.Context(), a.ID, 0, 10)
		if err != nil {
			t.Fatal(err)
		}
		if got := kindsOf(es); got != "login.failure login.success" {
			t.Errorf("alice's events: %s", got)
		}
		if es, _ := s.EventsOfUser(t.Context(), 0, 0, 10); len(es) != 0 {
			t.Errorf("EventsOfUser(0) = %d events, want none: unattributed events are no one's", len(es))
		}
		if got := kindsOf(allEvents(t, s, latchkey.EventFilter{})); got != "login.success login.failure logout login.failure" {
			t.Errorf("Events: %s", got)
		}
		if got := kindsOf(allEvents(t, s, latchkey.EventFilter{UserID: b.ID})); got != "logout" {
			t.Errorf("Events of bob: %s", got)
		}
		if got := kindsOf(allEvents(t, s, latchkey.EventFilter{Since: base.Add(2 * time.Second)})); got != "logout login.failure" {
			t.Errorf("Events since: %s", got)
		}
		if es, _ := s.EventsOfUser(t.Context(), a.ID, 0, 1); len(es) != 1 {
			t.Errorf("limit 1: %d events", len(es))
		}
	}},
	{"WalkStops", func(t *testing.T, s latchkey.Store) {
		mustAppend(t, s, eventAt(latchkey.EventLoginFailure, 0, 0), eventAt(latchkey.EventLoginFailure, 0, time.Second))
		stop := errors.New("stop")
		n := 0
		err := s.Events(t.Context(), latchkey.EventFilter{}, func(latchkey.Event) error { n++; return stop })
		if err != stop || n != 1 {
			t.Fatalf("Events = %v after %d calls, want the callback's error after 1", err, n)
		}
	}},
	{"Retention", func(t *testing.T, s latchkey.Store) {
		u := mustUser(t, s, "alice")
		mustAppend(t, s,
			eventAt(latchkey.EventLoginSuccess, u.ID, -48*time.Hour),
			eventAt(latchkey.EventLoginFailure, 0, -25*time.Hour),
			eventAt(latchkey.EventLogout, u.ID, -time.Hour),
		)
		n, err := s.DeleteEventsBefore(t.Context(), base.Add(-24*time.Hour))
		if err != nil || n != 2 {
			t.Fatalf("DeleteEventsBefore = %d, %v; want 2", n, err)
		}
		if got := kindsOf(allEvents(t, s, latchkey.EventFilter{})); got != "logout" {
			t.Errorf("left: %s", got)
		}
		// Ids are not reused after a prune: a cursor stays valid.
		last := allEvents(t, s, latchkey.EventFilter{})[0].ID
		if _, err := s.DeleteEventsBefore(t.Context(), base); err != nil {
			t.Fatal(err)
		}
		mustAppend(t, s, eventAt(latchkey.EventLoginSuccess, u.ID, 0))
		if e := allEvents(t, s, latchkey.EventFilter{})[0]; e.ID <= last {
			t.Errorf("id %d after a prune, want above %d", e.ID, last)
		}
	}},
	{"Bounds", func(t *testing.T, s latchkey.Store) {
		in := eventAt(latchkey.EventLoginFailure, 0, 0)
		in.Username = strings.Repeat("é", latchkey.MaxEventUsername) + "\x00\xff"
		in.UserAgent = "\x1b[31m" + strings.Repeat("a", 2*latchkey.MaxEventUserAgent)
		in.Detail = strings.Repeat("d", 1000)
		mustAppend(t, s, in)
		e := allEvents(t, s, latchkey.EventFilter{})[0]
		for _, f := range []struct {
			name string
			v    string
			max  int
		}{{"Username", e.Username, latchkey.MaxEventUsername}, {"UserAgent", e.UserAgent, latchkey.MaxEventUserAgent}, {"Detail", e.Detail, latchkey.MaxEventText}} {
			if len(f.v) > f.max || !utf8.ValidString(f.v) || strings.ContainsAny(f.v, "\x00\x1b") {
				t.Errorf("%s stored as %d bytes (UTF-8 %t), want at most %d of clean UTF-8", f.name, len(f.v), utf8.ValidString(f.v), f.max)
			}
		}
		if !strings.HasPrefix(e.Username, "éé") || !strings.HasPrefix(e.UserAgent, "[31maaa") {
			t.Errorf("stored %q / %q: want the start kept", e.Username[:8], e.UserAgent[:8])
		}
	}},
}
