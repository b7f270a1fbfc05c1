package link

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
	"github.com/cloudlink/cld/agent/cloudclient"
	"github.com/cloudlink/cld/agent/state"
	"github.com/cloudlink/cld/cloud/cloudapi"
)

// Subsystem is a part of the daemon that runs only while the host is linked
// (tunnels, inventory; updates, the gateway, PM sync). RunLinked is started
// when a link begins (or at start when already linked) and its context is
// cancelled before an unlink revokes the credentials, when the system is
// revoked or when the daemon stops; it should return promptly then. An
// error is logged; it does not end the link.
type Subsystem interface {
	Name() string
	RunLinked(ctx context.Context, s *Session) error
}

// Ender is a Subsystem that keeps state of one link (chosen tunnels, unsent
// reports): LinkEnded is called when the link ends, after an unlink has
// stopped the session (revoked false) or when the cloud revoked the system
// (revoked true; called with the machine's lock held, while the session is
// ending, so it must not call the Machine).
type Ender interface {
	LinkEnded(revoked bool)
}

func (m *Machine) linkEnded(revoked bool) {
	for _, s := range m.subsystems {
		if e, ok := s.(Ender); ok {
			e.LinkEnded(revoked)
		}
	}
}

// Session is one linked period: the link's facts and its device token.
type Session struct {
	m     *Machine
	link  state.Link
	gen   uint64
	cloud *cloudclient.Client
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

// LinkedAt is when the link was made.
func (s *Session) LinkedAt() time.Time { return s.link.LinkedAt }

// Cloud is the client of the cloud API for this link.
func (s *Session) Cloud() *cloudclient.Client { return s.cloud }

// CloudURL is the base URL of the cloud the host is linked to.
func (s *Session) CloudURL() string { return s.link.Cloud }

// HTTPClient is the client configured for the cloud (trust, proxy).
func (s *Session) HTTPClient() *http.Client { return s.m.cfg.HTTPClient }

// Token returns a valid device access token, fetching one when needed.
func (s *Session) Token(ctx context.Context) (string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.m.clock.Now()
	if s.token != "" && now.Before(s.obtained.Add(s.lifetime-s.lifetime/10)) {
		return s.token, nil
	}
	return s.fetchLocked(ctx)
}

func (s *Session) fetchLocked(ctx context.Context) (string, error) {
	tok, err := s.cloud.DeviceToken(ctx, s.link.ClientID, s.link.ClientSecret)
	if err != nil {
		return "", err
	}
	s.token = tok.AccessToken
	s.obtained = s.m.clock.Now()
	s.lifetime = cloudclient.TokenLifetime(tok)
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
func (s *Session) Invalidate() {
	s.mu.Lock()
	s.token = ""
	s.mu.Unlock()
}

// RefreshAt is when the token should be refreshed: at 80% of its lifetime;
// zero without a token.
func (s *Session) RefreshAt() time.Time {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.token == "" {
		return time.Time{}
	}
	return s.obtained.Add(s.lifetime * 8 / 10)
}

// tokenInfo reports the cached token (for tests and debugging).
func (s *Session) TokenInfo() (token string, obtained time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.token, s.obtained
}

// sessionSupervisor runs the session of the current link and replaces it
// whenever syncSession asks (after a link or unlink).
func (m *Machine) sessionSupervisor(ctx context.Context) error {
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
		m.mu.Lock()
		m.session = nil
		// The session's warnings end with it.
		m.health.Clear(WarnCloudUnreachable, WarnCloudError)
		m.mu.Unlock()
	}
	start := func() {
		m.mu.Lock()
		defer m.mu.Unlock()
		if m.state != api.StateLinked || m.st.Link == nil {
			return
		}
		s := &Session{m: m, link: *m.st.Link, gen: m.gen, cloud: m.cloudClient(m.st.Link.Cloud),
			log: m.baseLog.With("component", "link", "system_id", m.st.Link.SystemID)}
		m.session = s
		if m.cfg.OnSessionStart != nil {
			m.cfg.OnSessionStart()
		}
		sctx, c := context.WithCancel(ctx)
		cancel, done = c, make(chan struct{})
		go func() {
			defer close(done)
			m.runSession(sctx, s)
		}()
	}
	start()
	for {
		select {
		case <-ctx.Done():
			stop()
			return nil
		case ack := <-m.sessionCh:
			stop()
			start()
			close(ack)
		}
	}
}

// syncSession makes the supervisor stop the running session (and its
// subsystems) and start one for the current link, and waits for that. It
// does nothing when Run is not running.
func (m *Machine) syncSession() {
	m.mu.Lock()
	rc, running := m.runCtx, m.running
	m.mu.Unlock()
	if !running || rc == nil {
		return
	}
	ack := make(chan struct{})
	select {
	case m.sessionCh <- ack:
	case <-rc.Done():
		return
	}
	select {
	case <-ack:
	case <-rc.Done():
	}
}

// Current returns the running session, if any.
func (m *Machine) Current() *Session {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.session
}

var errSessionOver = errors.New("session over")

// runSession runs the keep-alive loop and the subsystems of one link.
func (m *Machine) runSession(ctx context.Context, s *Session) {
	s.log.Info("link session started", "cloud", s.link.Cloud)
	defer s.log.Info("link session stopped")
	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error {
		s.keepAlive(gctx)
		return errSessionOver // ends the subsystems too
	})
	for _, sub := range m.subsystems {
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
	m := s.m
	clock := m.clock
	hbDue := clock.Now()
	var tokRetry time.Time // when a failed token refresh is retried
	hbBackoff := backoff.New(5*time.Second, 5*time.Minute)
	tokBackoff := backoff.New(5*time.Second, 5*time.Minute)
	for {
		next := hbDue
		tokDue := s.RefreshAt()
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
			if over := s.HandleError(ctx, err); over {
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
			err := s.Heartbeat(ctx)
			if over := s.HandleError(ctx, err); over {
				return
			}
			if err != nil {
				hbDue = now.Add(hbBackoff.Next())
			} else {
				hbBackoff.Reset()
				hbDue = now.Add(m.cfg.HeartbeatInterval)
				tokRetry = time.Time{}
			}
		}
	}
}

// Heartbeat fetches the system's record now: it proves the link still stands and
// refreshes the account facts.
func (s *Session) Heartbeat(ctx context.Context) error {
	tok, err := s.Token(ctx)
	if err != nil {
		return err
	}
	info, err := s.cloud.Self(ctx, tok)
	var ce *cloudclient.Error
	if errors.As(err, &ce) && ce.Status == http.StatusUnauthorized && ce.Code != cloudapi.ErrSystemRevoked {
		// The token may have expired early (e.g. the cloud restarted): once more with a new one.
		s.Invalidate()
		if tok, err = s.Token(ctx); err != nil {
			return err
		}
		info, err = s.cloud.Self(ctx, tok)
	}
	if err != nil {
		return err
	}
	s.m.updateFacts(s.gen, info)
	return nil
}

// handleErr sorts an error of the keep-alive loop: revocation and refused
// credentials end the session (true); network and cloud errors become
// warnings and are retried; nil clears the warnings.
func (s *Session) HandleError(ctx context.Context, err error) (over bool) {
	m := s.m
	if err == nil {
		m.health.Clear(WarnCloudUnreachable, WarnCloudError)
		return false
	}
	if ctx.Err() != nil {
		return true
	}
	var ce *cloudclient.Error
	switch {
	case errors.As(err, &ce) && ce.Code == cloudapi.ErrSystemRevoked:
		m.onRevoked(s.gen, ce.Description)
		return true
	case errors.As(err, &ce) && (ce.Code == "invalid_client" || ce.Code == "unauthorized_client"):
		m.onRejected(s.gen, ce)
		return true
	case errors.Is(err, cloudclient.ErrUnreachable):
		s.log.Warn("cannot reach CloudLink; retrying", "err", err)
		m.setSessionWarning(s.gen, defCloudUnreachable.Say("reason", cloudclient.DescribeUnreachable(s.link.Cloud, err)))
	default:
		s.log.Warn("CloudLink answered an error; retrying", "err", err)
		m.setSessionWarning(s.gen, defCloudError.Say("cloud", s.link.Cloud, "error", err))
	}
	return false
}

// setSessionWarning raises a warning of the session of link generation gen,
// unless the link has changed meanwhile.
func (m *Machine) setSessionWarning(gen uint64, w api.Warning) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if gen == m.gen {
		m.health.Set(w)
	}
}

// updateFacts stores changed account facts from a heartbeat.
func (m *Machine) updateFacts(gen uint64, info *cloudapi.SystemInfo) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if gen != m.gen || m.st.Link == nil {
		return
	}
	l := m.st.Link
	if info.Account == l.Account && info.UserID == l.UserID && info.Role == l.Role && info.ClientType == l.ClientType {
		return
	}
	if info.Account.ID != 0 && info.Account.ID != l.Account.ID {
		m.log.Warn("the cloud reports a different account for this system; ignoring it", "have", l.Account.ID, "got", info.Account.ID)
		return
	}
	st := m.st.Clone()
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
	if err := state.Save(m.cfg.StateDir, st); err != nil {
		m.log.Error("could not save the updated account facts", "err", err)
		return
	}
	m.st = st
	m.log.Info("account facts updated", "account_id", st.Link.Account.ID, "account_name", st.Link.Account.Name)
}

// onRevoked handles a system_revoked answer: the local credentials are
// removed atomically and the cloud's sentence is kept as the reason.
func (m *Machine) onRevoked(gen uint64, desc string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if gen != m.gen || m.st.Link == nil {
		return
	}
	if desc == "" {
		desc = "This system was removed from its CloudLink account. Link it again with `cld link` or the dashboard."
	}
	st := m.st.Clone()
	systemID := st.Link.SystemID
	st.Link = nil
	st.Reason = desc
	if err := state.Save(m.cfg.StateDir, st); err != nil {
		// In memory it is unlinked anyway; after a restart the next heartbeat
		// notices the revocation again.
		m.log.Error("could not remove the revoked credentials from disk", "err", err)
	}
	m.st = st
	m.state = api.StateUnlinked
	m.errReason = ""
	m.gen++
	m.health.Clear(WarnCloudUnreachable, WarnCloudError)
	m.log.Warn("CloudLink revoked this system; the host is now unlinked", "system_id", systemID, "reason", desc)
	m.linkEnded(true)
}

// onRejected handles refused device credentials (unknown client): the link
// is in error until the host is linked again.
func (m *Machine) onRejected(gen uint64, ce *cloudclient.Error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if gen != m.gen || m.st.Link == nil {
		return
	}
	m.state = api.StateLinkError
	m.errReason = fmt.Sprintf("CloudLink no longer accepts this host's device credentials (%s). Link it again with `cld link` or the dashboard.", ce.Description)
	if ce.Description == "" {
		m.errReason = "CloudLink no longer accepts this host's device credentials. Link it again with `cld link` or the dashboard."
	}
	m.gen++
	m.health.Clear(WarnCloudUnreachable, WarnCloudError)
	m.log.Error("CloudLink refused the device credentials", "code", ce.Code, "description", ce.Description)
}
