package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"
	"unicode"

	"github.com/latchkeyhq/latchkey"
)

// runSession administers users' sessions: `session list NAME` shows what
// GET /v1/sessions shows the user, and `session revoke` revokes one
// session by its id, or every session of a user, exactly as a logout:
// through the Authenticator, announced through the servers' Redis when
// LATCHKEY_CACHE_URL names it, and returning only once no server can
// still accept what it revoked.
func runSession(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		return usageError{"session: expected list or revoke"}
	}
	sub := args[0]
	var (
		asJSON bool
		user   string
	)
	cmd := command{
		name:     "latchkey session " + sub,
		groups:   [][]setting{settings()},
		validate: (*Config).validate,
	}
	switch sub {
	case "list":
		cmd.flags = func(fs *flag.FlagSet) {
			fs.BoolVar(&asJSON, "json", false, "print each session as a JSON object on a line of its own")
		}
		cmd.args = func(pos []string) error {
			if len(pos) != 1 {
				return errors.New("session list needs exactly one user name")
			}
			return nil
		}
	case "revoke":
		cmd.flags = func(fs *flag.FlagSet) {
			fs.StringVar(&user, "user", "", "revoke every session of this user")
		}
		cmd.args = func(pos []string) error {
			switch {
			case user != "" && len(pos) > 0:
				return errors.New("session revoke takes a session id or --user NAME, not both")
			case user == "" && len(pos) != 1:
				return errors.New("session revoke needs exactly one session id, or --user NAME")
			}
			return nil
		}
		cmd.positional = sessionIDShaped
	default:
		return usageError{fmt.Sprintf("session: unknown command %q", sub)}
	}
	cfg, pos, store, err := cmd.open(ctx, args[1:], getenv, stderr)
	if err != nil {
		return err
	}
	defer store.Close()
	log := cfg.logger(stderr)
	cache, closeCache, err := adminCache(cfg, log)
	if err != nil {
		return err
	}
	defer closeCache()
	auth := newAuthenticator(cfg, store, cache, newHasher(cfg, nil), log, latchkey.Options{})

	switch {
	case sub == "list":
		u, ss, err := auth.UserSessions(ctx, pos[0])
		if err != nil {
			return describe(err)
		}
		if asJSON {
			return listSessionsJSON(stdout, u, ss)
		}
		return listSessions(stdout, ss)
	case user != "":
		n, err := auth.RevokeUserSessions(ctx, user)
		if err != nil {
			return describe(err)
		}
		fmt.Fprintf(stdout, "every session of %s was revoked (%d)\n", latchkey.QuoteUsername(user), n)
	default:
		s, err := auth.RevokeSessionByID(ctx, pos[0])
		if errors.Is(err, latchkey.ErrNotFound) {
			return fmt.Errorf("no such session: %s (not one of any user's live sessions)", strconv.QuoteToASCII(pos[0]))
		}
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "session %s of user %d revoked\n", s.ID, s.UserID)
	}
	return nil
}

// listSessions prints sessions as a table. Its cells hold no control
// character (user agents are cleaned of them, device names refused with
// them); a cell with any other character a terminal may not show as
// itself is printed quoted, escaped, and an empty one as "-".
func listSessions(w io.Writer, ss []latchkey.Session) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tCREATED\tLAST USED\tEXPIRES\tIP\tDEVICE NAME\tUSER AGENT")
	for _, s := range ss {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", cell(s.ID),
			s.CreatedAt.UTC().Format(time.RFC3339), s.LastUsedAt.UTC().Format(time.RFC3339), s.ExpiresAt.UTC().Format(time.RFC3339),
			cell(s.IP), cell(s.DeviceName), cell(s.UserAgent))
	}
	return tw.Flush()
}

// cell returns v as a table shows it.
func cell(v string) string {
	switch {
	case v == "":
		return "-"
	case strings.ContainsFunc(v, func(r rune) bool { return !unicode.IsGraphic(r) || r == '\t' }):
		return strconv.QuoteToASCII(v)
	}
	return v
}

// sessionLine is a session as `session list --json` prints it: the
// fields of GET /v1/sessions, with the user's.
type sessionLine struct {
	ID         string `json:"id"`
	UserID     int64  `json:"user_id"`
	Username   string `json:"username"`
	CreatedAt  string `json:"created_at"`
	LastUsedAt string `json:"last_used_at"`
	ExpiresAt  string `json:"expires_at"`
	IP         string `json:"ip"`
	UserAgent  string `json:"user_agent"`
	DeviceName string `json:"device_name"`
}

// listSessionsJSON prints one JSON object per session, per line.
func listSessionsJSON(w io.Writer, u latchkey.User, ss []latchkey.Session) error {
	enc := json.NewEncoder(w)
	t := func(t time.Time) string { return t.UTC().Format(time.RFC3339Nano) }
	for _, s := range ss {
		err := enc.Encode(sessionLine{
			ID: s.ID, UserID: u.ID, Username: u.Username,
			CreatedAt: t(s.CreatedAt), LastUsedAt: t(s.LastUsedAt), ExpiresAt: t(s.ExpiresAt),
			IP: s.IP, UserAgent: s.UserAgent, DeviceName: s.DeviceName,
		})
		if err != nil {
			return err
		}
	}
	return nil
}

// sessionIDShaped reports whether arg has the shape of a session id, 22
// characters of URL-safe base64: one in 64 begins with '-', and is a
// session id all the same on the command line (see command.positional).
func sessionIDShaped(arg string) bool {
	if len(arg) != 22 {
		return false
	}
	for _, c := range []byte(arg) {
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-' || c == '_') {
			return false
		}
	}
	return true
}
