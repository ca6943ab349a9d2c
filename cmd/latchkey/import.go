package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"slices"
	"time"

	"github.com/latchkeyhq/latchkey"
	"github.com/latchkeyhq/latchkey/django"
	"github.com/latchkeyhq/latchkey/internal/config"
	"github.com/latchkeyhq/latchkey/internal/dial"
	"github.com/latchkeyhq/latchkey/password"
)

const importUsage = `Usage:
  latchkey import django (--dumpdata FILE | --from-db URL) [--token-expiry DURATION] [--dry-run] [flags]

Reads a Django project's users and Django REST Framework tokens, from the
output of "manage.py dumpdata auth.user authtoken.token" (--dumpdata; "-"
reads standard input) or from the project's database (--from-db
sqlite:PATH or postgres://…), into latchkey's database, in one
transaction. Users keep their ids, names, emails, dates, active flags
and password hashes; each token becomes a session, so clients sending
"Authorization: Token <key>" need no new login. A token expires
--token-ttl after its creation in Django, or --token-expiry after the
import when that is given; tokens already expired are skipped. Running
it again updates what changed in Django and duplicates nothing.

Flags:
`

// importSettings are the settings import takes: the database ones, and
// the token lifetime of serve.
func importSettings() []setting {
	var out []setting
	for _, s := range serveSettings() {
		if s.flag == "token-ttl" {
			out = append(out, s)
		}
	}
	return out
}

// runImport runs `latchkey import django`.
func runImport(ctx context.Context, args []string, getenv func(string) string, stdin io.Reader, stdout, stderr io.Writer) error {
	if len(args) == 0 || args[0] != "django" {
		fmt.Fprint(stderr, importUsage)
		if len(args) == 0 {
			return usageError{"import: say what to import from: django"}
		}
		return usageError{fmt.Sprintf("import: unknown source %q: use django", args[0])}
	}
	var (
		dump, fromDB, userModel string
		expiry                  time.Duration
		dryRun                  bool
	)
	cfg, _, err := command{
		name:   "latchkey import django",
		groups: [][]setting{settings(), importSettings()},
		flags: func(fs *flag.FlagSet) {
			fs.StringVar(&dump, "dumpdata", "", `a file written by "manage.py dumpdata auth.user authtoken.token" (JSON, JSON lines, or gzipped); "-" reads standard input`)
			fs.StringVar(&fromDB, "from-db", "", "the Django project's database, read-only: sqlite:PATH or postgres://USER@HOST/DB")
			fs.Var(config.DurationOrOff(&expiry, config.MinTokenTTL, config.MaxTokenTTL), "token-expiry", "when set, every imported token expires this long after the import (Go duration), instead of --token-ttl after its creation")
			fs.BoolVar(&dryRun, "dry-run", false, "count what would be imported, and write nothing")
			fs.StringVar(&userModel, "user-model", django.DefaultUserModel, "the project's AUTH_USER_MODEL, in lower case, if it has its own")
			fs.Usage = func() {
				fmt.Fprint(fs.Output(), importUsage)
				fs.PrintDefaults()
			}
		},
		args: func(pos []string) error {
			if len(pos) > 0 {
				return fmt.Errorf("import django takes no arguments, got %q", pos)
			}
			return nil
		},
		validate: func(c *Config) error {
			if (dump == "") == (fromDB == "") {
				return errors.New("import django needs one of --dumpdata FILE or --from-db URL")
			}
			return c.validate()
		},
	}.setup(args[1:], getenv, stderr)
	if err != nil {
		return err
	}
	reader := django.Reader{UserModel: userModel}
	if err := reader.Validate(); err != nil {
		return usageError{"user-model: " + err.Error()}
	}
	var (
		read func(context.Context, django.Handler) error
		from string
	)
	switch {
	case dump == "-":
		from = "standard input"
		read = func(ctx context.Context, h django.Handler) error { return reader.Dumpdata(ctx, stdin, h) }
	case dump != "":
		from = dump
		read = func(ctx context.Context, h django.Handler) error {
			f, err := os.Open(dump)
			if err != nil {
				return err
			}
			defer f.Close()
			return reader.Dumpdata(ctx, f, h)
		}
	default:
		db, err := dial.ParseDatabaseURL("from-db", fromDB)
		if err != nil {
			return usageError{err.Error()}
		}
		switch db.Kind {
		case "postgres":
			from = db.String()
			read = func(ctx context.Context, h django.Handler) error { return reader.Postgres(ctx, db.URL, h) }
		case "sqlite":
			if _, err := os.Stat(db.Path); err != nil {
				return fmt.Errorf("from-db: %w", err)
			}
			from = db.Path
			read = func(ctx context.Context, h django.Handler) error { return reader.SQLite(ctx, db.Path, h) }
		}
	}

	st, err := dial.OpenStore(ctx, cfg.Database, true)
	if err != nil {
		return err
	}
	defer st.Close()
	imp, ok := st.(latchkey.Importer)
	if !ok {
		return fmt.Errorf("import: the %s store cannot import", cfg.Database)
	}
	start := time.Now()
	rep, err := django.Import(ctx, imp, read, django.Options{TokenTTL: cfg.TokenTTL, TokenExpiry: expiry, DryRun: dryRun, KeepHash: password.IsOwn})
	if err != nil {
		return fmt.Errorf("import: nothing was written: %w", err)
	}
	printReport(stdout, rep, from, cfg.Database.String(), time.Since(start), cfg.TokenTTL, expiry)
	return nil
}

// printReport writes what an import did, and why it skipped what it
// skipped: every reason with its count, then the first skipped records.
func printReport(w io.Writer, rep django.Report, from, to string, took time.Duration, ttl, expiry time.Duration) {
	if rep.DryRun {
		fmt.Fprintf(w, "dry run: nothing was written to %s\n", to)
	}
	fmt.Fprintf(w, "read from %s into %s in %v\n", from, to, took.Round(time.Millisecond))
	fmt.Fprintf(w, "users:  %d created, %d updated, %d unchanged, %d skipped\n",
		rep.Users.Created, rep.Users.Updated, rep.Users.Unchanged, rep.Users.Skipped)
	fmt.Fprintf(w, "tokens: %d created, %d unchanged, %d skipped\n",
		rep.Tokens.Created, rep.Tokens.Unchanged, rep.Tokens.Skipped)
	if rep.KeptPasswords > 0 {
		fmt.Fprintf(w, "kept %d password hashes that users set in latchkey since an earlier import\n", rep.KeptPasswords)
	}
	if rep.Revoked > 0 {
		fmt.Fprintf(w, "revoked %d sessions of users disabled or with a new password in Django\n", rep.Revoked)
	}
	for _, c := range []struct {
		kind   string
		counts django.Counts
	}{{"users", rep.Users}, {"tokens", rep.Tokens}} {
		reasons := make([]string, 0, len(c.counts.Reasons))
		for r := range c.counts.Reasons {
			reasons = append(reasons, r)
		}
		slices.Sort(reasons)
		for _, r := range reasons {
			fmt.Fprintf(w, "skipped %s: %d %s\n", c.kind, c.counts.Reasons[r], r)
		}
	}
	if len(rep.Skips) > 0 {
		fmt.Fprintln(w, "skipped:")
		for _, s := range rep.Skips {
			fmt.Fprintf(w, "  %s\n", s)
		}
		if more := rep.Users.Skipped + rep.Tokens.Skipped - len(rep.Skips); more > 0 {
			fmt.Fprintf(w, "  … and %d more\n", more)
		}
	}
	if n := rep.Tokens.Reasons[django.SkipExpired]; n > 0 && expiry == 0 {
		fmt.Fprintf(w, "%d tokens were created more than --token-ttl (%v) ago; --token-expiry 720h would import them for 30 days\n", n, ttl)
	}
}
