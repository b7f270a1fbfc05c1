package main

import (
	"errors"
	"fmt"
	"strings"
	"text/tabwriter"

	"github.com/cloudlink/cld/cloud/store"
)

// cmdReportList lists a system's stored inventory reports, newest first.
func cmdReportList(e env, args []string) error {
	fs := newFlags(e, "report list", "--data DIR --system ID")
	dir := fs.String("data", "", "data directory of the cloud")
	sys := fs.String("system", "", "system ID")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	switch {
	case *dir == "":
		return usagef(fs, "--data is required")
	case *sys == "":
		return usagef(fs, "--system is required")
	}
	st, err := openStore(e, *dir)
	if err != nil {
		return err
	}
	defer st.Close()
	if _, err := st.SystemByID(e.ctx, *sys); errors.Is(err, store.ErrNotFound) {
		return fmt.Errorf("there is no system %s", *sys)
	} else if err != nil {
		return err
	}
	reps, err := st.Reports(e.ctx, *sys)
	if err != nil {
		return err
	}
	if len(reps) == 0 {
		fmt.Fprintf(e.stdout, "System %s has sent no inventory report yet.\n", *sys)
		return nil
	}
	tw := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "RECEIVED\tTRIGGER\tREPORT ID\tHOST\tPLATFORM\tVERSION\tCHANGES")
	for _, r := range reps {
		platform := r.PlatformType
		if r.PlatformName != "" {
			platform += " (" + r.PlatformName + ")"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", r.ReceivedAt.Format("2006-01-02T15:04:05Z"), dash(r.Trigger), r.ID,
			dash(r.Hostname), dash(strings.TrimSpace(platform)), dash(r.PlatformVersion), dash(strings.Join(r.Changes, "; ")))
	}
	return tw.Flush()
}

// cmdReportShow prints one stored report's JSON as the system sent it.
func cmdReportShow(e env, args []string) error {
	fs := newFlags(e, "report show", "--data DIR --system ID [--id REPORT]")
	dir := fs.String("data", "", "data directory of the cloud")
	sys := fs.String("system", "", "system ID")
	id := fs.String("id", "", "report ID (default: the latest report)")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	switch {
	case *dir == "":
		return usagef(fs, "--data is required")
	case *sys == "":
		return usagef(fs, "--system is required")
	}
	st, err := openStore(e, *dir)
	if err != nil {
		return err
	}
	defer st.Close()
	var r store.Report
	if *id == "" {
		r, err = st.LatestReport(e.ctx, *sys)
	} else {
		r, err = st.Report(e.ctx, *sys, *id)
	}
	if errors.Is(err, store.ErrNotFound) {
		if *id == "" {
			return fmt.Errorf("system %s has no stored inventory report", *sys)
		}
		return fmt.Errorf("system %s has no stored inventory report %s (see cld-cloud report list)", *sys, *id)
	}
	if err != nil {
		return err
	}
	e.stdout.Write(r.JSON)
	if len(r.JSON) > 0 && r.JSON[len(r.JSON)-1] != '\n' {
		fmt.Fprintln(e.stdout)
	}
	return nil
}
