package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/cloudlink/cld/agent/api"
	"github.com/cloudlink/cld/agent/client"
)

const inventoryUsage = `Usage: cld inventory <command> [flags]

Commands:
  status            when the cloud last accepted a report, when the next daily one is due,
                    and whether one waits in the outbox (--json for api.Inventory)
  preview [--json]  the exact report that would be sent now: pretty-printed JSON, or with
                    --json the document byte for byte as it goes on the wire (compact)
  submit            make a report and send it now; exit 1 when it was not delivered, with
                    the reason (an undelivered report stays in the outbox and is retried)

Each takes --socket PATH and --config FILE.
`

func (c *cli) cmdInventory(args []string) int {
	return c.runGroup(group{name: "inventory", usage: inventoryUsage, subs: map[string]func([]string) int{
		"status": c.inventoryStatus, "preview": c.inventoryPreview, "submit": c.inventorySubmit,
	}}, args)
}

func (c *cli) inventoryStatus(args []string) int {
	fs := c.newFlags("inventory status", "[--json] [--socket PATH] [--config FILE]")
	asJSON := fs.Bool("json", false, "print api.Inventory as JSON")
	return c.withClient(fs, args, 15*time.Second, func(ctx context.Context, cl *client.Client) int {
		inv, err := cl.Inventory(ctx)
		if err != nil {
			return c.fail(err)
		}
		if *asJSON {
			return c.printJSON(inv)
		}
		printInventory(func(k, v string) { fmt.Fprintf(c.stdout, "%-18s %s\n", k+":", v) }, inv, true)
		return exitOK
	})
}

func (c *cli) inventoryPreview(args []string) int {
	fs := c.newFlags("inventory preview", "[--json] [--socket PATH] [--config FILE]")
	raw := fs.Bool("json", false, "print the document byte for byte as it is sent (compact JSON) instead of indented")
	return c.withClient(fs, args, 60*time.Second, func(ctx context.Context, cl *client.Client) int {
		doc, err := cl.InventoryPreview(ctx)
		if err != nil {
			return c.fail(err)
		}
		if *raw {
			c.stdout.Write(doc)
			fmt.Fprintln(c.stdout)
			return exitOK
		}
		var out bytes.Buffer
		if err := json.Indent(&out, doc, "", "  "); err != nil {
			return c.fail(fmt.Errorf("the daemon's report is not valid JSON: %w", err))
		}
		out.WriteByte('\n')
		c.stdout.Write(out.Bytes())
		return exitOK
	})
}

func (c *cli) inventorySubmit(args []string) int {
	fs := c.newFlags("inventory submit", "[--socket PATH] [--config FILE]")
	return c.withClient(fs, args, 3*time.Minute, func(ctx context.Context, cl *client.Client) int {
		inv, err := cl.SubmitInventory(ctx)
		if err != nil {
			return c.fail(err)
		}
		if inv.LastError != "" {
			fmt.Fprintf(c.stderr, "cld: the inventory report was not delivered: %s\n", inv.LastError)
			if inv.Pending {
				fmt.Fprintln(c.stderr, "cld: it waits in the outbox and is retried; `cld inventory status` shows when it got through.")
			}
			return exitFail
		}
		fmt.Fprintf(c.stdout, "Inventory report accepted by CloudLink at %s.\n", fmtTime(inv.Last))
		return exitOK
	})
}

// printInventory adds the inventory rows of `cld status` (all: also when
// nothing is known yet).
func printInventory(row func(k, v string), inv api.Inventory, all bool) {
	if inv.Last != nil || all {
		row("Inventory last", fmtTime(inv.Last))
	}
	if inv.Next != nil {
		row("Inventory next", fmtTime(inv.Next))
	} else if all {
		row("Inventory next", "not scheduled (only while linked)")
	}
	if inv.Pending {
		row("Inventory pending", "yes, a report waits in the outbox and is retried")
	} else if all {
		row("Inventory pending", "no")
	}
	if inv.LastError != "" {
		row("Inventory error", inv.LastError)
	}
}

func fmtTime(t *time.Time) string {
	if t == nil {
		return "never"
	}
	return t.Local().Format("Mon, 02 Jan 2006 15:04:05 MST -0700")
}
