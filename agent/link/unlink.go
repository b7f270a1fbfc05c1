package link

import (
	"context"
	"errors"
	"net/http"
	"time"

	"github.com/cloudlink/cld/agent/api"
	"github.com/cloudlink/cld/agent/backoff"
	"github.com/cloudlink/cld/agent/cloudclient"
	"github.com/cloudlink/cld/agent/state"
	"github.com/cloudlink/cld/cloud/cloudapi"
)

// Unlink disconnects the host: the link session and its subsystems (tunnels)
// stop, the credentials move atomically from the link to the pending
// revocations, and the cloud is asked to revoke them. A cloud that cannot be
// reached does not block the local unlink: the revocation is retried in the
// background (Status.PendingRevocation).
func (m *Machine) Unlink(ctx context.Context) (api.Status, error) {
	if !m.opMu.TryLock() {
		return api.Status{}, api.Errorf(api.CodeBusy, "Another link or unlink is in progress; wait for it to finish, then try again.")
	}
	defer m.opMu.Unlock()
	m.mu.Lock()
	if m.st.Link == nil {
		m.mu.Unlock()
		return api.Status{}, api.Errorf(api.CodeNotLinked, "This host is not linked to CloudLink; there is nothing to unlink.")
	}
	l := *m.st.Link
	// A cloned host's credentials belong to the original host: drop them
	// here without revoking the original's system.
	revoke := !m.cloneDetected
	st := m.st.Clone()
	st.Link = nil
	st.Reason = ""
	rev := state.Revocation{Cloud: l.Cloud, SystemID: l.SystemID, ClientID: l.ClientID, ClientSecret: l.ClientSecret, Since: m.clock.Now().UTC()}
	if revoke {
		st.PendingRevocations = append(st.PendingRevocations, rev)
	}
	if err := state.Save(m.cfg.StateDir, st); err != nil {
		m.mu.Unlock()
		m.log.Error("could not save the unlink", "err", err)
		return api.Status{}, api.Errorf(api.CodeInternal, "Could not save the unlink (%v); the host stays linked. Check that %s is writable and not full, then try again.", err, m.cfg.StateDir)
	}
	m.st = st
	m.state = api.StateUnlinked
	m.errReason = ""
	m.cloneDetected = false
	m.gen++
	m.health.Clear(WarnCloudUnreachable, WarnCloudError)
	m.mu.Unlock()
	m.log.Info("unlinked locally", "system_id", l.SystemID, "revoke", revoke)

	// Stop the session and everything that runs while linked (tunnels)
	// before the credentials are revoked; the tunnels stay stopped (a new
	// link starts with every tunnel off).
	m.syncSession()
	m.linkEnded(false)

	if revoke {
		if err := m.revoke(ctx, rev); err != nil {
			m.log.Warn("CloudLink could not confirm the unlink; retrying in the background", "system_id", l.SystemID, "err", err)
			m.kickRevocations()
		} else {
			m.dropPending(rev.ClientID)
			m.log.Info("CloudLink confirmed the unlink", "system_id", l.SystemID)
		}
	}
	return m.cfg.Answer(ctx), nil
}

// revokeTimeout bounds one revocation attempt.
const revokeTimeout = 20 * time.Second

// kickRevocations wakes the revocation loop.
func (m *Machine) kickRevocations() {
	select {
	case m.pendingCh <- struct{}{}:
	default:
	}
}

func (m *Machine) pendingRevocations() []state.Revocation {
	m.mu.Lock()
	defer m.mu.Unlock()
	return append([]state.Revocation(nil), m.st.PendingRevocations...)
}

// revocationLoop retries pending revocations with capped exponential
// backoff and jitter until the cloud confirms each.
func (m *Machine) revocationLoop(ctx context.Context) {
	log := m.baseLog.With("component", "revocation")
	b := backoff.New(10*time.Second, 10*time.Minute)
	for {
		pend := m.pendingRevocations()
		if len(pend) == 0 {
			b.Reset()
			select {
			case <-ctx.Done():
				return
			case <-m.pendingCh:
				continue
			}
		}
		failed := false
		for _, r := range pend {
			if err := m.revoke(ctx, r); err != nil {
				if ctx.Err() != nil {
					return
				}
				failed = true
				log.Warn("revoking the unlinked system in CloudLink failed; will retry", "system_id", r.SystemID, "cloud", r.Cloud, "err", err)
				continue
			}
			m.dropPending(r.ClientID)
			log.Info("CloudLink confirmed the revocation of the unlinked system", "system_id", r.SystemID)
		}
		if !failed {
			b.Reset()
			continue
		}
		t := m.clock.NewTimer(b.Next())
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.Chan():
		case <-m.pendingCh:
			t.Stop()
		}
	}
}

// revoke unregisters the system of r in the cloud. It returns nil when the
// cloud confirmed it or the credentials are already invalid there.
func (m *Machine) revoke(ctx context.Context, r state.Revocation) error {
	ctx, cancel := context.WithTimeout(ctx, revokeTimeout)
	defer cancel()
	m.revokeMu.Lock()
	defer m.revokeMu.Unlock()
	c := m.cloudClient(r.Cloud)
	tok, err := c.DeviceToken(ctx, r.ClientID, r.ClientSecret)
	if err != nil {
		if credsGone(err) {
			return nil
		}
		return err
	}
	err = c.Unregister(ctx, tok.AccessToken)
	if err != nil && credsGone(err) {
		return nil
	}
	return err
}

// credsGone reports whether the cloud says the credentials no longer exist.
func credsGone(err error) bool {
	var ce *cloudclient.Error
	if !errors.As(err, &ce) {
		return false
	}
	switch ce.Code {
	case cloudapi.ErrSystemRevoked, "invalid_client", "unauthorized_client":
		return true
	}
	return ce.Status == http.StatusNotFound || ce.Status == http.StatusGone
}

// dropPending removes a confirmed revocation from the state.
func (m *Machine) dropPending(clientID string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	st := m.st.Clone()
	kept := st.PendingRevocations[:0]
	for _, r := range st.PendingRevocations {
		if r.ClientID != clientID {
			kept = append(kept, r)
		}
	}
	if len(kept) == len(m.st.PendingRevocations) {
		return
	}
	st.PendingRevocations = kept
	if err := state.Save(m.cfg.StateDir, st); err != nil {
		m.log.Error("could not save the state after a confirmed revocation; it will be confirmed again", "err", err)
		return
	}
	m.st = st
}
