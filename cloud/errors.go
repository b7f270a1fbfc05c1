package cloud

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base32"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/cloudlink/cld/cloud/cloudapi"
	"github.com/cloudlink/cld/cloud/store"
)

// Codes from RFC 6749 and RFC 6750 that cloudapi does not name.
const (
	errInvalidClient        = "invalid_client"
	errInvalidGrant         = "invalid_grant"
	errUnsupportedGrantType = "unsupported_grant_type"
	errInvalidScope         = "invalid_scope"
	errInsufficientScope    = "insufficient_scope"
	errAccessDenied         = "access_denied"
	errUnauthorizedClient   = "unauthorized_client"
	errServerError          = "server_error"
)

// ScopeSystem is the scope of a system's device tokens.
const ScopeSystem = "system"

// apiError is an error answer: status and a cloudapi.Error body.
type apiError struct {
	Status      int
	Code        string
	Description string
}

func (e *apiError) Error() string { return e.Code + ": " + e.Description }

func badRequest(format string, args ...any) *apiError {
	return &apiError{http.StatusBadRequest, cloudapi.ErrBadRequest, fmt.Sprintf(format, args...)}
}

func internalError() *apiError {
	return &apiError{http.StatusInternalServerError, errServerError, "The cloud could not complete the request. Try again later; if it persists, see the cloud's log."}
}

// writeJSON writes a JSON body that must not be cached.
func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		http.Error(w, "encode response", http.StatusInternalServerError)
		return
	}
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Cache-Control", "no-store")
	h.Set("Pragma", "no-cache")
	w.WriteHeader(status)
	w.Write(append(b, '\n'))
}

// writeError writes e as a cloudapi.Error body.
func writeError(w http.ResponseWriter, e *apiError) {
	switch {
	case e.Code == cloudapi.ErrInvalidToken:
		w.Header().Set("WWW-Authenticate", fmt.Sprintf(`Bearer realm="cloudlink", error="invalid_token", error_description=%q`, e.Description))
	case e.Code == errInsufficientScope:
		w.Header().Set("WWW-Authenticate", `Bearer realm="cloudlink", error="insufficient_scope"`)
	case e.Code == errInvalidClient && e.Status == http.StatusUnauthorized:
		w.Header().Set("WWW-Authenticate", `Basic realm="cloudlink"`)
	}
	writeJSON(w, e.Status, cloudapi.Error{Code: e.Code, Description: e.Description})
}

// newSecret returns n random bytes, base64url encoded.
func newSecret(n int) string {
	b := make([]byte, n)
	rand.Read(b) // never fails (crypto/rand panics on a broken system)
	return base64.RawURLEncoding.EncodeToString(b)
}

// newClientID returns a device client id such as "sys-k3j…".
func newClientID() string {
	b := make([]byte, 15)
	rand.Read(b)
	return "sys-" + strings.ToLower(base32.StdEncoding.WithPadding(base32.NoPadding).EncodeToString(b))
}

// hashSecret is how tokens, codes, session ids and device secrets are
// stored: SHA-256, hex. They are high-entropy, so no salt or stretching is
// needed.
func hashSecret(s string) string {
	h := sha256.Sum256([]byte(s))
	return hex.EncodeToString(h[:])
}

func equalHashes(a, b string) bool {
	return subtle.ConstantTimeCompare([]byte(a), []byte(b)) == 1
}

// formatTime is how times appear in messages and pages.
func formatTime(t time.Time) string {
	return t.UTC().Format("Mon, 02 Jan 2006 15:04:05 UTC")
}

// Messages shared by the token endpoint and the sign-in pages.

const msgWrongPassword = "The e-mail or password is wrong."

func msgNotAdmin(email string, a store.Account) string {
	return fmt.Sprintf("%s is not an administrator of account %d (%s). Sign in with a CloudLink account that has administrator rights.", email, a.ID, a.Name)
}

func accountList(ms []store.Membership) string {
	parts := make([]string, len(ms))
	for i, m := range ms {
		parts[i] = fmt.Sprintf("%d (%s)", m.Account.ID, m.Account.Name)
	}
	return strings.Join(parts, ", ")
}

func msgAccountRequired(email string, ms []store.Membership) string {
	return fmt.Sprintf("%s belongs to several CloudLink accounts: %s. Give the number of the account to use (%s).", email, accountList(ms), cloudapi.ParamAccount)
}

func msgUnknownAccount(email string, id int64, ms []store.Membership) string {
	return fmt.Sprintf("%s has no CloudLink account with the number %d. Check the account number; %s can use: %s.", email, id, email, accountList(ms))
}

func msgNoAccounts(email string) string {
	return fmt.Sprintf("%s is not a member of any CloudLink account. Ask an administrator of your account to add you.", email)
}

// msgRevoked says who removed a system and when.
func msgRevoked(sys store.System) string {
	switch sys.RevokeKind {
	case store.RevokedFromHost:
		return fmt.Sprintf("This system was removed from CloudLink account %d (%s): it was unlinked from the host on %s. Link it again to reconnect.",
			sys.Account.ID, sys.Account.Name, formatTime(sys.RevokedAt))
	default:
		by := sys.RevokedBy
		if by == "" {
			by = "an administrator"
		}
		return fmt.Sprintf("This system was removed from CloudLink account %d (%s) by %s in the portal on %s. Link it again to reconnect.",
			sys.Account.ID, sys.Account.Name, by, formatTime(sys.RevokedAt))
	}
}

// revokeReason is the short reason shown in the portal.
func revokeReason(sys store.System) string {
	if sys.RevokeKind == store.RevokedFromHost {
		return "unlinked from the host"
	}
	return "removed by " + sys.RevokedBy + " in the portal"
}

func toAPIAccount(a store.Account) cloudapi.Account {
	return cloudapi.Account{ID: a.ID, Name: a.Name, UUID: a.UUID, Region: a.Region, PartnerID: a.PartnerID}
}
