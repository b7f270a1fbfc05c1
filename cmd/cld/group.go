package main

import (
	"context"
	"flag"
	"fmt"
	"time"

	"github.com/cloudlink/cld/agent/client"
)

// group is a command made of subcommands (cld tunnel, inventory, update):
// its usage and each subcommand's runner, which gets the arguments after
// the subcommand's name.
type group struct {
	name, usage string
	subs        map[string]func(args []string) int
}

// runGroup runs the subcommand args[0]; help prints the usage on stdout,
// nothing or an unknown subcommand is a usage error.
func (c *cli) runGroup(g group, args []string) int {
	if len(args) == 0 {
		fmt.Fprint(c.stderr, g.usage)
		return exitUsage
	}
	sub, rest := args[0], args[1:]
	if run, ok := g.subs[sub]; ok {
		return run(rest)
	}
	switch sub {
	case "help", "-h", "-help", "--help":
		fmt.Fprint(c.stdout, g.usage)
		return exitOK
	}
	fmt.Fprintf(c.stderr, "cld: unknown %s command %q\n\n%s", g.name, sub, g.usage)
	return exitUsage
}

// withClient parses a client command's flags (fs gets --socket and
// --config added here) and runs call with the daemon's client and a
// context that ends after timeout.
func (c *cli) withClient(fs *flag.FlagSet, args []string, timeout time.Duration, call func(ctx context.Context, cl *client.Client) int) int {
	var sf socketFlags
	sf.add(fs)
	if code, ok := c.parse(fs, args); !ok {
		return code
	}
	cl, err := sf.client()
	if err != nil {
		return c.fail(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	return call(ctx, cl)
}
