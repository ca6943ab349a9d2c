package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"golang.org/x/term"

	"github.com/latchkeyhq/latchkey"
)

func runMigrate(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	_, _, store, err := command{
		name:   "latchkey migrate",
		groups: [][]setting{settings()},
		args: func(pos []string) error {
			if len(pos) > 0 {
				return errors.New("migrate takes no arguments")
			}
			return nil
		},
		validate: (*Config).validate,
	}.open(ctx, args, getenv, stderr)
	if err != nil {
		return err
	}
	defer store.Close()
	fmt.Fprintln(stdout, "migrations applied")
	return nil
}

func runUser(ctx context.Context, args []string, getenv func(string) string, stdin io.Reader, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		return usageError{"user: expected add, passwd, disable, enable, mfa-reset or list"}
	}
	sub := args[0]
	var nu latchkey.NewUser
	var pwStdin bool
	cmd := command{
		name:   "latchkey user " + sub,
		groups: [][]setting{settings()},
		args: func(pos []string) error {
			if len(pos) != 1 {
				return fmt.Errorf("user %s needs exactly one user name", sub)
			}
			return nil
		},
		validate: (*Config).validate,
	}
	switch sub {
	case "add":
		cmd.flags = func(fs *flag.FlagSet) {
			fs.StringVar(&nu.Email, "email", "", "email address")
			fs.StringVar(&nu.FirstName, "first-name", "", "first name")
			fs.StringVar(&nu.LastName, "last-name", "", "last name")
			fs.BoolVar(&pwStdin, "password-stdin", false, "read the password from standard input")
		}
	case "passwd":
		cmd.flags = func(fs *flag.FlagSet) {
			fs.BoolVar(&pwStdin, "password-stdin", false, "read the password from standard input")
		}
	case "list":
		cmd.args = func(pos []string) error {
			if len(pos) > 0 {
				return errors.New("user list takes no arguments")
			}
			return nil
		}
	case "disable", "enable", "mfa-reset":
	default:
		return usageError{fmt.Sprintf("user: unknown command %q", sub)}
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

	switch sub {
	case "add":
		nu.Username = pos[0]
		pw, err := readPassword(stdin, stderr, pwStdin)
		if err != nil {
			return err
		}
		u, err := auth.AddUser(ctx, nu, pw)
		if err != nil {
			return describe(err)
		}
		fmt.Fprintf(stdout, "user %s added (id %d)\n", u.Username, u.ID)
	case "passwd":
		pw, err := readPassword(stdin, stderr, pwStdin)
		if err != nil {
			return err
		}
		if err := auth.SetUserPassword(ctx, pos[0], pw); err != nil {
			return describe(err)
		}
		fmt.Fprintf(stdout, "password of %s changed; every session of the user was revoked\n", pos[0])
	case "disable":
		if err := auth.SetUserActive(ctx, pos[0], false); err != nil {
			return describe(err)
		}
		fmt.Fprintf(stdout, "user %s disabled; every session of the user was revoked\n", pos[0])
	case "enable":
		if err := auth.SetUserActive(ctx, pos[0], true); err != nil {
			return describe(err)
		}
		fmt.Fprintf(stdout, "user %s enabled\n", pos[0])
	case "mfa-reset":
		n, err := auth.ResetMFA(ctx, pos[0])
		if err != nil {
			return describe(err)
		}
		fmt.Fprintf(stdout, "second factors of %s removed (TOTP and recovery codes); %d sessions revoked\n", pos[0], n)
	case "list":
		us, err := auth.Users(ctx)
		if err != nil {
			return err
		}
		tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "ID\tUSERNAME\tEMAIL\tACTIVE\tLAST LOGIN\tJOINED")
		for _, u := range us {
			last := "never"
			if !u.LastLogin.IsZero() {
				last = u.LastLogin.UTC().Format(time.RFC3339)
			}
			// A name stored before usernames were normalised is quoted:
			// it may hold control characters, or look like another.
			fmt.Fprintf(tw, "%d\t%s\t%s\t%t\t%s\t%s\n", u.ID, latchkey.QuoteUsername(u.Username), u.Email, u.Active, last, u.DateJoined.UTC().Format(time.RFC3339))
		}
		return tw.Flush()
	}
	return nil
}

// describe turns a domain error into a message for the terminal.
func describe(err error) error {
	var e *latchkey.Error
	if !errors.As(err, &e) {
		return err
	}
	if errors.Is(err, latchkey.ErrNotFound) {
		return errors.New("no such user")
	}
	if len(e.Fields) > 0 {
		var parts []string
		for f, msgs := range e.Fields {
			parts = append(parts, f+": "+strings.Join(msgs, " "))
		}
		return errors.New(strings.Join(parts, "; "))
	}
	return err
}

// readPassword reads a new password: one line from stdin with
// --password-stdin, else twice from the terminal without echo.
func readPassword(stdin io.Reader, stderr io.Writer, fromStdin bool) (latchkey.Password, error) {
	if fromStdin {
		line, err := bufio.NewReader(io.LimitReader(stdin, 4096)).ReadString('\n')
		if err != nil && !errors.Is(err, io.EOF) {
			return "", fmt.Errorf("read password: %w", err)
		}
		return latchkey.Password(strings.TrimRight(line, "\r\n")), nil
	}
	f, ok := stdin.(*os.File)
	if !ok || !term.IsTerminal(int(f.Fd())) {
		return "", usageError{"standard input is not a terminal: use --password-stdin"}
	}
	fmt.Fprint(stderr, "Password: ")
	a, err := term.ReadPassword(int(f.Fd()))
	fmt.Fprintln(stderr)
	if err != nil {
		return "", fmt.Errorf("read password: %w", err)
	}
	fmt.Fprint(stderr, "Password (again): ")
	b, err := term.ReadPassword(int(f.Fd()))
	fmt.Fprintln(stderr)
	if err != nil {
		return "", fmt.Errorf("read password: %w", err)
	}
	if string(a) != string(b) {
		return "", errors.New("the passwords do not match")
	}
	return latchkey.Password(a), nil
}
