package cloud

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/cloudlink/cld/cloud/store"
	"github.com/cloudlink/cld/inventory"
)

// The portal's system page (GET /portal/systems/{id}): the system, its
// latest inventory report (key facts as tables and the raw JSON) and the
// history of stored reports; GET /portal/systems/{id}/reports/{report}
// shows an older one the same way. Any member of the system's account may
// look.

// systemPage is the system page's data.
type systemPage struct {
	Row      systemRow
	Report   *store.Report     // the report shown (nil: none yet)
	Latest   bool              // it is the latest one
	Doc      *inventory.Report // decoded (nil if it could not be)
	DocError string            // why it could not be decoded
	Sections []factSection     // host, platform, license, clock, daemon…
	RawJSON  string            // indented
	History  []store.Report
}

// factSection is a titled two-column table.
type factSection struct {
	Title string
	Facts []fact
}

type fact struct{ Label, Value string }

func (s *Server) handlePortalSystem(w http.ResponseWriter, r *http.Request) {
	p, ok := s.requirePortal(w, r)
	if !ok {
		return
	}
	ctx := r.Context()
	sys, err := s.store.SystemByID(ctx, r.PathValue("id"))
	if errors.Is(err, store.ErrNotFound) || (err == nil && sys.Account.ID != p.member.Account.ID) {
		s.render(w, http.StatusNotFound, "error.html", pageData{Title: "No such system", Heading: "No such system", Narrow: true, Nav: p.nav(),
			Error: fmt.Sprintf("Account %d has no system %s.", p.member.Account.ID, r.PathValue("id"))})
		return
	}
	if err != nil {
		s.log.Error("read system failed", "err", err)
		s.errorPage(w, r, http.StatusInternalServerError, "Portal unavailable", "The cloud could not read the system. Try again later.")
		return
	}
	fail := func(what string, err error) {
		s.log.Error(what+" failed", "system_id", sys.ID, "err", err)
		s.errorPage(w, r, http.StatusInternalServerError, "Portal unavailable", "The cloud could not read the system's inventory reports. Try again later.")
	}
	history, err := s.store.Reports(ctx, sys.ID)
	if err != nil {
		fail("list reports", err)
		return
	}
	tunnels, err := s.store.Tunnels(ctx, sys.ID)
	if err != nil {
		fail("list tunnels", err)
		return
	}
	d := &systemPage{Row: s.systemRow(sys, tunnels), History: history}
	var rep store.Report
	if id := r.PathValue("report"); id != "" {
		rep, err = s.store.Report(ctx, sys.ID, id)
		if errors.Is(err, store.ErrNotFound) {
			s.render(w, http.StatusNotFound, "error.html", pageData{Title: "No such report", Heading: "No such report", Narrow: true, Nav: p.nav(),
				Error: fmt.Sprintf("%s has no stored inventory report %s (the cloud keeps the last %d). Go back to the system's page.",
					sys.Hostname, id, store.MaxReportsPerSystem)})
			return
		}
	} else {
		rep, err = s.store.LatestReport(ctx, sys.ID)
		if errors.Is(err, store.ErrNotFound) {
			err = nil
		}
	}
	if err != nil {
		fail("read report", err)
		return
	}
	if rep.ID != "" {
		d.Report = &rep
		d.Latest = len(history) > 0 && history[0].ID == rep.ID
		if doc, err := decodeReport(rep.JSON); err != nil {
			d.DocError = err.Error()
		} else {
			d.Doc = doc
			d.Sections = reportSections(doc)
		}
		var buf bytes.Buffer
		if json.Indent(&buf, rep.JSON, "", "  ") == nil {
			d.RawJSON = buf.String()
		} else {
			d.RawJSON = string(rep.JSON)
		}
	}
	if len(history) > 0 {
		d.Row.Report = &history[0]
	}
	title := d.Row.Host()
	s.render(w, http.StatusOK, "system.html", pageData{Title: title, Heading: title, Nav: p.nav(), Detail: d})
}

// systemRow is a system with its tunnels (public URLs unless removed),
// tunnel session and latest report for the portal's tables.
func (s *Server) systemRow(sys store.System, tunnels []store.Tunnel) systemRow {
	row := systemRow{System: sys, Connected: !sys.Revoked() && s.edge.tun.Connected(sys.ID)}
	for _, t := range tunnels {
		tr := tunnelRow{Tunnel: t}
		if !sys.Revoked() {
			tr.PublicURL = s.edge.publicURL(sys.Account.Region, t.UUID)
		}
		row.Tunnels = append(row.Tunnels, tr)
	}
	return row
}

// reportSections are the report's key facts as titled tables (sections
// the report lacks are left out; lists such as applications and tunnels
// are tables of their own in the template).
func reportSections(rep *inventory.Report) []factSection {
	var out []factSection
	add := func(title string, fs ...fact) {
		var kept []fact
		for _, f := range fs {
			if f.Value != "" {
				kept = append(kept, f)
			}
		}
		if len(kept) > 0 {
			out = append(out, factSection{title, kept})
		}
	}
	if h := rep.Host; h != nil {
		add("Host",
			fact{"Host name", h.Hostname}, fact{"Addresses", strings.Join(h.Addresses, ", ")}, fact{"OS", h.OS},
			fact{"Kernel", h.Kernel}, fact{"Architecture", h.Arch}, fact{"CPU", cpuText(h)},
			fact{"Memory", sizeText(h.MemoryBytes)}, fact{"Disk", diskText(h)}, fact{"Uptime", uptimeText(h.UptimeSeconds)},
			fact{"Time zone", h.TimeZone}, fact{"Container", h.Container})
	}
	if p := rep.Platform; p != nil {
		parent := ""
		if p.Parent != "" {
			parent = p.Parent + " (this is its child platform; the parent is not listed)"
		}
		add("Platform", fact{"Type", p.Type}, fact{"Name", p.Name}, fact{"Version", p.Version}, fact{"Parent platform", parent})
	}
	if l := rep.License; l != nil {
		add("License", fact{"Type", l.Type}, fact{"Expires", dateText(l.Expires)},
			fact{"Software assurance (SWA)", l.SWAStatus}, fact{"SWA expires", dateText(l.SWAExpiry)})
	}
	if c := rep.Clock; c != nil {
		synced := ""
		if c.Synchronized != nil {
			synced = map[bool]string{true: "yes", false: "no"}[*c.Synchronized]
		}
		add("Clock", fact{"Drift", strconv.FormatFloat(c.DriftSeconds, 'f', 3, 64) + " s"},
			fact{"Synchronized (host says)", synced}, fact{"Measured at", timeText(c.MeasuredAt)})
	}
	if d := rep.Daemon; d != nil {
		add("Daemon", fact{"Version", d.Version}, fact{"Build", d.Build}, fact{"Commit", d.Commit},
			fact{"Branch", d.Branch}, fact{"Release stage", d.Stage})
	}
	if g := rep.Gateway; g != nil {
		inst := ""
		if g.Instances > 0 {
			inst = strconv.Itoa(g.Instances)
		}
		add("CloudLink Gateway", fact{"Installed", map[bool]string{true: "yes", false: "no"}[g.Installed]},
			fact{"Version", g.Version}, fact{"Status", g.Status}, fact{"Instances", inst})
	}
	if u := rep.UpdateSchedule; u != nil {
		add("Update schedule", fact{"Schedule", u.Schedule}, fact{"Time of day", u.TimeOfDay},
			fact{"Paused until", timeText(u.PausedUntil)}, fact{"Last update", timeText(u.LastUpdate)},
			fact{"Last check", timeText(u.LastCheck)}, fact{"Next check", timeText(u.NextCheck)})
	}
	return out
}

func cpuText(h *inventory.Host) string {
	switch {
	case h.CPUModel != "" && h.CPUCores > 0:
		return fmt.Sprintf("%s, %d cores", h.CPUModel, h.CPUCores)
	case h.CPUCores > 0:
		return fmt.Sprintf("%d cores", h.CPUCores)
	}
	return h.CPUModel
}

func diskText(h *inventory.Host) string {
	if h.DiskBytes == 0 {
		return ""
	}
	return fmt.Sprintf("%s, %s free", sizeText(h.DiskBytes), sizeText(h.DiskFreeBytes))
}

// sizeText is a byte count in binary units ("" for 0).
func sizeText(n uint64) string {
	if n == 0 {
		return ""
	}
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := uint64(unit), 0
	for m := n / unit; m >= unit && exp < 4; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTP"[exp])
}

func uptimeText(sec uint64) string {
	if sec == 0 {
		return ""
	}
	d := time.Duration(sec) * time.Second
	days := int(d / (24 * time.Hour))
	d -= time.Duration(days) * 24 * time.Hour
	switch {
	case days == 1:
		return fmt.Sprintf("1 day %d h", int(d/time.Hour))
	case days > 1:
		return fmt.Sprintf("%d days %d h", days, int(d/time.Hour))
	}
	return fmt.Sprintf("%d h %d min", int(d/time.Hour), int(d%time.Hour/time.Minute))
}

func dateText(t *time.Time) string {
	if t == nil || t.IsZero() {
		return ""
	}
	return t.UTC().Format("2006-01-02")
}

func timeText(t *time.Time) string {
	if t == nil || t.IsZero() {
		return ""
	}
	return formatTime(*t)
}

// fmtDate is a date for the tables ("" for the zero time).
func fmtDate(t time.Time) string { return dateText(&t) }

// fmtMS is a collector's duration.
func fmtMS(ms float64) string { return strconv.FormatFloat(ms, 'f', 1, 64) + " ms" }
