// Command latchkey is the login API server and its administration tool:
// `latchkey serve` runs the API; `latchkey user …`, `latchkey session …`,
// `latchkey client …` and `latchkey migrate` work on the same database,
// also while a server runs.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/latchkeyhq/latchkey/internal/dial"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	err := run(ctx, os.Args[1:], os.Getenv, os.Stdin, os.Stdout, os.Stderr)
	if errors.Is(err, flag.ErrHelp) {
		os.Exit(0)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "latchkey:", err)
		os.Exit(exitCode(err))
	}
}

// hangups relays SIGHUP to serve, which reloads its TLS certificate on
// it, or does nothing when it serves plain HTTP. Only serve takes SIGHUP,
// from its start: the other commands keep the default, a hangup ends them,
// as it ends any command of a terminal that closes.
func hangups() (<-chan os.Signal, func()) {
	c := make(chan os.Signal, 1)
	signal.Notify(c, syscall.SIGHUP)
	return c, func() { signal.Stop(c) }
}

// usageError is a mistake in the command line: exit status 2.
type usageError struct{ msg string }

func (e usageError) Error() string { return e.msg }

func exitCode(err error) int {
	var u usageError
	if errors.As(err, &u) {
		return 2
	}
	return 1
}

const usage = `latchkey: a login API server

Usage:
  latchkey serve [flags]                 run the API server
  latchkey migrate [flags]               apply database migrations
  latchkey user add NAME [--email E] [--first-name F] [--last-name L] [--password-stdin]
  latchkey user passwd NAME [--password-stdin]
  latchkey user disable NAME
  latchkey user enable NAME
  latchkey user mfa-reset NAME           remove a user's second factors; revokes every session
  latchkey user list
  latchkey session list NAME [--json]    a user's live sessions
  latchkey session revoke ID             revoke one session, as a logout
  latchkey session revoke --user NAME    revoke every session of a user
  latchkey client add NAME               register a service client; prints its secret
  latchkey client list
  latchkey client remove NAME
  latchkey events [--user NAME] [--since D] [--json]
                                         security events, oldest first (--json: JSON lines)
  latchkey import django (--dumpdata FILE | --from-db URL) [--token-expiry D] [--dry-run]

Run "latchkey serve --help" for the settings; each is a flag and an
environment variable.
`

// run is the whole program, with its environment passed in.
func run(ctx context.Context, args []string, getenv func(string) string, stdin io.Reader, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return usageError{"no command given"}
	}
	switch args[0] {
	case "serve":
		return runServe(ctx, args[1:], getenv, stderr)
	case "migrate":
		return runMigrate(ctx, args[1:], getenv, stdout, stderr)
	case "user":
		return runUser(ctx, args[1:], getenv, stdin, stdout, stderr)
	case "session":
		return runSession(ctx, args[1:], getenv, stdout, stderr)
	case "client":
		return runClient(ctx, args[1:], getenv, stdout, stderr)
	case "events":
		return runEvents(ctx, args[1:], getenv, stdout, stderr)
	case "import":
		return runImport(ctx, args[1:], getenv, stdin, stdout, stderr)
	case "help", "-h", "--help", "-help":
		fmt.Fprint(stdout, usage)
		return nil
	}
	fmt.Fprint(stderr, usage)
	return usageError{fmt.Sprintf("unknown command %q", args[0])}
}

// command is how one of the commands reads its command line: the
// settings it takes, its own flags, the arguments it wants and the checks
// its settings must pass.
type command struct {
	name   string      // as in its usage: "latchkey user add"
	groups [][]setting // its settings, each a flag and a variable
	// flags declares the command's own flags, when it has some.
	flags func(fs *flag.FlagSet)
	// args checks the positional arguments.
	args func(pos []string) error
	// positional, when set, says which arguments beginning with '-' are
	// positional all the same (a session id may begin with one), when no
	// flag has their name.
	positional func(arg string) bool
	// validate checks the settings and flags once parsed: Config.validate
	// or Config.validateServe, after the command's own rules.
	validate func(c *Config) error
}

// setup reads cmd's settings from getenv and args, and its flags and
// positional arguments from args, and checks them. A mistake is a
// usageError; --help is flag.ErrHelp.
func (cmd command) setup(args []string, getenv func(string) string, stderr io.Writer) (*Config, []string, error) {
	fs, cfg, err := newFlagSet(cmd.name, getenv, stderr, cmd.groups...)
	if err != nil {
		return nil, nil, usageError{err.Error()}
	}
	if cmd.flags != nil {
		cmd.flags(fs)
	}
	if cmd.positional != nil {
		args = shieldPositional(fs, args, cmd.positional)
	}
	pos, err := parse(fs, args)
	if err != nil {
		return nil, nil, err
	}
	if err := cmd.args(pos); err != nil {
		return nil, nil, usageError{err.Error()}
	}
	if err := cmd.validate(cfg); err != nil {
		return nil, nil, usageError{err.Error()}
	}
	return cfg, pos, nil
}

// open is setup, then the database opened and migrated, for a command
// that needs nothing else before. The caller closes the store.
func (cmd command) open(ctx context.Context, args []string, getenv func(string) string, stderr io.Writer) (*Config, []string, dial.Store, error) {
	cfg, pos, err := cmd.setup(args, getenv, stderr)
	if err != nil {
		return nil, nil, nil, err
	}
	st, err := dial.OpenStore(ctx, cfg.Database, true)
	if err != nil {
		return nil, nil, nil, err
	}
	return cfg, pos, st, nil
}

// shieldPositional puts "--" before each argument that positional says is
// one and that is neither a flag of fs nor the value of the flag before
// it, so that parse takes it as positional and goes on with the flags
// after it.
func shieldPositional(fs *flag.FlagSet, args []string, positional func(string) bool) []string {
	out := make([]string, 0, len(args))
	takesValue := false // the argument before is a flag whose value is next
	for i, a := range args {
		switch {
		case takesValue:
			takesValue = false
		case a == "--": // the rest is positional already
			return append(out, args[i:]...)
		case strings.HasPrefix(a, "-") && positional(a) && fs.Lookup(strings.TrimLeft(a, "-")) == nil:
			out = append(out, "--")
		case strings.HasPrefix(a, "-") && !strings.Contains(a, "="):
			if f := fs.Lookup(strings.TrimLeft(a, "-")); f != nil {
				b, ok := f.Value.(interface{ IsBoolFlag() bool })
				takesValue = !ok || !b.IsBoolFlag()
			}
		}
		out = append(out, a)
	}
	return out
}

// parse parses flags that may come before, after or between positional
// arguments, and returns the positional ones.
func parse(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				return nil, err
			}
			return nil, usageError{err.Error()}
		}
		args = fs.Args()
		if len(args) == 0 {
			return pos, nil
		}
		if args[0] == "--" {
			return append(pos, args[1:]...), nil
		}
		pos = append(pos, args[0])
		args = args[1:]
	}
}
