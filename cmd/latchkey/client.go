package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"text/tabwriter"
	"time"

	"github.com/latchkeyhq/latchkey"
	"github.com/latchkeyhq/latchkey/cache/memory"
)

// runClient administers the service clients, the services that may call
// POST /v1/introspect. `client add` prints the new secret, and nothing
// else, on stdout, so that a script can capture it; the secret is shown
// this once and never stored.
func runClient(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		return usageError{"client: expected add, list or remove"}
	}
	sub := args[0]
	cmd := command{
		name:   "latchkey client " + sub,
		groups: [][]setting{settings()},
		args: func(pos []string) error {
			if len(pos) != 1 {
				return fmt.Errorf("client %s needs exactly one client name", sub)
			}
			if err := latchkey.CheckServiceClientName(pos[0]); err != nil {
				return fmt.Errorf("client %s %q: %s", sub, pos[0], latchkey.AsError(err).Fields["name"][0])
			}
			return nil
		},
		validate: (*Config).validate,
	}
	switch sub {
	case "add", "remove":
	case "list":
		cmd.args = func(pos []string) error {
			if len(pos) > 0 {
				return errors.New("client list takes no arguments")
			}
			return nil
		}
	default:
		return usageError{fmt.Sprintf("client: unknown command %q", sub)}
	}
	cfg, pos, store, err := cmd.open(ctx, args[1:], getenv, stderr)
	if err != nil {
		return err
	}
	defer store.Close()
	// Service clients are in no cache: a small one of the command's own,
	// which nothing reads.
	auth := newAuthenticator(cfg, store, memory.New(memory.Options{MaxEntries: 16}), newHasher(cfg, nil), cfg.logger(stderr), latchkey.Options{})

	switch sub {
	case "add":
		c, secret, err := auth.AddServiceClient(ctx, pos[0])
		if err != nil {
			return describe(err)
		}
		fmt.Fprintln(stdout, secret.Reveal())
		fmt.Fprintf(stderr, "service client %s added; its secret, above, is shown this once\n", c.Name)
	case "remove":
		err := auth.RemoveServiceClient(ctx, pos[0])
		if errors.Is(err, latchkey.ErrNotFound) {
			return fmt.Errorf("no such service client: %s", pos[0])
		}
		if err != nil {
			return describe(err)
		}
		fmt.Fprintf(stdout, "service client %s removed; its secret no longer authenticates\n", pos[0])
	case "list":
		cs, err := auth.ServiceClients(ctx)
		if err != nil {
			return err
		}
		tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "NAME\tCREATED")
		for _, c := range cs {
			fmt.Fprintf(tw, "%s\t%s\n", c.Name, c.CreatedAt.UTC().Format(time.RFC3339))
		}
		return tw.Flush()
	}
	return nil
}
