package link

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/google/uuid"
	"golang.org/x/oauth2"

	"github.com/cloudlink/cld/agent/api"
	"github.com/cloudlink/cld/agent/cloudclient"
	"github.com/cloudlink/cld/agent/config"
	"github.com/cloudlink/cld/agent/state"
	"github.com/cloudlink/cld/cloud/cloudapi"
)

// browserTTL is how long a browser sign-in may take.
const browserTTL = 10 * time.Minute

// maxBrowserPending bounds the browser sign-ins kept in memory.
const maxBrowserPending = 64

// browserPending is a started browser sign-in (kept in memory only).
type browserPending struct {
	verifier    string
	redirectURI string
	cloud       string
	expires     time.Time
}

// resolveCloud picks the cloud URL of a link request.
func (m *Machine) resolveCloud(override string) (string, error) {
	c := override
	if c == "" {
		c = m.cfg.Cloud
	}
	if c == "" {
		return "", api.Errorf(api.CodeBadRequest, "No CloudLink URL is configured; pass --cloud https://… to `cld link`, or set cloud: https://… in %s.", m.cfg.ConfigFile)
	}
	n, err := config.NormalizeCloudURL(c)
	if err != nil {
		return "", api.Errorf(api.CodeBadRequest, "cloud: %v; pass --cloud https://… or set cloud: https://… in %s.", err, m.cfg.ConfigFile)
	}
	return n, nil
}

// beginLink takes the link/unlink lock and moves to "linking"; the returned
// function restores the previous state unless the link succeeded, and
// releases the lock.
func (m *Machine) beginLink() (func(), error) {
	if !m.opMu.TryLock() {
		return nil, api.Errorf(api.CodeBusy, "Another link or unlink is in progress; wait for it to finish, then try again.")
	}
	m.mu.Lock()
	if m.state == api.StateLinked {
		l := m.st.Link
		m.mu.Unlock()
		m.opMu.Unlock()
		return nil, api.Errorf(api.CodeAlreadyLinked, "This host is already linked to account %d (%s); run `cld unlink` first (or Disconnect on the dashboard).", l.Account.ID, l.Account.Name)
	}
	prev := m.state
	m.state = api.StateLinking
	m.mu.Unlock()
	return func() {
		m.mu.Lock()
		if m.state == api.StateLinking {
			m.state = prev
		}
		m.mu.Unlock()
		m.opMu.Unlock()
	}, nil
}

// Link links the host with a user name and password (password grant), then
// registers the system; nothing is written unless all of it succeeds.
func (m *Machine) Link(ctx context.Context, req api.LinkRequest) (api.Status, error) {
	req.Username = strings.TrimSpace(req.Username)
	if req.Username == "" {
		return api.Status{}, api.Errorf(api.CodeBadRequest, "The user name is empty; pass --username with the e-mail address you sign in to CloudLink with.")
	}
	if req.Password == "" {
		return api.Status{}, api.Errorf(api.CodeBadRequest, "The password is empty; type it when asked, or pipe it in with --password-stdin.")
	}
	if req.Account < 0 {
		return api.Status{}, api.Errorf(api.CodeBadRequest, "The account number %d is not valid; pass --account with the number shown in the CloudLink portal.", req.Account)
	}
	cloud, err := m.resolveCloud(req.Cloud)
	if err != nil {
		return api.Status{}, err
	}
	done, err := m.beginLink()
	if err != nil {
		return api.Status{}, err
	}
	defer done()
	m.log.Info("linking with a user name and password", "cloud", cloud, "username", req.Username, "account", req.Account)
	c := m.cloudClient(cloud)
	tok, err := c.PasswordToken(ctx, req.Username, req.Password, req.Account)
	if err != nil {
		return api.Status{}, m.linkFailed(cloud, err, req.Username)
	}
	return m.completeLink(ctx, c, tok, req.Username)
}

// BrowserLink starts the browser sign-in (authorization code with PKCE).
func (m *Machine) BrowserLink(ctx context.Context, req api.BrowserLinkRequest) (api.BrowserLinkStart, error) {
	u, err := url.Parse(req.RedirectURI)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || !strings.HasSuffix(u.Path, cloudapi.RedirectPathSuffix) || u.Fragment != "" {
		return api.BrowserLinkStart{}, api.Errorf(api.CodeBadRequest, "redirect_uri %q must be an absolute http(s) URL whose path ends with %s (the dashboard's callback).", req.RedirectURI, cloudapi.RedirectPathSuffix)
	}
	cloud, err := m.resolveCloud(req.Cloud)
	if err != nil {
		return api.BrowserLinkStart{}, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.state == api.StateLinked {
		return api.BrowserLinkStart{}, api.Errorf(api.CodeAlreadyLinked, "This host is already linked to account %d (%s); disconnect it first.", m.st.Link.Account.ID, m.st.Link.Account.Name)
	}
	now := m.clock.Now()
	for k, p := range m.browser {
		if now.After(p.expires) {
			delete(m.browser, k)
		}
	}
	for len(m.browser) >= maxBrowserPending { // drop the oldest
		var oldest string
		for k, p := range m.browser {
			if oldest == "" || p.expires.Before(m.browser[oldest].expires) {
				oldest = k
			}
		}
		delete(m.browser, oldest)
	}
	var b [24]byte
	if _, err := rand.Read(b[:]); err != nil {
		return api.BrowserLinkStart{}, fmt.Errorf("making the sign-in state: %w", err)
	}
	state := base64.RawURLEncoding.EncodeToString(b[:])
	verifier := oauth2.GenerateVerifier()
	m.browser[state] = &browserPending{verifier: verifier, redirectURI: req.RedirectURI, cloud: cloud, expires: now.Add(browserTTL)}
	authURL := m.cloudClient(cloud).OAuthConfig(req.RedirectURI).AuthCodeURL(state, oauth2.S256ChallengeOption(verifier))
	m.log.Info("browser sign-in started", "cloud", cloud)
	return api.BrowserLinkStart{AuthorizeURL: authURL, State: state}, nil
}

// BrowserCallback finishes the browser sign-in with the code the cloud sent
// back: it exchanges it (with the PKCE verifier) and registers the system.
func (m *Machine) BrowserCallback(ctx context.Context, req api.BrowserCallback) (api.Status, error) {
	if req.State == "" {
		return api.Status{}, api.Errorf(api.CodeBadRequest, "The sign-in answer lacks its state; start linking again from the dashboard.")
	}
	m.mu.Lock()
	p := m.browser[req.State]
	delete(m.browser, req.State)
	now := m.clock.Now()
	m.mu.Unlock()
	if p == nil || now.After(p.expires) {
		return api.Status{}, api.Errorf(api.CodeBadState, "This sign-in is unknown or has expired (a sign-in lasts 10 minutes and works once); start linking again.")
	}
	if req.Error != "" {
		return api.Status{}, m.linkFailed(p.cloud, &cloudclient.Error{Code: req.Error, Description: req.ErrorDescription}, "")
	}
	if req.Code == "" {
		return api.Status{}, api.Errorf(api.CodeBadRequest, "The sign-in answer lacks the authorization code; start linking again.")
	}
	done, err := m.beginLink()
	if err != nil {
		return api.Status{}, err
	}
	defer done()
	c := m.cloudClient(p.cloud)
	tok, err := c.Exchange(ctx, p.redirectURI, req.Code, p.verifier)
	if err != nil {
		var ce *cloudclient.Error
		if errors.As(err, &ce) && ce.Code == "invalid_grant" {
			return api.Status{}, api.Errorf(api.CodeBadState, "CloudLink did not accept the sign-in code (it expires quickly and works once); start linking again.")
		}
		return api.Status{}, m.linkFailed(p.cloud, err, "")
	}
	return m.completeLink(ctx, c, tok, "")
}

// completeLink registers the system with the user's token, revokes that
// token and persists the link in one atomic write. Called with the link lock.
func (m *Machine) completeLink(ctx context.Context, c *cloudclient.Client, tok *oauth2.Token, username string) (api.Status, error) {
	defer m.revokeUserToken(ctx, c, tok)
	m.mu.Lock()
	installationID := m.st.InstallationID
	if m.cloneDetected || installationID == "" {
		// The identity is the original host's: this copy gets its own, so
		// that registering does not take the original's system over.
		installationID = uuid.NewString()
	}
	m.mu.Unlock()
	hash := state.MachineIDHash(m.machineID, installationID)
	// Registering again replaces the credentials of this installation; a
	// pending revocation of its old ones must not land in between.
	m.revokeMu.Lock()
	resp, err := c.Register(ctx, tok.AccessToken, cloudapi.RegisterRequest{
		InstallationID: installationID,
		MachineIDHash:  hash,
		Hostname:       m.cfg.Hostname,
		Version:        m.cfg.Build.Version,
	})
	m.revokeMu.Unlock()
	if err != nil {
		return api.Status{}, m.linkFailed(c.Base(), err, username)
	}
	rec := &state.Link{
		SystemID: resp.SystemID, ClientID: resp.ClientID, ClientSecret: resp.ClientSecret,
		Account: resp.Account, UserID: resp.UserID, Role: resp.Role, ClientType: resp.ClientType,
		Cloud: c.Base(), LinkedAt: m.clock.Now().UTC(), InstallationID: installationID, MachineIDHash: hash,
	}
	m.mu.Lock()
	st := m.st.Clone()
	st.InstallationID = installationID
	st.MachineIDHash = hash
	st.Link = rec
	st.Reason = ""
	if err := state.Save(m.cfg.StateDir, st); err != nil {
		m.mu.Unlock()
		m.log.Error("could not save the link", "err", err)
		return api.Status{}, api.Errorf(api.CodeInternal, "CloudLink registered this host, but saving the link failed (%v); the host stays unlinked. Check that %s is writable and not full, then link again.", err, m.cfg.StateDir)
	}
	m.st = st
	m.state = api.StateLinked
	m.errReason = ""
	m.cloneDetected = false
	m.gen++
	m.health.Clear(WarnStateCorrupt)
	m.mu.Unlock()
	m.log.Info("linked", "system_id", rec.SystemID, "account_id", rec.Account.ID, "account_name", rec.Account.Name, "region", rec.Account.Region)
	m.syncSession()
	return m.cfg.Answer(ctx), nil
}

// revokeUserToken revokes the user's access and refresh tokens: they were
// needed only to register. Best effort; never stored.
func (m *Machine) revokeUserToken(ctx context.Context, c *cloudclient.Client, tok *oauth2.Token) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	if tok.RefreshToken != "" {
		if err := c.RevokeToken(ctx, tok.RefreshToken, "refresh_token"); err != nil {
			m.log.Warn("could not revoke the user's refresh token (it expires by itself)", "err", err)
		}
	}
	if err := c.RevokeToken(ctx, tok.AccessToken, "access_token"); err != nil {
		m.log.Warn("could not revoke the user's access token (it expires by itself)", "err", err)
	}
}

// linkFailed turns a sign-in or registration error into the api.Error a
// person can act on.
func (m *Machine) linkFailed(cloud string, err error, username string) error {
	m.log.Warn("linking failed", "cloud", cloud, "err", err)
	if errors.Is(err, context.Canceled) && !errors.Is(err, cloudclient.ErrUnreachable) {
		return api.Errorf(api.CodeCloudDown, "Linking was interrupted before CloudLink at %s answered; try again.", cloud)
	}
	if errors.Is(err, cloudclient.ErrUnreachable) {
		return api.Errorf(api.CodeCloudDown, "%s", cloudclient.DescribeUnreachable(cloud, err))
	}
	var ce *cloudclient.Error
	if !errors.As(err, &ce) {
		return api.Errorf(api.CodeInternal, "Linking failed: %v. Try again; if it keeps failing, see the daemon's log (journalctl -u cld).", err)
	}
	desc := strings.TrimSpace(ce.Description)
	sentence := func(def string) string {
		if desc != "" {
			return desc
		}
		return def
	}
	switch ce.Code {
	case "invalid_grant", "invalid_credentials":
		if desc != "" {
			return api.Errorf(api.CodeWrongPassword, "%s Check the user name and password, then try again.", desc)
		}
		who := ""
		if username != "" {
			who = " for " + username
		}
		return api.Errorf(api.CodeWrongPassword, "CloudLink did not accept the user name or password%s. Check them and try again.", who)
	case cloudapi.ErrNotAdmin, "insufficient_scope":
		return api.Errorf(api.CodeNotAdmin, "%s", sentence("This user is not an administrator (ACCOUNT_ADMIN) of the account; sign in with an administrator of the account."))
	case cloudapi.ErrAccountRequired:
		return api.Errorf(api.CodeAccountNeeded, "%s Run `cld link` again with --account N (or enter the account number at sign-in).", sentence("This e-mail belongs to several CloudLink accounts."))
	case cloudapi.ErrUnknownAccount:
		return api.Errorf(api.CodeUnknownAccount, "%s", sentence("No CloudLink account with that number exists for this user; check the number in the CloudLink portal and pass it with --account."))
	case "invalid_scope", "access_denied", "unauthorized_client":
		return api.Errorf(api.CodeNotAdmin, "%s", sentence("CloudLink refused to let this user register a system; sign in with an administrator (ACCOUNT_ADMIN) of the account."))
	}
	if ce.Status >= 500 {
		return api.Errorf(api.CodeCloudDown, "CloudLink at %s is not working right now (%s). Try again later.", cloud, ce.Error())
	}
	return api.Errorf(api.CodeCloudError, "CloudLink at %s answered unexpectedly: %s. Check that --cloud points at a CloudLink platform and that cld is up to date.", cloud, ce.Error())
}
