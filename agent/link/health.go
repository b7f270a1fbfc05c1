package link

import (
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
	// {reason} is cloudclient.DescribeUnreachable's sentence.
	defCloudUnreachable = health.Declare(health.Def{Code: WarnCloudUnreachable, Severity: api.SeverityWarning, Title: "CloudLink not reachable",
		Text:   "{reason} (cld keeps retrying.)",
		Remedy: "Check the network, DNS and proxy settings of this host (`cld doctor` checks them one by one)."})
	defCloudError = health.Declare(health.Def{Code: WarnCloudError, Severity: api.SeverityWarning, Title: "CloudLink answered with an error",
		Text:   "CloudLink at {cloud} answered with an error: {error}. cld keeps retrying.",
		Remedy: "cld keeps retrying; if this lasts, contact CloudLink support."})
	defRevocationPending = health.Declare(health.Def{Code: WarnRevocationPending, Severity: api.SeverityWarning, Title: "Unlink not yet confirmed by CloudLink",
		Text:   "The unlink is done on this host, but CloudLink at {cloud} has not yet confirmed that system {system} is removed.",
		Remedy: "cld keeps retrying. If this lasts, check the network and proxy, or remove the system in the CloudLink portal."})
	defStateCorrupt = health.Declare(health.Def{Code: WarnStateCorrupt, Severity: api.SeverityError, Title: "State file was corrupt",
		Text:   "The state file {path} was corrupt ({error}) and was moved to {to}; the host started unlinked. Link it again with `cld link` or the dashboard.",
		Remedy: "Link this host again with `cld link` or the dashboard."})
	defMachineID = health.Declare(health.Def{Code: WarnMachineID, Severity: api.SeverityWarning, Title: "machine-id unreadable",
		Text:   "Could not read the machine-id ({error}), so a cloned host cannot be told apart from the original.",
		Remedy: "Check machine_id_file in the configuration (normally /etc/machine-id) and that cld may read it."})
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
		m.health.Set(defRevocationPending.Say("cloud", pending.Cloud, "system", pending.SystemID))
	} else {
		m.health.Clear(WarnRevocationPending)
	}
}
