package updates

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/cloudlink/cld/agent/api"
	"github.com/cloudlink/cld/agent/cloudclient"
	"github.com/cloudlink/cld/agent/link"
	"github.com/cloudlink/cld/updater"
)

// RunLinked runs the schedule while the host is linked: at each scheduled
// time a check, and unless paused (or the release failed here before) the
// update.
func (u *Updater) RunLinked(ctx context.Context, s *link.Session) error {
	u.mu.Lock()
	u.session, u.systemID, u.runCtx = s, s.SystemID(), ctx
	u.mu.Unlock()
	defer func() {
		u.mu.Lock()
		u.session, u.runCtx = nil, nil
		u.mu.Unlock()
	}()
	for {
		now := u.cfg.Clock.Now()
		u.mu.Lock()
		next := u.nextLocked(now)
		if !next.Equal(u.st.NextCheck) {
			u.st.NextCheck = next
			u.saveLocked()
		}
		u.mu.Unlock()
		t := u.cfg.Clock.NewTimer(next.Sub(now))
		select {
		case <-ctx.Done():
			t.Stop()
			return nil
		case <-u.wake:
			t.Stop()
			continue
		case <-t.Chan():
		}
		u.scheduled(ctx, s)
	}
}

// scheduled is one scheduled run.
func (u *Updater) scheduled(ctx context.Context, s *link.Session) {
	m, art, err := u.check(ctx, s)
	u.mu.Lock()
	u.st.LastScheduled = u.cfg.Clock.Now()
	paused := u.st.Pause.Active(u.st.LastScheduled)
	until := u.st.Pause.Until
	skip := m != nil && slices.Contains(u.st.Skip, m.Version)
	u.saveLocked()
	u.mu.Unlock()
	switch {
	case err != nil || m == nil:
	case paused:
		u.log.Info("an update is available but updates are paused", "version", m.Version, "until", until)
	case skip:
		u.log.Info("an update is available but failed here before; `cld update now` tries it again", "version", m.Version)
	default:
		_ = u.apply(ctx, s, m, art)
	}
}

// check asks the cloud for the newest release: the manifest and artifact
// of a newer one this host can install, else nil. Its findings are kept in
// the state (last check, stage, available, a refusal, an error).
func (u *Updater) check(ctx context.Context, s *link.Session) (*updater.Manifest, updater.Artifact, error) {
	u.mu.Lock()
	if !u.applying {
		u.st.State = api.UpdateStateChecking
	}
	u.mu.Unlock()
	raw, stage, err := u.fetch(ctx, s)
	u.mu.Lock()
	defer u.mu.Unlock()
	defer u.saveLocked()
	u.st.LastCheck = u.cfg.Clock.Now()
	if u.st.State == api.UpdateStateChecking {
		u.st.State = api.UpdateStateIdle
	}
	if stage != "" {
		u.st.Stage = stage
	}
	if err != nil {
		u.st.LastError = describe(err)
		u.log.Warn("the update check failed", "err", u.st.LastError)
		return nil, updater.Artifact{}, err
	}
	u.st.LastError = ""
	if raw == nil {
		u.st.Available = nil
		return nil, updater.Artifact{}, nil
	}
	m, err := updater.ParseManifest(raw)
	if err != nil {
		u.st.LastError = fmt.Sprintf("the cloud's release manifest is not valid (%v); this version keeps running", err)
		u.log.Warn("the update check failed", "err", u.st.LastError)
		return nil, updater.Artifact{}, err
	}
	if m.Stage != "" {
		u.st.Stage = m.Stage
	}
	if v, err := updater.ParseVersion(u.cfg.Version); err == nil {
		if w, _ := updater.ParseVersion(m.Version); w.Compare(v) == 0 {
			u.st.Available = nil
			return nil, updater.Artifact{}, nil // up to date
		}
	}
	art, err := m.Choose(u.cfg.Version, u.cfg.Arch)
	if errors.Is(err, updater.ErrNotNewer) {
		// Not a failure here: a release withdrawn in the cloud offers the
		// one before it again. Said, not warned about.
		u.st.Available = nil
		u.st.LastError = fmt.Sprintf("the cloud offers %s, older than this %s: a downgrade is refused and this version keeps running", m.Version, u.cfg.Version)
		u.log.Info("the release offered is older than this one; refused", "version", m.Version)
		return nil, updater.Artifact{}, nil
	}
	if err != nil {
		u.st.Available = nil
		u.st.LastUpdate = &api.UpdateResult{Version: m.Version, From: u.cfg.Version, Time: u.st.LastCheck, Result: updater.ResultRefused, Reason: err.Error()}
		u.log.Warn("the release offered is refused", "version", m.Version, "reason", err)
		return nil, updater.Artifact{}, nil
	}
	u.st.Available = &api.UpdateRelease{Version: m.Version, Commit: m.Commit, Notes: m.Notes, Size: art.Size}
	return m, art, nil
}

func (u *Updater) fetch(ctx context.Context, s *link.Session) ([]byte, string, error) {
	tok, err := s.Token(ctx)
	if err != nil {
		return nil, "", err
	}
	return s.Cloud().Release(ctx, tok)
}

func describe(err error) string {
	if errors.Is(err, cloudclient.ErrUnreachable) {
		return "CloudLink could not be reached to check for updates (" + err.Error() + "); it is checked again at the next scheduled time"
	}
	return "the update check failed: " + err.Error()
}

// errBusy: one update at a time.
var errBusy = api.Errorf(api.CodeBusy, "An update is already running; `cld update status` shows its progress.")

// apply downloads, verifies and installs the release, then restarts.
func (u *Updater) apply(ctx context.Context, s *link.Session, m *updater.Manifest, art updater.Artifact) error {
	if err := u.begin(m, art); err != nil {
		return err
	}
	return u.applyBegun(ctx, s, m, art)
}

// begin marks an apply as running (errBusy when one is).
func (u *Updater) begin(m *updater.Manifest, art updater.Artifact) error {
	u.mu.Lock()
	defer u.mu.Unlock()
	if u.applying {
		return errBusy
	}
	u.applying = true
	u.st.State, u.st.Target, u.st.Progress = api.UpdateStateDownloading, m.Version, &api.UpdateProgress{Total: art.Size}
	u.saveLocked()
	return nil
}

func (u *Updater) applyBegun(ctx context.Context, s *link.Session, m *updater.Manifest, art updater.Artifact) error {
	defer func() {
		u.mu.Lock()
		u.applying = false
		u.mu.Unlock()
	}()
	log := u.log.With("version", m.Version, "from", u.cfg.Version)
	log.Info("updating", "size", art.Size)
	if u.cfg.Key == nil {
		return u.fail(m.Version, updater.ResultRefused, "this build of cld carries no release key, so no release can be verified; install a release package of cld")
	}
	src, header, err := u.source(ctx, s, art.URL)
	if err != nil {
		return u.fail(m.Version, updater.ResultFailed, err.Error())
	}
	if err := os.MkdirAll(u.dir.Downloads(), 0o700); err != nil {
		return u.fail(m.Version, updater.ResultFailed, err.Error())
	}
	path := filepath.Join(u.dir.Downloads(), "cld-"+strings.ToLower(art.SHA256[:16]))
	u.removeOtherDownloads(path)
	err = updater.Download(ctx, s.HTTPClient(), src, header, path, art.Size, 5, func(done, total int64) {
		u.mu.Lock()
		u.st.Progress = &api.UpdateProgress{Done: done, Total: total}
		u.mu.Unlock()
	})
	if ctx.Err() != nil {
		// The daemon stops or the link ended (a kill leaves the state
		// busy, and the next start records the same).
		return u.fail(m.Version, updater.ResultInterrupted, "the daemon stopped or the link ended during the download; what arrived is kept and the update is tried again at the next check")
	}
	if err != nil {
		return u.fail(m.Version, updater.ResultFailed, fmt.Sprintf("the download failed (%v); what arrived is kept and the download resumes at the next try", err))
	}
	u.step(StepDownloaded)
	u.setState(api.UpdateStateVerifying, m.Version)
	f, err := os.Open(path)
	if err == nil {
		err = art.Verify(*u.cfg.Key, f)
		f.Close()
	}
	if err != nil {
		os.Remove(path)
		return u.fail(m.Version, updater.ResultRefused, err.Error())
	}
	u.step(StepVerified)
	u.setState(api.UpdateStateInstalling, m.Version)
	unlock, err := u.dir.Lock()
	if err != nil {
		return u.fail(m.Version, updater.ResultFailed, err.Error())
	}
	// InstalledAt in real time: the launcher counts the starts after it.
	err = u.dir.Install(path, updater.Binary{Version: m.Version, Size: art.Size, SHA256: strings.ToLower(art.SHA256), Signature: art.Signature,
		From: u.cfg.Version, InstalledAt: time.Now(), Linked: u.cfg.LinkState() == api.StateLinked}, u.cfg.After)
	unlock()
	if err != nil {
		return u.fail(m.Version, updater.ResultFailed, "installing the new binary: "+err.Error())
	}
	os.Remove(path)
	u.setState(api.UpdateStateRestarting, m.Version)
	u.step(StepRestarting)
	log.Info("the new version is installed; restarting into it")
	if u.cfg.Restart != nil {
		u.cfg.Restart("update to " + m.Version)
	}
	return nil
}

// fail records a failed apply.
func (u *Updater) fail(version, result, reason string) error {
	u.log.Error("the update did not happen", "version", version, "result", result, "reason", reason)
	u.mu.Lock()
	defer u.mu.Unlock()
	u.st.LastUpdate = &api.UpdateResult{Version: version, From: u.cfg.Version, Time: u.cfg.Clock.Now(), Result: result, Reason: reason}
	u.st.State, u.st.Target, u.st.Progress = api.UpdateStateIdle, "", nil
	u.saveLocked()
	return errors.New(reason)
}

// source is the download's URL and header: a path is on the linked cloud,
// with the device token; an absolute URL gets the token only on the
// cloud's own origin.
func (u *Updater) source(ctx context.Context, s *link.Session, ref string) (string, http.Header, error) {
	base, err := url.Parse(s.CloudURL())
	if err != nil {
		return "", nil, err
	}
	target, err := base.Parse(ref)
	if err != nil {
		return "", nil, fmt.Errorf("the release's URL %q does not parse: %v", ref, err)
	}
	h := http.Header{}
	if target.Scheme == base.Scheme && target.Host == base.Host {
		tok, err := s.Token(ctx)
		if err != nil {
			return "", nil, err
		}
		h.Set("Authorization", "Bearer "+tok)
	}
	return target.String(), h, nil
}

func (u *Updater) removeOtherDownloads(keep string) {
	ents, _ := os.ReadDir(u.dir.Downloads())
	for _, e := range ents {
		if p := filepath.Join(u.dir.Downloads(), e.Name()); p != keep {
			os.Remove(p)
		}
	}
}

func (u *Updater) setState(state, target string) {
	u.mu.Lock()
	defer u.mu.Unlock()
	u.st.State = state
	if target != "" {
		u.st.Target = target
	}
	u.saveLocked()
}

func (u *Updater) step(s string) {
	if u.cfg.After != nil {
		u.cfg.After(s)
	}
}
