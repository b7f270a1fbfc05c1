package main

import (
	"context"
	"flag"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/cloudlink/cld/agent/api"
	"github.com/cloudlink/cld/agent/client"
	"github.com/cloudlink/cld/updater"
)

const updateUsage = `Usage: cld update <command> [flags]

Commands:
  status [--json]             the schedule, last update, last and next check, a pause, the
                              release available and a running update's progress
  check                       ask CloudLink for a newer release now (it is not applied)
  now                         apply the available release now (also while paused); follow it
                              with 'cld update status'
  pause [--days N]            pause updates for N days (1-30, default 30); a pause never lasts
                              past 30 days from when it began, and updates cannot be turned off
  resume                      end a pause
  schedule daily HH:MM        check and update every day at HH:MM (the host's time zone)
  schedule weekly DAY HH:MM   once a week, e.g. 'schedule weekly tue 03:30'
  schedule default            the default: a time of the night spread over the fleet

Each takes --socket PATH and --config FILE.
`

func (c *cli) cmdUpdate(args []string) int {
	action := func(name, route string) func([]string) int {
		return func(args []string) int {
			return c.updateCall(c.newFlags(name, "[--socket PATH] [--config FILE]"), args, func(ctx context.Context, cl *client.Client) (api.Update, error) {
				return cl.UpdateAction(ctx, route)
			})
		}
	}
	return c.runGroup(group{name: "update", usage: updateUsage, subs: map[string]func([]string) int{
		"status":   c.updateStatus,
		"check":    action("update check", api.RouteUpdateCheck),
		"now":      action("update now", api.RouteUpdateNow),
		"resume":   action("update resume", api.RouteUpdateResume),
		"pause":    c.updatePause,
		"schedule": c.updateSchedule,
	}}, args)
}

func (c *cli) updateStatus(args []string) int {
	fs := c.newFlags("update status", "[--json] [--socket PATH] [--config FILE]")
	asJSON := fs.Bool("json", false, "print api.Update as JSON")
	return c.withClient(fs, args, 15*time.Second, func(ctx context.Context, cl *client.Client) int {
		u, err := cl.Update(ctx)
		if err != nil {
			return c.fail(err)
		}
		if *asJSON {
			return c.printJSON(u)
		}
		printUpdate(func(k, v string) { fmt.Fprintf(c.stdout, "%-18s %s\n", k+":", v) }, u, true)
		return exitOK
	})
}

func (c *cli) updatePause(args []string) int {
	fs := c.newFlags("update pause", "[--days N] [--socket PATH] [--config FILE]")
	days := fs.Int("days", 30, "pause for this many days (1-30)")
	return c.updateCall(fs, args, func(ctx context.Context, cl *client.Client) (api.Update, error) {
		if *days < 1 || *days > 30 {
			return api.Update{}, errUsage{fmt.Sprintf("--days %d: a pause lasts 1 to 30 days", *days)}
		}
		return cl.PauseUpdates(ctx, *days)
	})
}

func (c *cli) updateSchedule(args []string) int {
	fs := c.newFlags("update schedule", "daily HH:MM | weekly DAY HH:MM | default [--socket PATH] [--config FILE]")
	// The words come first; the flags after them.
	var words []string
	for len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		words, args = append(words, args[0]), args[1:]
	}
	var req api.UpdateScheduleRequest
	if len(words) == 1 && words[0] == "default" {
		req.Default = true
	} else {
		s, err := updater.ParseSchedule(words)
		if err != nil {
			return c.usageErr(fs, "%v", err)
		}
		req.Every, req.Time = string(s.Every), fmt.Sprintf("%02d:%02d", s.Minute/60, s.Minute%60)
		if s.Every == updater.Weekly {
			req.Weekday = strings.ToLower(s.Weekday.String())
		}
	}
	return c.updateCall(fs, args, func(ctx context.Context, cl *client.Client) (api.Update, error) {
		return cl.SetUpdateSchedule(ctx, req)
	})
}

// errUsage is a usage error found after the flags were parsed.
type errUsage struct{ msg string }

func (e errUsage) Error() string { return e.msg }

// updateCall runs one update call and prints the state after it.
func (c *cli) updateCall(fs *flag.FlagSet, args []string, call func(ctx context.Context, cl *client.Client) (api.Update, error)) int {
	return c.withClient(fs, args, 90*time.Second, func(ctx context.Context, cl *client.Client) int {
		u, err := call(ctx, cl)
		if ue, ok := err.(errUsage); ok {
			return c.usageErr(fs, "%s", ue.msg)
		}
		if err != nil {
			return c.fail(err)
		}
		printUpdate(func(k, v string) { fmt.Fprintf(c.stdout, "%-18s %s\n", k+":", v) }, u, true)
		return exitOK
	})
}

// printUpdate renders the update's state for a person.
func printUpdate(row func(k, v string), u api.Update, all bool) {
	sched := u.Schedule + " (" + u.Zone + ")"
	if u.Default {
		sched += ", the default"
	}
	row("Update schedule", sched)
	if u.LastUpdate != nil || all {
		row("Last update", describeResult(u.LastUpdate))
	}
	if all || u.LastCheck != nil {
		row("Last check", fmtTime(u.LastCheck))
	}
	if u.NextCheck != nil {
		row("Next check", fmtTime(u.NextCheck))
	} else if all {
		row("Next check", "not scheduled (only while linked)")
	}
	if u.PausedUntil != nil {
		row("Paused until", fmtTime(u.PausedUntil))
	}
	if a := u.Available; a != nil {
		v := a.Version
		if a.Skipped {
			v += " (failed here before: not tried by the schedule; 'cld update now' tries it)"
		} else {
			v += " ('cld update now' applies it)"
		}
		row("Available", v)
	} else if all {
		row("Available", "none")
	}
	if u.Stage != "" && all {
		row("Release stage", u.Stage)
	}
	state := u.State
	if p := u.Progress; p != nil && p.Total > 0 && u.State == api.UpdateStateDownloading {
		state += fmt.Sprintf(" %d %% (%s of %s)", p.Done*100/p.Total, size(p.Done), size(p.Total))
	}
	if all || u.State != api.UpdateStateIdle {
		row("Update state", state)
	}
	if u.LastError != "" {
		row("Update error", u.LastError)
	}
}

func describeResult(r *api.UpdateResult) string {
	if r == nil {
		return "none"
	}
	when := fmtTime(&r.Time)
	switch r.Result {
	case updater.ResultUpdated:
		return fmt.Sprintf("%s, updated from %s", when, r.From)
	case updater.ResultRolledBack:
		return fmt.Sprintf("%s, %s rolled back: %s", when, r.Version, r.Reason)
	case updater.ResultRefused:
		return fmt.Sprintf("%s, %s refused: %s", when, r.Version, r.Reason)
	case updater.ResultReplaced:
		return fmt.Sprintf("%s, %s", when, r.Reason)
	}
	return fmt.Sprintf("%s, %s %s: %s", when, r.Version, r.Result, r.Reason)
}

func size(n int64) string {
	if n < 1<<20 {
		return strconv.FormatInt(n>>10, 10) + " KiB"
	}
	return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
}
