package api

import (
	"net/http"
	"net/url"
	"strconv"

	"github.com/latchkeyhq/latchkey"
)

// defaultEventPage is the page of GET /v1/events without ?limit=.
const defaultEventPage = 50

// eventJSON is the public shape of a security event: never its Detail,
// which would tell the owner of an account whether another name exists.
type eventJSON struct {
	ID        int64  `json:"id"`
	At        string `json:"at"`
	Kind      string `json:"kind"`
	IP        string `json:"ip"`
	UserAgent string `json:"user_agent"`
	SessionID string `json:"session_id"`
}

type eventsJSON struct {
	Events []eventJSON `json:"events"`
	// Next is the ?before= of the following page; null on the last.
	Next *string `json:"next"`
}

// eventsQuery reads the query of GET /v1/events: ?before=, an event id
// (the next of the previous page), and ?limit=, from 1 to
// latchkey.MaxEventPage. Each at most once, in decimal digits.
func eventsQuery(q url.Values) (before int64, limit int, err error) {
	limit = defaultEventPage
	for _, f := range []struct {
		name string
		max  int64
		set  func(int64)
	}{
		{"before", 1<<63 - 1, func(n int64) { before = n }},
		{"limit", latchkey.MaxEventPage, func(n int64) { limit = int(n) }},
	} {
		vs, ok := q[f.name]
		if !ok {
			continue
		}
		if len(vs) != 1 {
			return 0, 0, latchkey.InvalidField(f.name, "Give it once.")
		}
		n, ok := positive(vs[0], f.max)
		if !ok {
			return 0, 0, latchkey.InvalidField(f.name, "Must be a whole number from 1 to "+strconv.FormatInt(f.max, 10)+".")
		}
		f.set(n)
	}
	return before, limit, nil
}

// positive parses s, decimal digits only, as a number from 1 to max.
func positive(s string, max int64) (int64, bool) {
	if s == "" || len(s) > 19 {
		return 0, false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return 0, false
		}
	}
	n, err := strconv.ParseInt(s, 10, 64)
	return n, err == nil && 1 <= n && n <= max
}

func (s *server) handleEvents() authedHandler {
	return func(w http.ResponseWriter, r *http.Request, p latchkey.Principal) {
		before, limit, err := eventsQuery(r.URL.Query())
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		es, err := s.auth.UserEvents(r.Context(), p, before, limit)
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		out := eventsJSON{Events: make([]eventJSON, 0, len(es))}
		for _, e := range es {
			out.Events = append(out.Events, eventJSON{
				ID: e.ID, At: timeJSON(e.At), Kind: string(e.Kind),
				IP: e.IP, UserAgent: e.UserAgent, SessionID: e.SessionID,
			})
		}
		if len(es) == limit {
			next := strconv.FormatInt(es[len(es)-1].ID, 10)
			out.Next = &next
		}
		writeJSON(w, http.StatusOK, out)
	}
}
