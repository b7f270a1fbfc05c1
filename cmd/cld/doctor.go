package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/cloudlink/cld/agent"
	"github.com/cloudlink/cld/agent/api"
	"github.com/cloudlink/cld/agent/client"
	"github.com/cloudlink/cld/agent/config"
)

// cmdDoctor runs the daemon's prerequisite checks (through the local API,
// so the dashboard's Checks page shows the same) and exits 1 when one
// failed; warnings do not fail.
func (c *cli) cmdDoctor(args []string) int {
	fs := c.newFlags("doctor", "[--json] [--socket PATH] [--config FILE]")
	var sf socketFlags
	sf.add(fs)
	asJSON := fs.Bool("json", false, "print the findings as JSON (api.Doctor)")
	if code, ok := c.parse(fs, args); !ok {
		return code
	}
	cl, err := sf.client()
	if err != nil {
		return c.fail(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	d, err := cl.Doctor(ctx)
	if errors.Is(err, client.ErrDaemonDown) {
		// Without the daemon, check from here with the same configuration.
		cfg, cerr := sf.loadConfig()
		if cerr != nil {
			return c.fail(cerr)
		}
		d, err = agent.DoctorWithoutDaemon(ctx, cfg, err)
	}
	if err != nil {
		return c.fail(err)
	}
	if *asJSON {
		if code := c.printJSON(d); code != exitOK {
			return code
		}
	} else {
		printDoctor(c.stdout, d)
	}
	if !d.OK {
		return exitFail
	}
	return exitOK
}

// printDoctor renders the findings for a person: one line per check, the
// detail and, for a warning or failure, what to do.
func printDoctor(w io.Writer, d api.Doctor) {
	counts := map[string]int{}
	for _, ch := range d.Checks {
		counts[ch.Status]++
		fmt.Fprintf(w, "[%s] %s\n", strings.ToUpper(ch.Status), ch.Title)
		if ch.Detail != "" {
			fmt.Fprintf(w, "       %s\n", oneLine(ch.Detail))
		}
		if ch.Remedy != "" && ch.Status != api.CheckPass {
			fmt.Fprintf(w, "       Remedy: %s\n", oneLine(ch.Remedy))
		}
	}
	verdict := "All checks passed."
	switch {
	case !d.OK:
		verdict = "Some checks FAILED; fix them as the remedies say."
	case counts[api.CheckWarn] > 0:
		verdict = "No check failed; see the warnings."
	}
	fmt.Fprintf(w, "\n%d passed, %d warnings, %d failed, %d skipped. %s\n", counts[api.CheckPass], counts[api.CheckWarn], counts[api.CheckFail], counts[api.CheckSkip], verdict)
}

// printClock renders the clock line of `cld status`.
func printClock(row func(k, v string), c api.Clock) {
	if c.MeasuredAt == nil {
		row("Clock drift", "not measured yet")
	} else {
		row("Clock drift", fmt.Sprintf("%ss (host minus CloudLink; measured %s against %s)", api.SignedSeconds(c.DriftSeconds), c.MeasuredAt.Local().Format("Mon, 02 Jan 2006 15:04:05 MST -0700"), orUnknown(c.Source)))
	}
	sync := "unknown"
	if c.Synchronized != nil {
		sync = "no"
		if *c.Synchronized {
			sync = "yes"
		}
	}
	row("Clock synchronized", sync)
	if c.NTPServer != "" {
		v := "no answer"
		if c.NTPDriftSeconds != nil {
			v = fmt.Sprintf("%ss (host minus the NTP server; a cross-check: the cloud's time counts)", api.SignedSeconds(*c.NTPDriftSeconds))
		}
		row("NTP "+c.NTPServer, v)
	}
}

func orUnknown(s string) string {
	if s == "" {
		return "unknown"
	}
	return s
}

// loadConfig is the daemon's configuration as --config (or the default file)
// gives it, with --socket applied: what `cld doctor` checks when the daemon
// does not answer.
func (s *socketFlags) loadConfig() (config.Config, error) {
	cfg, err := config.LoadConfigFile(configFile(s.config))
	if err != nil {
		return cfg, err
	}
	if s.socket != "" {
		cfg.Socket = s.socket
	}
	return cfg, cfg.Validate()
}
