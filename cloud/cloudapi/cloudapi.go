// Package cloudapi is the wire contract between the daemon and a CloudLink
// platform (the reference cloud in this repository): endpoint paths, OAuth
// parameters, request and response bodies, and error codes.
//
// It holds types and constants only and imports nothing of the project, so
// that the daemon can speak to the cloud without importing the cloud.
//
// Errors from every endpoint are JSON bodies of type Error (the OAuth 2.0
// shape, RFC 6749 §5.2), with an HTTP status of 4xx or 5xx. The description
// is a sentence meant for the person at the host: it says what went wrong and
// what to do.
package cloudapi

import (
	"time"

	"github.com/google/uuid"
)

// Endpoint paths, relative to the cloud's base URL.
const (
	// PathAuthorize is the OAuth 2.0 authorization endpoint: the sign-in page
	// (authorization code with PKCE S256; public client ClientIDDaemon).
	PathAuthorize = "/oauth/authorize"
	// PathToken is the OAuth 2.0 token endpoint. Grants: authorization_code
	// (with code_verifier), password (with ParamAccount), refresh_token and,
	// for a linked system's device credentials, client_credentials.
	PathToken = "/oauth/token"
	// PathRevoke is the OAuth 2.0 revocation endpoint (RFC 7009): form field
	// "token", optional "token_type_hint"; always 200 for a syntactically valid
	// request, whether or not the token was known.
	PathRevoke = "/oauth/revoke"
	// PathSystems registers a system (POST, RegisterRequest → RegisterResponse)
	// with a user's bearer token carrying ScopeRegister.
	PathSystems = "/api/v1/systems"
	// PathSystemSelf is the linked system's own record, with the device's
	// bearer token: GET → SystemInfo; DELETE → unregister (revokes the
	// device credentials; 204, and also 204 when already removed).
	PathSystemSelf = "/api/v1/systems/self"
	// PathSystemTunnels is the linked system's tunnel list (PUT with the
	// device token, TunnelsRequest → TunnelsResponse): every tunnel the host
	// defines with its status; the answer gives each tunnel's public URL.
	// The edge routes public requests only to tunnels reported "started".
	PathSystemTunnels = "/api/v1/systems/self/tunnels"
	// PathTunnelConnect is the tunnel edge's WebSocket endpoint (GET with
	// Upgrade, the device's bearer token, subprotocol "cld-tunnel.v2"; see
	// tunnel/spec.md). It is served on the cloud's API address (port 443
	// in production) so that it passes the same firewalls and proxies.
	PathTunnelConnect = "/tunnel/v1/connect"
	// PathSystemInventory receives the linked system's inventory reports
	// (POST with the device token; the body is an inventory.Report as JSON,
	// sent with Content-Encoding: gzip; at most MaxInventoryBytes once
	// decompressed). Idempotent by report ID: a retried report is stored
	// once and answered the same. A malformed or oversized report is
	// refused (400 ErrInvalidReport / 413 ErrReportTooLarge) and the previous
	// one is kept.
	PathSystemInventory = "/api/v1/systems/self/inventory"
	// PathSystemRelease is the newest release of the system's stage (GET
	// with a device token): a ReleaseManifest, or 204 when the stage offers
	// none.
	PathSystemRelease = "/api/v1/systems/self/release"
	// HeaderStage names the system's release stage on PathSystemRelease's
	// answers (also the 204).
	HeaderStage = "X-CloudLink-Stage"
	// PathReleaseBinary is a release's binary by its ID (GET with a device
	// token; range requests resume a download).
	PathReleaseBinary = "/api/v1/releases/"
	// PathTime is the cloud's time (GET, no authentication) for clock-drift
	// measurement: TimeResponse with the moments the server received the
	// request and sent the answer, so a client can correct for the round
	// trip (NTP-style: offset = ((t1 - t0) + (t2 - t3)) / 2).
	PathTime = "/api/v1/time"
	// PathCACert serves the cloud's CA certificate (PEM) for convenience; a
	// daemon must still be told to trust it out of band.
	PathCACert = "/ca.pem"
)

// OAuth 2.0 parameters.
const (
	// ClientIDDaemon is the public OAuth client used by daemons for user
	// sign-in (browser authorization code + PKCE, and the password grant).
	ClientIDDaemon = "cld"
	// ScopeRegister lets a token register a system; it is granted only to a
	// user who is ACCOUNT_ADMIN of the chosen account.
	ScopeRegister = "systems:register"
	// ParamAccount names the account number in the password grant and in the
	// authorization request (optional: needed when the user's e-mail belongs
	// to several accounts).
	ParamAccount = "account_id"
	// RedirectPathSuffix: a daemon's redirect_uri must be an http or https URL
	// whose path ends with this suffix. PKCE makes an intercepted code useless.
	RedirectPathSuffix = "/link/callback"
)

// Roles a user may have in an account.
const (
	RoleAccountAdmin = "ACCOUNT_ADMIN"
	RoleUser         = "USER"
)

// ClientTypeSystem is the client type of a linked system's device credentials.
const ClientTypeSystem = "client"

// Error codes used in Error.Code besides the RFC 6749 ones (invalid_request,
// invalid_client, invalid_grant, unauthorized_client, unsupported_grant_type,
// invalid_scope, access_denied).
const (
	// ErrNotAdmin: the user is not ACCOUNT_ADMIN of the chosen account.
	ErrNotAdmin = "not_admin"
	// ErrAccountRequired: the e-mail belongs to several accounts and no
	// account number was given; the description lists the numbers.
	ErrAccountRequired = "account_required"
	// ErrUnknownAccount: no account with that number for this user.
	ErrUnknownAccount = "unknown_account"
	// ErrInvalidToken: the bearer token is missing, unknown or expired.
	ErrInvalidToken = "invalid_token"
	// ErrSystemRevoked: the system was removed from its account (by an
	// unlink or in the portal); the description says by whom and when.
	ErrSystemRevoked = "system_revoked"
	// ErrInvalidReport: an inventory report that cannot be stored; the
	// description says what is wrong with it.
	ErrInvalidReport = "invalid_report"
	// ErrReportTooLarge: an inventory report (413) larger than the cloud
	// takes, compressed or once decompressed (MaxInventoryBytes); the
	// description gives the limit.
	ErrReportTooLarge = "report_too_large"
	// ErrBadRequest: a malformed body; the description says which field.
	ErrBadRequest = "invalid_request"
)

// Error is the body of every error response.
type Error struct {
	Code        string `json:"error"`
	Description string `json:"error_description,omitempty"`
}

// Account is a CloudLink account as the cloud describes it to a system.
type Account struct {
	ID        int64  `json:"id"`
	Name      string `json:"name"`
	UUID      string `json:"uuid"`
	Region    string `json:"region"`
	PartnerID string `json:"partner_id"`
}

// RegisterRequest asks the cloud to make this host a system of the account
// the user's token was issued for. Registration is idempotent per
// (account, InstallationID): registering again replaces the earlier device
// credentials of that installation and keeps its SystemID.
type RegisterRequest struct {
	InstallationID string `json:"installation_id"` // random UUID kept by the daemon
	MachineIDHash  string `json:"machine_id_hash"` // SHA-256 hex of /etc/machine-id, salted with InstallationID
	Hostname       string `json:"hostname"`
	Version        string `json:"version"`
}

// RegisterResponse carries the system's own device credentials: an OAuth
// client (client_credentials grant) that belongs to the system, not to the
// user. The user's password and tokens are not needed after this.
type RegisterResponse struct {
	SystemID     string  `json:"system_id"`
	ClientID     string  `json:"client_id"`
	ClientSecret string  `json:"client_secret"`
	Account      Account `json:"account"`
	UserID       string  `json:"user_id"` // the user who linked
	Role         string  `json:"role"`
	ClientType   string  `json:"client_type"`
}

// SystemInfo is what the cloud knows of a linked system (GET PathSystemSelf).
type SystemInfo struct {
	SystemID   string    `json:"system_id"`
	Account    Account   `json:"account"`
	UserID     string    `json:"user_id"`
	Role       string    `json:"role"`
	ClientType string    `json:"client_type"`
	Hostname   string    `json:"hostname"`
	LinkedAt   time.Time `json:"linked_at"`
}

// Tunnel statuses.
const (
	TunnelStopped  = "stopped"
	TunnelStarting = "starting"
	TunnelStarted  = "started"
	TunnelError    = "error"
)

// TunnelInfo describes one of the host's tunnels to the cloud. The local
// address it leads to is not sent: only the host knows and dials it.
type TunnelInfo struct {
	ID          string `json:"id"` // slug, unique on the host, e.g. "msl-server-manager"
	Component   string `json:"component"`
	Name        string `json:"name"`
	Description string `json:"description"`
	Status      string `json:"status"` // one of the Tunnel* statuses
	Reason      string `json:"reason,omitempty"`
	// Origin is the tunnel's local address, scheme://host:port (e.g.
	// "https://127.0.0.1:443" or "https://pbx.example.net:8443"). The edge
	// points the origin's absolute redirects to that address (or to the
	// system's host name on the same scheme and port) at the tunnel's
	// public URL. Optional.
	Origin string `json:"origin,omitempty"`
}

// TunnelsRequest is the body of PUT PathSystemTunnels.
type TunnelsRequest struct {
	Tunnels []TunnelInfo `json:"tunnels"`
}

// TunnelPublic is a tunnel's public address at the edge.
type TunnelPublic struct {
	ID        string `json:"id"`
	PublicURL string `json:"public_url"`
}

// TunnelsResponse answers PUT PathSystemTunnels.
type TunnelsResponse struct {
	Tunnels []TunnelPublic `json:"tunnels"`
}

// tunnelNamespace is the UUIDv5 namespace of public tunnel host names.
var tunnelNamespace = uuid.MustParse("6b1c3f0e-5d2a-5c7e-9a41-0c1d2e3f4a5b")

// TunnelUUID is the stable UUID (version 5) of a system's tunnel: the first
// label of its public host name <uuid>.<region>.<edge domain>. It depends
// only on the system ID and the tunnel ID, so it survives restarts.
func TunnelUUID(systemID, tunnelID string) string {
	return uuid.NewSHA1(tunnelNamespace, []byte(systemID+"/"+tunnelID)).String()
}

// TimeResponse answers GET PathTime.
type TimeResponse struct {
	ReceiveTime time.Time `json:"receive_time"` // when the server read the request (t1)
	SendTime    time.Time `json:"send_time"`    // when the server wrote the answer (t2)
}

// MaxInventoryBytes bounds an inventory report's JSON once decompressed.
const MaxInventoryBytes = 4 << 20

// MaxInventoryWireBytes bounds an inventory report's body as sent (gzip
// compressed); an uncompressed body is bounded by MaxInventoryBytes.
const MaxInventoryWireBytes = 1 << 20

// InventoryAccepted answers POST PathSystemInventory.
type InventoryAccepted struct {
	ID         string    `json:"id"`
	Duplicate  bool      `json:"duplicate"` // already stored earlier (a retry)
	ReceivedAt time.Time `json:"received_at"`
}

// ReleaseManifest is a stage's newest release (the daemon's updater reads
// it with updater.ParseManifest).
type ReleaseManifest struct {
	Stage      string                     `json:"stage"`
	Version    string                     `json:"version"`
	Commit     string                     `json:"commit"`
	Notes      string                     `json:"notes"`
	MinVersion string                     `json:"min_version"`
	Artifacts  map[string]ReleaseArtifact `json:"artifacts"` // by GOARCH
}

// ReleaseArtifact is one architecture's binary of a release.
type ReleaseArtifact struct {
	URL       string `json:"url"` // a path on the cloud (PathReleaseBinary + ID)
	Size      int64  `json:"size"`
	SHA256    string `json:"sha256"`
	Signature string `json:"signature"` // minisign
}
