package agent

import (
	"context"
	"errors"
	"net/http"
	"time"

	"github.com/cloudlink/cld/agent/backoff"
	"github.com/cloudlink/cld/cloud/cloudapi"
)

// revokeTimeout bounds one revocation attempt.
const revokeTimeout = 20 * time.Second

// kickRevocations wakes the revocation loop.
func (a *Agent) kickRevocations() {
	select {
	case a.pendingCh <- struct{}{}:
	default:
	}
}

func (a *Agent) pendingRevocations() []revocation {
	a.mu.Lock()
	defer a.mu.Unlock()
	return append([]revocation(nil), a.st.PendingRevocations...)
}

// revocationLoop retries pending revocations with capped exponential
// backoff and jitter until the cloud confirms each.
func (a *Agent) revocationLoop(ctx context.Context) {
	log := a.baseLog.With("component", "revocation")
	b := backoff.New(10*time.Second, 10*time.Minute)
	for {
		pend := a.pendingRevocations()
		if len(pend) == 0 {
			b.Reset()
			select {
			case <-ctx.Done():
				return
			case <-a.pendingCh:
				continue
			}
		}
		failed := false
		for _, r := range pend {
			if err := a.revoke(ctx, r); err != nil {
				if ctx.Err() != nil {
					return
				}
				failed = true
				log.Warn("revoking the unlinked system in CloudLink failed; will retry", "system_id", r.SystemID, "cloud", r.Cloud, "err", err)
				continue
			}
			a.dropPending(r.ClientID)
			log.Info("CloudLink confirmed the revocation of the unlinked system", "system_id", r.SystemID)
		}
		if !failed {
			b.Reset()
			continue
		}
		t := a.clock.NewTimer(b.Next())
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.Chan():
		case <-a.pendingCh:
			t.Stop()
		}
	}
}

// revoke unregisters the system of r in the cloud. It returns nil when the
// cloud confirmed it or the credentials are already invalid there.
func (a *Agent) revoke(ctx context.Context, r revocation) error {
	ctx, cancel := context.WithTimeout(ctx, revokeTimeout)
	defer cancel()
	a.revokeMu.Lock()
	defer a.revokeMu.Unlock()
	c := a.cloudClient(r.Cloud)
	tok, err := c.deviceToken(ctx, r.ClientID, r.ClientSecret)
	if err != nil {
		if credsGone(err) {
			return nil
		}
		return err
	}
	err = c.unregister(ctx, tok.AccessToken)
	if err != nil && credsGone(err) {
		return nil
	}
	return err
}

// credsGone reports whether the cloud says the credentials no longer exist.
func credsGone(err error) bool {
	var ce *CloudError
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
func (a *Agent) dropPending(clientID string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	st := a.st.clone()
	kept := st.PendingRevocations[:0]
	for _, r := range st.PendingRevocations {
		if r.ClientID != clientID {
			kept = append(kept, r)
		}
	}
	if len(kept) == len(a.st.PendingRevocations) {
		return
	}
	st.PendingRevocations = kept
	if err := saveState(a.cfg.StateDir, st); err != nil {
		a.log.Error("could not save the state after a confirmed revocation; it will be confirmed again", "err", err)
		return
	}
	a.st = st
}
