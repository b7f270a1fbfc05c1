package main

import (
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/cloudlink/cld/cloud"
	"github.com/cloudlink/cld/cloud/store"
)

// durationHint says how to write a clock offset.
const durationHint = "give a duration with a unit, such as 44s, -50s, 2m30s or 0"

// parseClockOffset reads a clock offset such as 44s or -50s.
func parseClockOffset(s string) (time.Duration, error) {
	d, err := time.ParseDuration(strings.TrimSpace(s))
	if err != nil {
		return 0, fmt.Errorf("%q is not a duration: %s", s, durationHint)
	}
	if err := cloud.ValidateClockOffset(d); err != nil {
		return 0, err
	}
	return d, nil
}

// clockOffsetFlag is serve's --clock-offset.
type clockOffsetFlag time.Duration

func (f *clockOffsetFlag) String() string { return time.Duration(*f).String() }
func (f *clockOffsetFlag) Set(s string) error {
	d, err := parseClockOffset(s)
	if err != nil {
		return err
	}
	*f = clockOffsetFlag(d)
	return nil
}

// parseFlagsAndArgs parses flags and arguments in any order. An argument
// that starts with a minus and a digit (-50s) is an argument, not a flag.
func parseFlagsAndArgs(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos, rest []string
	for i, a := range args {
		if a == "--" {
			pos = append(pos, args[i+1:]...)
			break
		}
		if len(a) > 1 && a[0] == '-' && (a[1] >= '0' && a[1] <= '9' || a[1] == '.') {
			pos = append(pos, a)
			continue
		}
		rest = append(rest, a)
	}
	for {
		if err := fs.Parse(rest); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				return nil, err
			}
			return nil, errUsage
		}
		if fs.NArg() == 0 {
			return pos, nil
		}
		pos = append(pos, fs.Arg(0))
		rest = fs.Args()[1:]
	}
}

// openCloudStore opens the store of an existing data directory: a clock
// command on a mistyped directory must not create a new store that no
// cloud reads.
func openCloudStore(e env, dir string) (*store.Store, error) {
	if _, err := os.Stat(filepath.Join(dir, store.FileName)); err != nil {
		return nil, fmt.Errorf("%s holds no cloud data (%s): give the data directory that cld-cloud serve uses (--data)", dir, store.FileName)
	}
	return openStore(e, dir)
}

func cmdClockOffset(e env, args []string) error {
	fs := newFlags(e, "clock offset", "--data DIR DURATION\n\nSets how far the cloud's clock runs ahead of this host's (negative: behind), such as\n44s or -50s; 0 sets it right. A running cld-cloud serve applies it within a second.")
	dir := fs.String("data", "", "data directory of the cloud")
	pos, err := parseFlagsAndArgs(fs, args)
	if err != nil {
		return err
	}
	switch {
	case *dir == "":
		return usagef(fs, "--data is required")
	case len(pos) == 0:
		return usagef(fs, "no offset given: %s", durationHint)
	case len(pos) > 1:
		return usagef(fs, "unexpected argument %q: give one offset", pos[1])
	}
	d, err := parseClockOffset(pos[0])
	if err != nil {
		return usagef(fs, "%v", err)
	}
	st, err := openCloudStore(e, *dir)
	if err != nil {
		return err
	}
	defer st.Close()
	old, _, err := st.ClockOffset(e.ctx)
	if err != nil {
		return err
	}
	if err := st.SetClockOffset(e.ctx, d, time.Now()); err != nil {
		return err
	}
	fmt.Fprintf(e.stdout, "The cloud's clock %s (offset %s, was %s).\n", cloud.DescribeClockOffset(d), d, old)
	fmt.Fprintln(e.stdout, "A running cld-cloud serve applies it within a second; serve sets it from its --clock-offset (default 0) when it starts.")
	return nil
}

func cmdClockShow(e env, args []string) error {
	fs := newFlags(e, "clock show", "--data DIR")
	dir := fs.String("data", "", "data directory of the cloud")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if *dir == "" {
		return usagef(fs, "--data is required")
	}
	st, err := openCloudStore(e, *dir)
	if err != nil {
		return err
	}
	defer st.Close()
	d, at, err := st.ClockOffset(e.ctx)
	if err != nil {
		return err
	}
	since := ""
	if !at.IsZero() {
		since = ", set " + at.Local().Format("2006-01-02 15:04:05 MST")
	}
	fmt.Fprintf(e.stdout, "The cloud's clock %s (offset %s%s).\n", cloud.DescribeClockOffset(d), d, since)
	return nil
}
