package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/latchkeyhq/latchkey"
	"github.com/latchkeyhq/latchkey/cache/memory"
	"github.com/latchkeyhq/latchkey/internal/config"
)

// maxEventsSince bounds --since as a duration: no event is older than
// the longest retention.
const maxEventsSince = config.MaxEventsRetention

// parseSince reads --since: a Go duration back from now (24h, from 1s to
// the longest retention) or an RFC 3339 time.
func parseSince(s string, now time.Time) (time.Time, error) {
	s = strings.TrimSpace(s)
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		return t.UTC(), nil
	}
	d, err := time.ParseDuration(s)
	if err != nil || d < time.Second || d > maxEventsSince {
		return time.Time{}, fmt.Errorf("--since must be a Go duration from 1s to %s (24h: the last day) or an RFC 3339 time (2026-01-02T15:04:05Z)", config.ShortDuration(maxEventsSince))
	}
	return now.Add(-d), nil
}

// eventLine is an event as `latchkey events --json` prints it: one JSON
// object a line, the keys of the log's lines.
type eventLine struct {
	ID        int64  `json:"id"`
	At        string `json:"at"`
	Event     string `json:"event"`
	UserID    *int64 `json:"user_id"`
	Username  string `json:"username"`
	Detail    string `json:"detail"`
	IP        string `json:"ip"`
	UserAgent string `json:"user_agent"`
	SessionID string `json:"session_id"`
}

func runEvents(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	var (
		user, since string
		asJSON      bool
	)
	cmd := command{
		name:   "latchkey events",
		groups: [][]setting{settings()},
		flags: func(fs *flag.FlagSet) {
			fs.StringVar(&user, "user", "", "only the events of this user")
			fs.StringVar(&since, "since", "24h", "only the events since: a Go duration back from now, or an RFC 3339 time")
			fs.BoolVar(&asJSON, "json", false, "print JSON lines, for a SIEM")
		},
		args: func(pos []string) error {
			if len(pos) > 0 {
				return errors.New("events takes no arguments")
			}
			return nil
		},
		validate: func(c *Config) error {
			if _, err := parseSince(since, time.Now()); err != nil {
				return err
			}
			return c.validate()
		},
	}
	cfg, _, store, err := cmd.open(ctx, args, getenv, stderr)
	if err != nil {
		return err
	}
	defer store.Close()
	auth := newAuthenticator(cfg, store, memory.New(memory.Options{MaxEntries: 16}), newHasher(cfg, nil), cfg.logger(stderr), latchkey.Options{})
	var f latchkey.EventFilter
	f.Since, _ = parseSince(since, time.Now())
	if user != "" {
		if f.UserID, err = auth.UserID(ctx, user); err != nil {
			return describe(err)
		}
	}
	if asJSON {
		enc := json.NewEncoder(stdout)
		return auth.Events(ctx, f, func(e latchkey.Event) error {
			l := eventLine{ID: e.ID, At: e.At.UTC().Format(time.RFC3339Nano), Event: string(e.Kind), Username: e.Username,
				Detail: e.Detail, IP: e.IP, UserAgent: e.UserAgent, SessionID: e.SessionID}
			if e.UserID != 0 {
				l.UserID = &e.UserID
			}
			return enc.Encode(l)
		})
	}
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "TIME\tEVENT\tUSER ID\tUSERNAME\tDETAIL\tIP\tSESSION\tUSER AGENT")
	err = auth.Events(ctx, f, func(e latchkey.Event) error {
		id := "-"
		if e.UserID != 0 {
			id = fmt.Sprint(e.UserID)
		}
		// A name as typed may be anything: quoted, so that it cannot
		// pass for another or break the columns.
		_, err := fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%q\n", e.At.UTC().Format(time.RFC3339), e.Kind, id,
			latchkey.QuoteUsername(e.Username), dash(e.Detail), dash(e.IP), dash(e.SessionID), e.UserAgent)
		return err
	})
	if err != nil {
		return err
	}
	return tw.Flush()
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
