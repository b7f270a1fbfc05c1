// Package api holds the types and routes of the daemon's local REST API: the
// contract shared by the server (agent/localapi) and its one client
// (agent/client), which the CLI and the dashboard both use.
//
// Every error response is a JSON Error with a 4xx or 5xx status; Message is a
// sentence for a person that says what went wrong and what to do.
package api

import (
	"fmt"
	"math"
	"time"
)

// Routes of the local API (method and path).
const (
	RouteStatus = "GET /v1/status"
	// RouteMetrics is the Prometheus text exposition; RouteHealthz and
	// RouteReadyz answer 200 or 503 with a Probe for a supervisor.
	RouteMetrics = "GET /metrics"
	RouteHealthz = "GET /healthz"
	RouteReadyz  = "GET /readyz"
	// RouteLog is the daemon's most recent log lines (api.Log).
	RouteLog             = "GET /v1/log"
	RouteVersion         = "GET /v1/version"
	RouteLink            = "POST /v1/link"
	RouteBrowserLink     = "POST /v1/link/browser"
	RouteBrowserCallback = "POST /v1/link/browser/callback"
	RouteUnlink          = "POST /v1/unlink"
	RouteDashboardUser   = "PUT /v1/dashboard/users"
	RouteDashboardLogin  = "POST /v1/dashboard/login"
	RouteDoctor          = "GET /v1/doctor"
	RouteInventory       = "GET /v1/inventory"         // api.Inventory
	RouteInventoryReport = "GET /v1/inventory/preview" // the exact report JSON that would be sent now
	RouteInventorySubmit = "POST /v1/inventory/submit" // build and send a report now; api.Inventory
	RouteTunnels         = "GET /v1/tunnels"
	RouteTunnelStart     = "POST /v1/tunnels/{id}/start" // {id}: tunnel ID
	RouteTunnelStop      = "POST /v1/tunnels/{id}/stop"
	RouteTunnelsStartAll = "POST /v1/tunnels/start-all"
	RouteTunnelsStopAll  = "POST /v1/tunnels/stop-all"
	RouteUpdate          = "GET /v1/update"           // api.Update
	RouteUpdateCheck     = "POST /v1/update/check"    // ask the cloud now; api.Update
	RouteUpdateNow       = "POST /v1/update/now"      // apply the available update now; api.Update
	RouteUpdatePause     = "POST /v1/update/pause"    // UpdatePauseRequest; api.Update
	RouteUpdateResume    = "POST /v1/update/resume"   // api.Update
	RouteUpdateSchedule  = "POST /v1/update/schedule" // UpdateScheduleRequest; api.Update
	RouteGateway         = "GET /v1/gateway"          // api.Gateway
	RouteGatewayStart    = "POST /v1/gateway/start"   // api.Gateway
	RouteGatewayStop     = "POST /v1/gateway/stop"    // api.Gateway
	RouteGatewayRestart  = "POST /v1/gateway/restart" // api.Gateway
	RoutePM              = "GET /v1/pm"               // api.Provisioning
	RoutePMCredential    = "POST /v1/pm/credential"   // api.PMCredential → api.Provisioning
)

// Tunnel statuses.
const (
	TunnelStopped  = "stopped"
	TunnelStarting = "starting"
	TunnelStarted  = "started"
	TunnelError    = "error"
)

// Link states.
const (
	StateUnlinked  = "unlinked"
	StateLinking   = "linking"
	StateLinked    = "linked"
	StateLinkError = "link_error"
)

// Warning severities.
const (
	SeverityInfo    = "info"
	SeverityWarning = "warning"
	SeverityError   = "error"
)

// Error codes of the local API (Error.Code).
const (
	CodeBadRequest     = "bad_request"      // malformed request; Message says which field
	CodeAlreadyLinked  = "already_linked"   // unlink first
	CodeNotLinked      = "not_linked"       // nothing to unlink
	CodeBusy           = "busy"             // another link/unlink is in progress
	CodeWrongPassword  = "wrong_password"   // cloud rejected the credentials
	CodeNotAdmin       = "not_admin"        // user lacks ACCOUNT_ADMIN
	CodeAccountNeeded  = "account_required" // e-mail in several accounts; give --account
	CodeUnknownAccount = "unknown_account"  // no such account for this user
	CodeCloudDown      = "cloud_unreachable"
	CodeCloudError     = "cloud_error" // the cloud answered something unexpected
	CodeBadState       = "bad_state"   // browser sign-in state unknown or expired
	CodeUnauthorized   = "unauthorized"
	CodeInternal       = "internal"
	CodeUnknownTunnel  = "unknown_tunnel" // no tunnel with that ID; `cld tunnel list` shows them
	CodeRateLimited    = "rate_limited"   // too many wrong attempts; Message says when to try again
)

// Error is the body of every error response.
type Error struct {
	Code    string `json:"error"`
	Message string `json:"message"`
	// RetryAfter is, for CodeRateLimited, the seconds to wait before
	// trying again (also the Retry-After header over HTTP).
	RetryAfter int `json:"retry_after,omitempty"`
}

func (e *Error) Error() string { return e.Message }

// SignedSeconds shows a drift of s seconds as cld does everywhere: to the
// millisecond with its sign (+1.250, -0.300), and 0.000 for one that
// rounds to nothing (never -0.000).
func SignedSeconds(s float64) string {
	if math.Round(s*1000) == 0 {
		return "0.000"
	}
	return fmt.Sprintf("%+.3f", s)
}

// Errorf is an *Error with code and a message formatted as by fmt.Sprintf:
// a sentence that says what to do.
func Errorf(code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// Probe is the answer of /healthz and /readyz: OK, else the reasons (each a
// sentence that says what is wrong).
type Probe struct {
	OK      bool     `json:"ok"`
	Reasons []string `json:"reasons"`
}

// Log is the daemon's most recent log lines, oldest first (empty when the
// daemon keeps none).
type Log struct {
	Text string `json:"text"`
}

// Build describes the running daemon binary.
type Build struct {
	Version string `json:"version"`
	Build   string `json:"build"`  // build number
	Commit  string `json:"commit"` // git commit hash
	Branch  string `json:"branch"`
	Stage   string `json:"stage"` // release stage: production, beta, development
}

// Account is the CloudLink account the host is linked to, with the linking
// user's identity in that account.
type Account struct {
	ID         int64  `json:"id"`
	Name       string `json:"name"`
	UUID       string `json:"uuid"`
	Region     string `json:"region"`
	PartnerID  string `json:"partner_id"`
	UserID     string `json:"user_id"`
	Role       string `json:"role"`
	ClientType string `json:"client_type"`
}

// Warning is one health finding, from the daemon's one registry of what is
// wrong (read by the dashboard, `cld status`, `cld doctor` and the inventory).
type Warning struct {
	Code     string `json:"code"`
	Severity string `json:"severity"`
	// Title is a short heading; Text says what is wrong with the measured
	// value (e.g. "…Clock drift detected: 44s"); Remedy says what to do.
	Title  string     `json:"title,omitempty"`
	Text   string     `json:"text"`
	Remedy string     `json:"remedy,omitempty"`
	Since  *time.Time `json:"since,omitempty"`
}

// Clock is the measured clock state of the host.
type Clock struct {
	// DriftSeconds is the host clock minus the cloud's (positive: the host
	// is ahead), round-trip corrected; 0 with MeasuredAt nil when not yet
	// measured.
	DriftSeconds float64 `json:"drift_seconds"`
	// Synchronized is what the host says of its clock (systemd-timedated
	// NTPSynchronized, else `timedatectl`); nil when unknown.
	Synchronized *bool      `json:"synchronized"`
	MeasuredAt   *time.Time `json:"measured_at"`
	// Source names where the drift was measured against (cloud URL, NTP server).
	Source string `json:"source,omitempty"`
	// NTPServer is the configured second time source (clock.ntp_server) and
	// NTPDriftSeconds the host clock minus its time (nil until it answered).
	// The cloud's drift above is the one that counts.
	NTPServer       string   `json:"ntp_server,omitempty"`
	NTPDriftSeconds *float64 `json:"ntp_drift_seconds,omitempty"`
}

// Check results.
const (
	CheckPass = "pass"
	CheckWarn = "warn"
	CheckFail = "fail"
	// CheckSkip: the check does not apply (e.g. no proxy configured, an IP
	// address needs no DNS) or could not run because an earlier one failed.
	CheckSkip = "skip"
)

// Check is one finding of `cld doctor`.
type Check struct {
	ID     string `json:"id"`    // e.g. "dns", "cloud_reachable", "tls", "clock_drift", "clock_sync", "proxy", "state_dir"
	Title  string `json:"title"` // e.g. "DNS resolves the cloud's domain"
	Status string `json:"status"`
	Detail string `json:"detail"`           // what was found, with measured values
	Remedy string `json:"remedy,omitempty"` // what to do (warn and fail)
}

// Doctor is the answer of RouteDoctor.
type Doctor struct {
	Checks []Check `json:"checks"`
	// OK is false when any check failed.
	OK bool `json:"ok"`
}

// Status is the daemon's state as shown by `cld status` and the dashboard.
type Status struct {
	Linked   bool       `json:"linked"`
	State    string     `json:"state"`            // one of the State* constants
	Reason   string     `json:"reason,omitempty"` // why: link error, or why it became unlinked
	Account  *Account   `json:"account,omitempty"`
	SystemID string     `json:"system_id,omitempty"`
	Cloud    string     `json:"cloud,omitempty"` // base URL of the cloud linked to (or configured)
	LinkedAt *time.Time `json:"linked_at,omitempty"`
	Version  string     `json:"version"`
	Build    Build      `json:"build"`
	// PendingRevocation is true while an unlink's revocation in the cloud
	// has not yet succeeded (it is retried).
	PendingRevocation bool          `json:"pending_revocation"`
	Warnings          []Warning     `json:"warnings"`
	Tunnels           []Tunnel      `json:"tunnels"`
	Clock             Clock         `json:"clock"`
	Inventory         Inventory     `json:"inventory"`
	Update            *Update       `json:"update,omitempty"`
	Platform          *Platform     `json:"platform,omitempty"`
	Gateway           *Gateway      `json:"gateway,omitempty"`
	Provisioning      *Provisioning `json:"provisioning,omitempty"`
}

// Provisioning is the Provisioning Manager API (docs/pm-api.md): the
// directory of users and devices PM keeps here and its sync to the cloud.
type Provisioning struct {
	// Configured: a PM admin credential is set, so the API answers.
	Configured bool   `json:"configured"`
	Username   string `json:"username,omitempty"` // the PM admin user
	Users      int    `json:"users"`
	Devices    int    `json:"devices"`
	// Pending is the number of changes the cloud does not have yet;
	// Sending is true while a batch of them is on its way.
	Pending int  `json:"pending"`
	Sending bool `json:"sending"`
	// LastSync is when the cloud last accepted a batch, of LastChanges
	// changes; BatchesSent counts the batches it accepted since the
	// daemon started.
	LastSync    *time.Time `json:"last_sync,omitempty"`
	LastChanges int        `json:"last_changes"`
	BatchesSent int        `json:"batches_sent"`
	LastError   string     `json:"last_error,omitempty"`
}

// PMCredential sets the Provisioning Manager admin credential, the user
// name and password PM is given for the CloudLink Daemon subsystem.
type PMCredential struct {
	Username string `json:"username"`
	Password string `json:"password"`
}

// Gateway is the co-located CloudLink Gateway core, when one is
// installed.
type Gateway struct {
	Installed bool `json:"installed"`
	// Instances are the installed instances' names; more than one is a
	// warning (a restored clustered backup).
	Instances []string `json:"instances"`
	// Status is running, stopped, failed, starting or unknown; Healthy
	// whether its REST interface answered its health check.
	Status  string `json:"status"`
	Healthy bool   `json:"healthy"`
	Version string `json:"version,omitempty"`
	// Manager is how it is driven: systemd, or the daemon's own
	// supervisor.
	Manager string `json:"manager,omitempty"`
	// StatusURL is the gateway's status page on the host (its local
	// address); the dashboard links to it through the clgw-rest tunnel's
	// public URL while that tunnel is started.
	StatusURL string `json:"status_url,omitempty"`
	// Error says why the last control or health check failed.
	Error string `json:"error,omitempty"`
}

// Platform is the host platform the daemon found (or was told), or why
// there is none.
type Platform struct {
	Type    string `json:"type,omitempty"` // e.g. msl, mxone, generic
	Name    string `json:"name,omitempty"`
	Version string `json:"version,omitempty"`
	// Applications are the products installed on it, "type version".
	Applications []string `json:"applications,omitempty"`
	// Parent is the platform this one runs inside (a nested one).
	Parent string `json:"parent,omitempty"`
	// Language is the host UI's language, Embedding how the dashboard is
	// shown there (its auth mode), when the platform says.
	Language  string `json:"language,omitempty"`
	Embedding string `json:"embedding,omitempty"`
	// Problem says why no platform is used (none detected, several, a
	// version not supported).
	Problem string `json:"problem,omitempty"`
}

// Update is the state of the daemon's self-update.
type Update struct {
	// Schedule is when updates are checked and applied ("daily 03:17",
	// "weekly tue 03:30"), in the host's time zone (Zone); Default is true
	// while it is the one spread over the fleet's night window.
	Schedule string `json:"schedule"`
	Default  bool   `json:"default"`
	Zone     string `json:"zone"`
	// LastUpdate is the last update's result; LastCheck and NextCheck the
	// last and next asking of the cloud.
	LastUpdate *UpdateResult `json:"last_update"`
	LastCheck  *time.Time    `json:"last_check"`
	NextCheck  *time.Time    `json:"next_check"`
	// PausedUntil is set while updates are paused; PausedSince is when the
	// pause began (it cannot last past 30 days from then).
	PausedUntil *time.Time `json:"paused_until"`
	PausedSince *time.Time `json:"paused_since,omitempty"`
	// Available is a newer release that can be applied (Update now).
	Available *UpdateRelease `json:"available"`
	// Stage is the system's release stage as the cloud last said.
	Stage string `json:"stage,omitempty"`
	// State is what the updater does now (one of the UpdateState*);
	// Progress the download's while it runs.
	State    string          `json:"state"`
	Progress *UpdateProgress `json:"progress,omitempty"`
	// LastError says why the last check failed, if it did.
	LastError string `json:"last_error,omitempty"`
}

// The updater's states.
const (
	UpdateStateIdle        = "idle"
	UpdateStateChecking    = "checking"
	UpdateStateDownloading = "downloading"
	UpdateStateVerifying   = "verifying"
	UpdateStateInstalling  = "installing"
	UpdateStateRestarting  = "restarting"
	UpdateStateConfirming  = "confirming" // this process is the new version on trial
)

// UpdateResult is how an update ended: Result is updated, rolled_back,
// refused, failed, interrupted or replaced (by a package upgrade).
type UpdateResult struct {
	Version string    `json:"version"`
	From    string    `json:"from,omitempty"`
	Time    time.Time `json:"time"`
	Result  string    `json:"result"`
	Reason  string    `json:"reason,omitempty"`
}

// UpdateRelease is a release offered by the cloud.
type UpdateRelease struct {
	Version string `json:"version"`
	Commit  string `json:"commit,omitempty"`
	Notes   string `json:"notes,omitempty"`
	Size    int64  `json:"size"`
	// Skipped is set for a release that failed here before: the schedule
	// does not try it again; Update now does.
	Skipped bool `json:"skipped,omitempty"`
}

// UpdateProgress is a running download's progress.
type UpdateProgress struct {
	Done  int64 `json:"done"`
	Total int64 `json:"total"`
}

// UpdatePauseRequest pauses updates for Days (1…30; 0 is 30).
type UpdatePauseRequest struct {
	Days int `json:"days"`
}

// UpdateScheduleRequest sets the schedule: Every daily or weekly, Weekday
// (weekly: sunday…saturday or its first three letters) and Time HH:MM; or
// Default true for the default spread over the night window.
type UpdateScheduleRequest struct {
	Every   string `json:"every"`
	Weekday string `json:"weekday,omitempty"`
	Time    string `json:"time"`
	Default bool   `json:"default,omitempty"`
}

// Inventory is the state of inventory reporting.
type Inventory struct {
	// Last is when the cloud last accepted a report; Next when the next
	// scheduled (daily) report is due. Nil when unknown.
	Last *time.Time `json:"last"`
	Next *time.Time `json:"next"`
	// Pending is true while a report waits in the outbox for the cloud.
	Pending bool `json:"pending"`
	// LastError says why the last delivery attempt failed, if it did.
	LastError string `json:"last_error,omitempty"`
}

// Tunnel is one of the host's tunnels as the daemon runs it.
type Tunnel struct {
	ID          string `json:"id"` // stable slug used by the CLI and the API
	Component   string `json:"component"`
	Name        string `json:"name"`
	Description string `json:"description"`
	// Enabled is the chosen state (persisted across restarts); Status is
	// what is happening now.
	Enabled      bool   `json:"enabled"`
	Status       string `json:"status"`           // one of the Tunnel* statuses
	Reason       string `json:"reason,omitempty"` // why error, or why not started yet
	LocalAddress string `json:"local_address"`    // e.g. https://127.0.0.1:443
	PublicURL    string `json:"public_url,omitempty"`
}

// Tunnels is the answer of RouteTunnels and of the start/stop routes.
type Tunnels struct {
	Tunnels []Tunnel `json:"tunnels"`
	// Connected tells whether the session to the tunnel edge is up.
	Connected bool `json:"connected"`
	// Refused counts streams the host refused (unknown or stopped tunnel,
	// bad header, bad signature) since the daemon started.
	Refused int64 `json:"refused"`
	// RefusedUnsigned counts those of them whose header carried no valid
	// signature of the tunnel edge (missing or forged).
	RefusedUnsigned int64 `json:"refused_unsigned"`
}

// LinkRequest links with a user name and password (the CLI's way).
type LinkRequest struct {
	Username string `json:"username"`
	Password string `json:"password"`
	Account  int64  `json:"account,omitempty"` // 0: not given
	Cloud    string `json:"cloud,omitempty"`   // overrides the configured cloud URL
}

// BrowserLinkRequest starts the browser sign-in: the daemon prepares PKCE and
// state and answers with the URL to send the browser to.
type BrowserLinkRequest struct {
	// RedirectURI is the dashboard's absolute callback URL; its path ends
	// with /link/callback.
	RedirectURI string `json:"redirect_uri"`
	Cloud       string `json:"cloud,omitempty"`
}

// BrowserLinkStart is the answer to a BrowserLinkRequest.
type BrowserLinkStart struct {
	AuthorizeURL string `json:"authorize_url"`
	State        string `json:"state"`
}

// BrowserCallback finishes the browser sign-in with what the cloud sent back.
type BrowserCallback struct {
	Code  string `json:"code"`
	State string `json:"state"`
	// Error and ErrorDescription are passed on when the cloud redirected
	// back with an OAuth error instead of a code.
	Error            string `json:"error,omitempty"`
	ErrorDescription string `json:"error_description,omitempty"`
}

// DashboardUser sets (creates or changes) a local dashboard account.
type DashboardUser struct {
	Username string `json:"username"`
	Password string `json:"password"`
}

// DashboardLogin checks a dashboard sign-in; 204 when right, 401 otherwise.
type DashboardLogin struct {
	Username string `json:"username"`
	Password string `json:"password"`
	// Client is the address the sign-in came from (the dashboard's
	// browser, the TCP local API's peer), whose wrong passwords are
	// limited together whatever the user name; empty from the CLI.
	Client string `json:"client,omitempty"`
}
