package main

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/cloudlink/cld/agent/api"
	"github.com/cloudlink/cld/agent/client"
)

const gatewayUsage = `Usage: cld gateway <command> [flags]

Commands:
  status [--json]   whether a CloudLink Gateway core is installed, its instances, version,
                    state and health, and what drives it (systemd or cld's supervisor)
  start             start it
  stop              stop it
  restart           restart it

Each takes --socket PATH and --config FILE. The exit code is 1 when the gateway
could not be controlled (the message says why) or none is installed.
`

func (c *cli) cmdGateway(args []string) int {
	action := func(name, route string) func([]string) int {
		return func(args []string) int {
			return c.withClient(c.newFlags(name, "[--socket PATH] [--config FILE]"), args, 2*time.Minute, func(ctx context.Context, cl *client.Client) int {
				g, err := cl.GatewayAction(ctx, route)
				if err != nil {
					return c.fail(err)
				}
				printGateway(func(k, v string) { fmt.Fprintf(c.stdout, "%-18s %s\n", k+":", v) }, g)
				return exitOK
			})
		}
	}
	return c.runGroup(group{name: "gateway", usage: gatewayUsage, subs: map[string]func([]string) int{
		"status":  c.gatewayStatus,
		"start":   action("gateway start", api.RouteGatewayStart),
		"stop":    action("gateway stop", api.RouteGatewayStop),
		"restart": action("gateway restart", api.RouteGatewayRestart),
	}}, args)
}

func (c *cli) gatewayStatus(args []string) int {
	fs := c.newFlags("gateway status", "[--json] [--socket PATH] [--config FILE]")
	asJSON := fs.Bool("json", false, "print api.Gateway as JSON")
	return c.withClient(fs, args, 30*time.Second, func(ctx context.Context, cl *client.Client) int {
		g, err := cl.Gateway(ctx)
		if err != nil {
			return c.fail(err)
		}
		if *asJSON {
			return c.printJSON(g)
		}
		printGateway(func(k, v string) { fmt.Fprintf(c.stdout, "%-18s %s\n", k+":", v) }, g)
		return exitOK
	})
}

// printGateway renders the gateway for a person.
func printGateway(row func(k, v string), g api.Gateway) {
	if !g.Installed {
		row("Gateway", "not installed")
		return
	}
	state := g.Status
	if g.Status == "running" && !g.Healthy {
		state += " (its REST interface does not answer healthy)"
	}
	row("Gateway", strings.TrimSpace("installed "+g.Version))
	row("Gateway state", state)
	if len(g.Instances) > 1 {
		row("Gateway instances", strings.Join(g.Instances, ", ")+" (more than one: see the warning)")
	}
	if g.Manager != "" {
		row("Gateway driven by", g.Manager)
	}
	if g.StatusURL != "" {
		row("Gateway status", g.StatusURL)
	}
	if g.Error != "" {
		row("Gateway error", g.Error)
	}
}
