package main

import (
	"context"
	"fmt"
	"time"

	"github.com/cloudlink/cld/agent/api"
	"github.com/cloudlink/cld/agent/client"
	"github.com/cloudlink/cld/agent/provisioning"
)

const pmUsage = `Usage: cld pm <command> [flags]

The Provisioning Manager (PM) API of MiVoice MX-ONE: PM adds cld as its
"CloudLink Daemon" subsystem at https://<SNM>/cld and syncs the system's users
and devices through it to CloudLink (docs/pm-api.md).

Commands:
  status [--json]                     the PM admin user, the users and devices kept,
                                      the changes not yet in CloudLink, the last sync
  credential --username NAME [--password-stdin]
                                      set the PM admin user and password PM is given
                                      for the subsystem (the API answers once it is set)

Each takes --socket PATH and --config FILE.
`

func (c *cli) cmdPM(args []string) int {
	return c.runGroup(group{name: "pm", usage: pmUsage, subs: map[string]func([]string) int{
		"status":     c.pmStatus,
		"credential": c.pmCredential,
	}}, args)
}

func (c *cli) pmStatus(args []string) int {
	fs := c.newFlags("pm status", "[--json] [--socket PATH] [--config FILE]")
	asJSON := fs.Bool("json", false, "print api.Provisioning as JSON")
	return c.withClient(fs, args, 30*time.Second, func(ctx context.Context, cl *client.Client) int {
		p, err := cl.PM(ctx)
		if err != nil {
			return c.fail(err)
		}
		if *asJSON {
			return c.printJSON(p)
		}
		printPM(func(k, v string) { fmt.Fprintf(c.stdout, "%-18s %s\n", k+":", v) }, p)
		return exitOK
	})
}

func (c *cli) pmCredential(args []string) int {
	fs := c.newFlags("pm credential", "--username NAME [--password-stdin] [--socket PATH] [--config FILE]")
	username := fs.String("username", "", "the PM admin user name PM's subsystem is given")
	pwStdin := fs.Bool("password-stdin", false, "read the password from the first line of standard input")
	return c.withClient(fs, args, 30*time.Second, func(ctx context.Context, cl *client.Client) int {
		if *username == "" {
			return c.usageErr(fs, "--username is required")
		}
		password, code := c.readPassword(fs, *pwStdin, "PM admin password for "+*username+": ")
		if code != 0 {
			return code
		}
		p, err := cl.SetPMCredential(ctx, api.PMCredential{Username: *username, Password: password})
		if err != nil {
			return c.fail(err)
		}
		fmt.Fprintf(c.stdout, "PM admin credential for %q saved; give the same in PM's CloudLink Daemon subsystem (URL https://<SNM>/cld, API under %s).\n", p.Username, provisioning.Prefix)
		return exitOK
	})
}

// printPM renders the PM API's state for a person.
func printPM(row func(k, v string), p api.Provisioning) {
	if !p.Configured {
		row("PM API", "not set up (cld pm credential --username NAME sets it up)")
	} else {
		row("PM API", "set up for the PM admin user "+p.Username)
	}
	row("PM directory", count(p.Users, "user")+", "+count(p.Devices, "device"))
	switch {
	case p.Pending == 0:
		row("In CloudLink", "all of it")
	case p.Sending:
		row("In CloudLink", count(p.Pending, "change")+" on the way")
	default:
		row("In CloudLink", count(p.Pending, "change")+" waiting (sent when linked and CloudLink answers)")
	}
	if p.LastSync != nil {
		row("Last sync", p.LastSync.Local().Format(time.DateTime)+", "+count(p.LastChanges, "change"))
	}
	if p.LastError != "" {
		row("Last error", p.LastError)
	}
}

// count is "1 user", "2 users".
func count(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return fmt.Sprintf("%d %ss", n, noun)
}
