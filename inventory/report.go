// Package inventory describes a host truthfully: collectors that run
// concurrently (each reporting success, duration, or "no data" apart from
// failure), and the versioned report they fill, whose schema is written down
// in schema/ beside this file. The report never carries a secret.
//
// The daemon builds reports; the reference cloud decodes and stores them.
package inventory

import "time"

// SchemaVersion is the version of the report format written by this code.
// A reader accepts every version up to its own and rejects newer ones.
const SchemaVersion = 1

// Report is one inventory report. Sections for parts a host does not have
// (yet) are absent (nil), never empty placeholders.
type Report struct {
	SchemaVersion int `json:"schema_version"`
	// ID identifies this report; a retried delivery carries the same ID and
	// is stored once.
	ID          string    `json:"id"`
	SystemID    string    `json:"system_id"`
	GeneratedAt time.Time `json:"generated_at"`
	// Trigger says why it was made: link, start, daily, change, manual.
	Trigger string `json:"trigger"`
	// Changes lists what changed, for Trigger "change" (e.g.
	// "tunnel msl-server-manager: stopped → started").
	Changes []string `json:"changes,omitempty"`

	Host         *Host         `json:"host,omitempty"`
	Platform     *Platform     `json:"platform,omitempty"`
	Applications []Application `json:"applications,omitempty"`
	License      *License      `json:"license,omitempty"`
	Tunnels      []Tunnel      `json:"tunnels,omitempty"`
	Clock        *Clock        `json:"clock,omitempty"`
	Daemon       *Daemon       `json:"daemon,omitempty"`
	Warnings     []Warning     `json:"warnings,omitempty"`
	// Gateway is the co-located CloudLink Gateway core, when installed.
	Gateway        *Gateway        `json:"gateway,omitempty"`
	UpdateSchedule *UpdateSchedule `json:"update_schedule,omitempty"`
	// Access is the access audit's totals over the report period.
	Access *Access `json:"access,omitempty"`

	// Collection says how each collector fared.
	Collection []CollectorResult `json:"collection"`
}

// Collector outcomes.
const (
	CollectorOK     = "ok"      // data collected
	CollectorNoData = "no_data" // the source is absent here (not a failure)
	CollectorFailed = "failed"  // the source is there but could not be read
)

// CollectorResult is how one collector fared.
type CollectorResult struct {
	Name       string  `json:"name"`
	Status     string  `json:"status"`           // one of the Collector* outcomes
	Detail     string  `json:"detail,omitempty"` // why no data or why it failed
	DurationMS float64 `json:"duration_ms"`
}

// Host is the machine.
type Host struct {
	Hostname      string   `json:"hostname"`
	Addresses     []string `json:"addresses,omitempty"` // IP addresses of up interfaces, without loopback
	OS            string   `json:"os,omitempty"`        // e.g. "debian 12.8"
	Kernel        string   `json:"kernel,omitempty"`
	Arch          string   `json:"arch,omitempty"`
	CPUModel      string   `json:"cpu_model,omitempty"`
	CPUCores      int      `json:"cpu_cores,omitempty"`
	MemoryBytes   uint64   `json:"memory_bytes,omitempty"`
	DiskBytes     uint64   `json:"disk_bytes,omitempty"` // of the filesystem holding the state directory
	DiskFreeBytes uint64   `json:"disk_free_bytes,omitempty"`
	UptimeSeconds uint64   `json:"uptime_seconds,omitempty"`
	TimeZone      string   `json:"time_zone,omitempty"`
	// Container is set when the daemon runs in a container (e.g. "docker",
	// "lxc"); some host facts then describe the container.
	Container string `json:"container,omitempty"`
}

// Platform is the telephony platform the host runs.
type Platform struct {
	Type    string `json:"type"` // e.g. msl, mxone, smbc, generic
	Name    string `json:"name"` // e.g. "MiVoice Business"
	Version string `json:"version,omitempty"`
	// Parent is set on SMBC's child platform: the parent platform's type
	// (the parent itself is not listed as the system's platform).
	Parent string `json:"parent,omitempty"`
}

// Application is one installed application type with its version.
type Application struct {
	Type    string `json:"type"` // e.g. cloudlink-daemon, cloudlink-gateway, mivoice-business
	Version string `json:"version,omitempty"`
}

// License is the platform's license and software assurance.
type License struct {
	Type      string     `json:"type,omitempty"` // e.g. PERPETUAL, SUBSCRIPTION
	Expires   *time.Time `json:"expires,omitempty"`
	SWAStatus string     `json:"swa_status,omitempty"` // ACTIVE, EXPIRED, NONE
	SWAExpiry *time.Time `json:"swa_expiry,omitempty"`
}

// Tunnel is one tunnel's state.
type Tunnel struct {
	ID        string `json:"id"`
	Component string `json:"component"`
	Name      string `json:"name"`
	Status    string `json:"status"`
	PublicURL string `json:"public_url,omitempty"`
}

// Access are the totals of the host's access audit over the report period:
// the public connections through its tunnels that ended after Since.
type Access struct {
	// Since starts the period: when the cloud last accepted a report from
	// this host; absent, the period is the whole audit log.
	Since       *time.Time `json:"since,omitempty"`
	Connections int        `json:"connections"`
	BytesIn     uint64     `json:"bytes_in"`  // from the public clients
	BytesOut    uint64     `json:"bytes_out"` // to the public clients
	Users       int        `json:"users"`     // distinct portal users
}

// Clock is the measured clock drift.
type Clock struct {
	DriftSeconds float64    `json:"drift_seconds"`
	Synchronized *bool      `json:"synchronized,omitempty"`
	MeasuredAt   *time.Time `json:"measured_at,omitempty"`
}

// Daemon is the daemon's own build.
type Daemon struct {
	Version string `json:"version"`
	Build   string `json:"build,omitempty"`
	Commit  string `json:"commit,omitempty"`
	Branch  string `json:"branch,omitempty"`
	Stage   string `json:"stage,omitempty"`
}

// Warning is one health warning of the daemon.
type Warning struct {
	Code     string `json:"code"`
	Severity string `json:"severity"`
	Text     string `json:"text"`
}

// Gateway is the co-located CloudLink Gateway core (filled once the daemon
// drives one).
type Gateway struct {
	Installed bool   `json:"installed"`
	Version   string `json:"version,omitempty"`
	Status    string `json:"status,omitempty"`
	Instances int    `json:"instances,omitempty"`
}

// UpdateSchedule is the daemon's self-update: its schedule and the last
// update's result.
type UpdateSchedule struct {
	Schedule    string     `json:"schedule"`          // daily, weekly
	Weekday     string     `json:"weekday,omitempty"` // weekly: sunday…saturday
	TimeOfDay   string     `json:"time_of_day"`
	PausedUntil *time.Time `json:"paused_until,omitempty"`
	LastUpdate  *time.Time `json:"last_update,omitempty"`
	LastCheck   *time.Time `json:"last_check,omitempty"`
	NextCheck   *time.Time `json:"next_check,omitempty"`
	// LastVersion, LastResult and LastReason are the last update's: the
	// version, updated, rolled_back, refused, failed, interrupted or
	// replaced, and why.
	LastVersion string `json:"last_version,omitempty"`
	LastResult  string `json:"last_result,omitempty"`
	LastReason  string `json:"last_reason,omitempty"`
	Stage       string `json:"stage,omitempty"` // the release stage
}
