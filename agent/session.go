package agent

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/cloudlink/cld/agent/api"
	"github.com/cloudlink/cld/agent/backoff"
	"github.com/cloudlink/cld/cloud/cloudapi"
)

// Subsystem is a part of the daemon that runs only while the host is linked
// (tunnels, inventory, updates). RunLinked is started when a link begins (or
// at start when already linked) and its context is cancelled before an
// unlink revokes the credentials, when the system is revoked or when the
// daemon stops; it should return promptly then. An error is logged; it does
// not end the link.
type Subsystem interface {
	Name() string
	RunLinked(ctx context.Context, s *Session) error
}

// Session is one linked period: the link's facts and its device token.
type Session struct {
	a     *Agent
	link  linkRecord
	gen   uint64
	cloud *cloudClient
	log   *slog.Logger

	mu       sync.Mutex
	token    string
	obtained time.Time
	lifetime time.Duration
}

// SystemID is the linked system's ID.
func (s *Session) SystemID() string { return s.link.SystemID }

// Account is the account the host is linked to (as last seen).
func (s *Session) Account() cloudapi.Account { return s.link.Account }

// CloudURL is the base URL of the cloud the host is linked to.
func (s *Session) CloudURL() string { return s.link.Cloud }

// HTTPClient is the client configured for the cloud (trust, proxy).
func (s *Session) HTTPClient() *http.Client { return s.a.hc }

// Token returns a valid device access token, fetching one when needed.
func (s *Session) Token(ctx context.Context) (string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.a.clock.Now()
	if s.token != "" && now.Before(s.obtained.Add(s.lifetime-s.lifetime/10)) {
		return s.token, nil
	}
	return s.fetchLocked(ctx)
}

func (s *Session) fetchLocked(ctx context.Context) (string, error) {
	tok, err := s.cloud.deviceToken(ctx, s.link.ClientID, s.link.ClientSecret)
	if err != nil {
		return "", err
	}
	s.token = tok.AccessToken
	s.obtained = s.a.clock.Now()
	s.lifetime = tokenLifetime(tok)
	s.log.Debug("got a device token", "lifetime", s.lifetime)
	return s.token, nil
}

// refresh fetches a new token now.
func (s *Session) refresh(ctx context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	_, err := s.fetchLocked(ctx)
	return err
}

// invalidate forgets the cached token (after the cloud refused it).
func (s *Session) invalidate() {
	s.mu.Lock()
	s.token = ""
	s.mu.Unlock()
}

// refreshAt is when the token should be refreshed: at 80% of its lifetime;
// zero without a token.
func (s *Session) refreshAt() time.Time {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.token == "" {
		return time.Time{}
	}
	return s.obtained.Add(s.lifetime * 8 / 10)
}

// tokenInfo reports the cached token (for tests and debugging).
func (s *Session) tokenInfo() (token string, obtained time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.token, s.obtained
}

// sessionSupervisor runs the session of the current link and replaces it
// whenever syncSession asks (after a link or unlink).
func (a *Agent) sessionSupervisor(ctx context.Context) error {
	var (
		cancel context.CancelFunc
		done   chan struct{}
	)
	stop := func() {
		if cancel != nil {
			cancel()
			<-done
			cancel = nil
		}
		a.mu.Lock()
		a.session = nil
		// The session's warnings end with it.
		a.health.Clear(WarnCloudUnreachable, WarnCloudError)
		a.mu.Unlock()
	}
	start := func() {
		a.mu.Lock()
		defer a.mu.Unlock()
		if a.state != api.StateLinked || a.st.Link == nil {
			return
		}
		s := &Session{a: a, link: *a.st.Link, gen: a.gen, cloud: a.cloudClient(a.st.Link.Cloud),
			log: a.baseLog.With("component", "link", "system_id", a.st.Link.SystemID)}
		a.session = s
		a.drift.Kick() // measure against the cloud of this link
		sctx, c := context.WithCancel(ctx)
		cancel, done = c, make(chan struct{})
		go func() {
			defer close(done)
			a.runSession(sctx, s)
		}()
	}
	start()
	for {
		select {
		case <-ctx.Done():
			stop()
			return nil
		case ack := <-a.sessionCh:
			stop()
			start()
			close(ack)
		}
	}
}

// syncSession makes the supervisor stop the running session (and its
// subsystems) and start one for the current link, and waits for that. It
// does nothing when Run is not running.
func (a *Agent) syncSession() {
	a.mu.Lock()
	rc, running := a.runCtx, a.running
	a.mu.Unlock()
	if !running || rc == nil {
		return
	}
	ack := make(chan struct{})
	select {
	case a.sessionCh <- ack:
	case <-rc.Done():
		return
	}
	select {
	case <-ack:
	case <-rc.Done():
	}
}

// currentSession returns the running session, if any (tests, subsystems).
func (a *Agent) currentSession() *Session {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.session
}

var errSessionOver = errors.New("session over")

// runSession runs the keep-alive loop and the subsystems of one link.
func (a *Agent) runSession(ctx context.Context, s *Session) {
	s.log.Info("link session started", "cloud", s.link.Cloud)
	defer s.log.Info("link session stopped")
	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error {
		s.keepAlive(gctx)
		return errSessionOver // ends the subsystems too
	})
	for _, sub := range a.subsystems {
		g.Go(func() error {
			if err := sub.RunLinked(gctx, s); err != nil && gctx.Err() == nil {
				s.log.Error("subsystem stopped with an error", "subsystem", sub.Name(), "err", err)
			}
			return nil
		})
	}
	_ = g.Wait()
}

// keepAlive refreshes the device token at 80% of its lifetime and sends a
// heartbeat every heartbeat_interval (and at once). It returns when ctx ends
// or when the link is over (revoked, or the credentials were refused).
func (s *Session) keepAlive(ctx context.Context) {
	a := s.a
	clock := a.clock
	hbDue := clock.Now()
	var tokRetry time.Time // when a failed token refresh is retried
	hbBackoff := backoff.New(5*time.Second, 5*time.Minute)
	tokBackoff := backoff.New(5*time.Second, 5*time.Minute)
	for {
		next := hbDue
		tokDue := s.refreshAt()
		if !tokRetry.IsZero() {
			tokDue = tokRetry
		}
		if !tokDue.IsZero() && tokDue.Before(next) {
			next = tokDue
		}
		if d := next.Sub(clock.Now()); d > 0 {
			t := clock.NewTimer(d)
			select {
			case <-ctx.Done():
				t.Stop()
				return
			case <-t.Chan():
			}
			continue
		}
		if ctx.Err() != nil {
			return
		}
		now := clock.Now()
		if !tokDue.IsZero() && !now.Before(tokDue) {
			err := s.refresh(ctx)
			if over := s.handleErr(ctx, err); over {
				return
			}
			if err != nil {
				tokRetry = now.Add(tokBackoff.Next())
			} else {
				tokRetry = time.Time{}
				tokBackoff.Reset()
			}
		}
		if !now.Before(hbDue) {
			err := s.heartbeat(ctx)
			if over := s.handleErr(ctx, err); over {
				return
			}
			if err != nil {
				hbDue = now.Add(hbBackoff.Next())
			} else {
				hbBackoff.Reset()
				hbDue = now.Add(a.cfg.HeartbeatInterval)
				tokRetry = time.Time{}
			}
		}
	}
}

// heartbeat fetches the system's record: it proves the link still stands and
// refreshes the account facts.
func (s *Session) heartbeat(ctx context.Context) error {
	tok, err := s.Token(ctx)
	if err != nil {
		return err
	}
	info, err := s.cloud.self(ctx, tok)
	var ce *CloudError
	if errors.As(err, &ce) && ce.Status == http.StatusUnauthorized && ce.Code != cloudapi.ErrSystemRevoked {
		// The token may have expired early (e.g. the cloud restarted): once more with a new one.
		s.invalidate()
		if tok, err = s.Token(ctx); err != nil {
			return err
		}
		info, err = s.cloud.self(ctx, tok)
	}
	if err != nil {
		return err
	}
	s.a.updateFacts(s.gen, info)
	return nil
}

// handleErr sorts an error of the keep-alive loop: revocation and refused
// credentials end the session (true); network and cloud errors become
// warnings and are retried; nil clears the warnings.
func (s *Session) handleErr(ctx context.Context, err error) (over bool) {
	a := s.a
	if err == nil {
		a.health.Clear(WarnCloudUnreachable, WarnCloudError)
		return false
	}
	if ctx.Err() != nil {
		return true
	}
	var ce *CloudError
	switch {
	case errors.As(err, &ce) && ce.Code == cloudapi.ErrSystemRevoked:
		a.onRevoked(s.gen, ce.Description)
		return true
	case errors.As(err, &ce) && (ce.Code == "invalid_client" || ce.Code == "unauthorized_client"):
		a.onRejected(s.gen, ce)
		return true
	case errors.Is(err, ErrCloudUnreachable):
		s.log.Warn("cannot reach CloudLink; retrying", "err", err)
		a.setSessionWarning(s.gen, defCloudUnreachable.With(describeUnreachable(s.link.Cloud, err)+" (cld keeps retrying.)"))
	default:
		s.log.Warn("CloudLink answered an error; retrying", "err", err)
		a.setSessionWarning(s.gen, defCloudError.With(fmt.Sprintf("CloudLink at %s answered with an error: %v. cld keeps retrying.", s.link.Cloud, err)))
	}
	return false
}

// setSessionWarning raises a warning of the session of link generation gen,
// unless the link has changed meanwhile.
func (a *Agent) setSessionWarning(gen uint64, w api.Warning) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if gen == a.gen {
		a.health.Set(w)
	}
}

// updateFacts stores changed account facts from a heartbeat.
func (a *Agent) updateFacts(gen uint64, info *cloudapi.SystemInfo) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if gen != a.gen || a.st.Link == nil {
		return
	}
	l := a.st.Link
	if info.Account == l.Account && info.UserID == l.UserID && info.Role == l.Role && info.ClientType == l.ClientType {
		return
	}
	if info.Account.ID != 0 && info.Account.ID != l.Account.ID {
		a.log.Warn("the cloud reports a different account for this system; ignoring it", "have", l.Account.ID, "got", info.Account.ID)
		return
	}
	st := a.st.clone()
	if info.Account.ID != 0 {
		st.Link.Account = info.Account
	}
	if info.UserID != "" {
		st.Link.UserID = info.UserID
	}
	if info.Role != "" {
		st.Link.Role = info.Role
	}
	if info.ClientType != "" {
		st.Link.ClientType = info.ClientType
	}
	if err := saveState(a.cfg.StateDir, st); err != nil {
		a.log.Error("could not save the updated account facts", "err", err)
		return
	}
	a.st = st
	a.log.Info("account facts updated", "account_id", st.Link.Account.ID, "account_name", st.Link.Account.Name)
}

// onRevoked handles a system_revoked answer: the local credentials are
// removed atomically and the cloud's sentence is kept as the reason.
func (a *Agent) onRevoked(gen uint64, desc string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if gen != a.gen || a.st.Link == nil {
		return
	}
	if desc == "" {
		desc = "This system was removed from its CloudLink account. Link it again with `cld link` or the dashboard."
	}
	st := a.st.clone()
	systemID := st.Link.SystemID
	st.Link = nil
	st.Reason = desc
	if err := saveState(a.cfg.StateDir, st); err != nil {
		// In memory it is unlinked anyway; after a restart the next heartbeat
		// notices the revocation again.
		a.log.Error("could not remove the revoked credentials from disk", "err", err)
	}
	a.st = st
	a.state = api.StateUnlinked
	a.errReason = ""
	a.gen++
	a.health.Clear(WarnCloudUnreachable, WarnCloudError)
	a.log.Warn("CloudLink revoked this system; the host is now unlinked", "system_id", systemID, "reason", desc)
	a.tunnels.disableAll("the system was revoked")
}

// onRejected handles refused device credentials (unknown client): the link
// is in error until the host is linked again.
func (a *Agent) onRejected(gen uint64, ce *CloudError) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if gen != a.gen || a.st.Link == nil {
		return
	}
	a.state = api.StateLinkError
	a.errReason = fmt.Sprintf("CloudLink no longer accepts this host's device credentials (%s). Link it again with `cld link` or the dashboard.", ce.Description)
	if ce.Description == "" {
		a.errReason = "CloudLink no longer accepts this host's device credentials. Link it again with `cld link` or the dashboard."
	}
	a.gen++
	a.health.Clear(WarnCloudUnreachable, WarnCloudError)
	a.log.Error("CloudLink refused the device credentials", "code", ce.Code, "description", ce.Description)
}

func (a *Agent) cloudClient(base string) *cloudClient {
	return &cloudClient{base: base, hc: a.observingClient()}
}
