package main

import (
	"context"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/cloudlink/cld/agent/api"
	"github.com/cloudlink/cld/agent/client"
)

const tunnelUsage = `Usage: cld tunnel <command> [flags]

Commands:
  list [--json]   show the host's tunnels, their status and why
  start ID        start a tunnel (it stays started across restarts)
  stop ID         stop a tunnel
  start-all       start every tunnel
  stop-all        stop every tunnel
  audit [--json]  the access audit: the last 100 public connections through
                  the tunnels, newest first, with the portal user the edge
                  vouched for, the client, start, end and bytes each way

Each takes --socket PATH and --config FILE; start and start-all wait up to
--wait (default 10s) for the tunnels to leave "starting". The exit code is 1
when the daemon refused the command (e.g. an unknown ID), 2 on a usage
error; a tunnel in error (the REASON column says why) is not a failure of
the command: the choice is kept and the tunnel starts once it can.
`

func (c *cli) cmdTunnel(args []string) int {
	named := func(run func(string, []string) int, sub string) func([]string) int {
		return func(args []string) int { return run(sub, args) }
	}
	return c.runGroup(group{name: "tunnel", usage: tunnelUsage, subs: map[string]func([]string) int{
		"list": c.tunnelList, "ls": c.tunnelList,
		"start": named(c.tunnelOne, "start"), "stop": named(c.tunnelOne, "stop"),
		"start-all": named(c.tunnelAll, "start-all"), "stop-all": named(c.tunnelAll, "stop-all"),
		"audit": c.tunnelAudit,
	}}, args)
}

func (c *cli) tunnelAudit(args []string) int {
	return show(c, "tunnel audit", "print the records as JSON (api.Audit)", args, (*client.Client).TunnelAudit, printAudit)
}

// printAudit renders the access audit for a person.
func printAudit(w io.Writer, a api.Audit) {
	if len(a.Records) == 0 {
		fmt.Fprintf(w, "No connection through a tunnel has been recorded yet (the audit log is %s).\n", a.Path)
		return
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "START\tEND\tTUNNEL\tUSER\tCLIENT\tBYTES IN\tBYTES OUT")
	for _, r := range a.Records {
		user := r.User
		if user == "" {
			user = "-"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%d\t%d\n", r.Start.Local().Format(time.DateTime), r.End.Local().Format(time.DateTime),
			r.Tunnel, oneLine(user), oneLine(r.Client), r.BytesIn, r.BytesOut)
	}
	tw.Flush()
	fmt.Fprintf(w, "\n%d most recent connections, newest first; the log is %s.\n", len(a.Records), a.Path)
}

func (c *cli) tunnelList(args []string) int {
	return show(c, "tunnel list", "print the tunnels as JSON (api.Tunnels)", args, (*client.Client).Tunnels, printTunnels)
}

// tunnelOne starts or stops the tunnel named by the one argument. Flags may
// come before or after the ID.
func (c *cli) tunnelOne(op string, args []string) int {
	fs := c.newFlags("tunnel "+op, "ID [--socket PATH] [--config FILE]"+waitSynopsis(op))
	var sf socketFlags
	sf.add(fs)
	wait := addWait(fs, op)
	var id string
	var flagArgs []string
	for i := 0; i < len(args); i++ {
		a := args[i]
		switch {
		case a == "--":
			if i+1 < len(args) && id == "" {
				id = args[i+1]
				i++
			}
			flagArgs = append(flagArgs, args[i+1:]...)
			i = len(args)
		case strings.HasPrefix(a, "-"):
			flagArgs = append(flagArgs, a)
			if !strings.Contains(a, "=") && takesValue(a) && i+1 < len(args) {
				flagArgs = append(flagArgs, args[i+1])
				i++
			}
		case id == "":
			id = a
		default:
			flagArgs = append(flagArgs, a) // reported as unexpected by parse
		}
	}
	if code, ok := c.parse(fs, flagArgs); !ok {
		return code
	}
	if id == "" {
		return c.usageErr(fs, "name the tunnel to %s (its ID; `cld tunnel list` shows them)", op)
	}
	cl, err := sf.client()
	if err != nil {
		return c.fail(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second+*wait)
	defer cancel()
	var ts api.Tunnels
	if op == "start" {
		ts, err = cl.StartTunnel(ctx, id)
	} else {
		ts, err = cl.StopTunnel(ctx, id)
	}
	if err != nil {
		return c.fail(err)
	}
	if op == "start" {
		ts = waitStarting(ctx, cl, ts, *wait, id)
	}
	for _, t := range ts.Tunnels {
		if t.ID == id {
			printTunnels(c.stdout, api.Tunnels{Tunnels: []api.Tunnel{t}, Connected: ts.Connected, Refused: ts.Refused, RefusedUnsigned: ts.RefusedUnsigned})
		}
	}
	return exitOK
}

func (c *cli) tunnelAll(op string, args []string) int {
	fs := c.newFlags("tunnel "+op, "[--socket PATH] [--config FILE]"+waitSynopsis(op))
	var sf socketFlags
	sf.add(fs)
	wait := addWait(fs, op)
	if code, ok := c.parse(fs, args); !ok {
		return code
	}
	cl, err := sf.client()
	if err != nil {
		return c.fail(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second+*wait)
	defer cancel()
	var ts api.Tunnels
	if op == "start-all" {
		ts, err = cl.StartAllTunnels(ctx)
		if err == nil {
			ts = waitStarting(ctx, cl, ts, *wait, "")
		}
	} else {
		ts, err = cl.StopAllTunnels(ctx)
	}
	if err != nil {
		return c.fail(err)
	}
	printTunnels(c.stdout, ts)
	return exitOK
}

func waitSynopsis(op string) string {
	if strings.HasPrefix(op, "start") {
		return " [--wait DURATION]"
	}
	return ""
}

func addWait(fs interface {
	Duration(string, time.Duration, string) *time.Duration
}, op string) *time.Duration {
	if strings.HasPrefix(op, "start") {
		return fs.Duration("wait", 10*time.Second, "how long to wait for the tunnels to leave \"starting\" (0: do not wait)")
	}
	d := time.Duration(0)
	return &d
}

// takesValue tells the flags of tunnel start/stop that take a value.
func takesValue(flag string) bool {
	name := strings.TrimLeft(flag, "-")
	return name == "socket" || name == "config" || name == "wait"
}

// waitStarting polls until the tunnel id (every enabled tunnel when "")
// is no longer starting, or wait has passed; it returns the last answer.
func waitStarting(ctx context.Context, cl *client.Client, ts api.Tunnels, wait time.Duration, id string) api.Tunnels {
	deadline := time.Now().Add(wait)
	for {
		starting := false
		for _, t := range ts.Tunnels {
			if (id == "" || t.ID == id) && t.Enabled && t.Status == api.TunnelStarting {
				starting = true
			}
		}
		if !starting || time.Now().After(deadline) {
			return ts
		}
		select {
		case <-ctx.Done():
			return ts
		case <-time.After(200 * time.Millisecond):
		}
		next, err := cl.Tunnels(ctx)
		if err != nil {
			return ts
		}
		ts = next
	}
}

// printTunnels renders the tunnel table for a person.
func printTunnels(w io.Writer, ts api.Tunnels) {
	if len(ts.Tunnels) == 0 {
		fmt.Fprintln(w, "This host defines no tunnels (no platform with tunnels was detected or configured).")
		return
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tCOMPONENT\tTUNNEL\tSTATUS\tENABLED\tREASON")
	for _, t := range ts.Tunnels {
		enabled := "no"
		if t.Enabled {
			enabled = "yes"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", t.ID, oneLine(t.Component), oneLine(t.Name), t.Status, enabled, oneLine(t.Reason))
	}
	tw.Flush()
	conn := "no"
	if ts.Connected {
		conn = "yes"
	}
	fmt.Fprintf(w, "\nConnected to the tunnel edge: %s; streams refused: %d", conn, ts.Refused)
	if ts.RefusedUnsigned > 0 {
		fmt.Fprintf(w, " (%d without a valid signature of the edge)", ts.RefusedUnsigned)
	}
	fmt.Fprintln(w)
	for _, t := range ts.Tunnels {
		if t.PublicURL != "" && t.Status == api.TunnelStarted {
			fmt.Fprintf(w, "%s: %s → %s\n", t.ID, t.PublicURL, t.LocalAddress)
		}
	}
}

// oneLine keeps a table cell on one line.
func oneLine(s string) string {
	return strings.Join(strings.Fields(s), " ")
}
