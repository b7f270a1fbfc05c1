package link

import (
	"fmt"

	"github.com/cloudlink/cld/agent/api"
	"github.com/cloudlink/cld/agent/health"
	"github.com/cloudlink/cld/agent/state"
)

// Warning codes of the link.
const (
	WarnCloudUnreachable  = "cloud_unreachable"
	WarnCloudError        = "cloud_error"
	WarnRevocationPending = "revocation_pending"
	WarnStateCorrupt      = "state_corrupt"
	WarnMachineID         = "machine_id_unreadable"
)

// The link's declared warnings.
var (
	defCloudUnreachable = health.Def{Code: WarnCloudUnreachable, Severity: api.SeverityWarning, Title: "CloudLink not reachable",
		Remedy: "Check the network, DNS and proxy settings of this host (`cld doctor` checks them one by one)."}
	defCloudError = health.Def{Code: WarnCloudError, Severity: api.SeverityWarning, Title: "CloudLink answered with an error",
		Remedy: "cld keeps retrying; if this lasts, contact CloudLink support."}
	defRevocationPending = health.Def{Code: WarnRevocationPending, Severity: api.SeverityWarning, Title: "Unlink not yet confirmed by CloudLink",
		Remedy: "cld keeps retrying. If this lasts, check the network and proxy, or remove the system in the CloudLink portal."}
	defStateCorrupt = health.Def{Code: WarnStateCorrupt, Severity: api.SeverityError, Title: "State file was corrupt",
		Remedy: "Link this host again with `cld link` or the dashboard."}
	defMachineID = health.Def{Code: WarnMachineID, Severity: api.SeverityWarning, Title: "machine-id unreadable",
		Remedy: "Check machine_id_file in the configuration (normally /etc/machine-id) and that cld may read it."}
)

// probeRevocation keeps the warning of an unconfirmed revocation true to
// the link file (a health probe).
func (m *Machine) probeRevocation() {
	m.mu.Lock()
	var pending *state.Revocation
	if m.st != nil && len(m.st.PendingRevocations) > 0 {
		r := m.st.PendingRevocations[0]
		pending = &r
	}
	m.mu.Unlock()
	if pending != nil {
		m.health.Set(defRevocationPending.With(fmt.Sprintf("The unlink is done on this host, but CloudLink at %s has not yet confirmed that system %s is removed.", pending.Cloud, pending.SystemID)))
	} else {
		m.health.Clear(WarnRevocationPending)
	}
}
