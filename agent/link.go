package agent

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

func apiErr(code, format string, args ...any) *api.Error {
	return &api.Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// resolveCloud picks the cloud URL of a link request.
func (a *Agent) resolveCloud(override string) (string, error) {
	c := override
	if c == "" {
		c = a.cfg.Cloud
	}
	if c == "" {
		return "", apiErr(api.CodeBadRequest, "No CloudLink URL is configured; pass --cloud https://… to `cld link`, or set cloud: https://… in %s.", a.configFile())
	}
	n, err := NormalizeCloudURL(c)
	if err != nil {
		return "", apiErr(api.CodeBadRequest, "cloud: %v; pass --cloud https://… or set cloud: https://… in %s.", err, a.configFile())
	}
	return n, nil
}

func (a *Agent) configFile() string {
	if a.cfg.Source != "" {
		return a.cfg.Source
	}
	return DefaultConfigFile
}

// beginLink takes the link/unlink lock and moves to "linking"; the returned
// function restores the previous state unless the link succeeded, and
// releases the lock.
func (a *Agent) beginLink() (func(), error) {
	if !a.opMu.TryLock() {
		return nil, apiErr(api.CodeBusy, "Another link or unlink is in progress; wait for it to finish, then try again.")
	}
	a.mu.Lock()
	if a.state == api.StateLinked {
		l := a.st.Link
		a.mu.Unlock()
		a.opMu.Unlock()
		return nil, apiErr(api.CodeAlreadyLinked, "This host is already linked to account %d (%s); run `cld unlink` first (or Disconnect on the dashboard).", l.Account.ID, l.Account.Name)
	}
	prev := a.state
	a.state = api.StateLinking
	a.mu.Unlock()
	return func() {
		a.mu.Lock()
		if a.state == api.StateLinking {
			a.state = prev
		}
		a.mu.Unlock()
		a.opMu.Unlock()
	}, nil
}

// Link links the host with a user name and password (password grant), then
// registers the system; nothing is written unless all of it succeeds.
func (a *Agent) Link(ctx context.Context, req api.LinkRequest) (api.Status, error) {
	req.Username = strings.TrimSpace(req.Username)
	if req.Username == "" {
		return api.Status{}, apiErr(api.CodeBadRequest, "The user name is empty; pass --username with the e-mail address you sign in to CloudLink with.")
	}
	if req.Password == "" {
		return api.Status{}, apiErr(api.CodeBadRequest, "The password is empty; type it when asked, or pipe it in with --password-stdin.")
	}
	if req.Account < 0 {
		return api.Status{}, apiErr(api.CodeBadRequest, "The account number %d is not valid; pass --account with the number shown in the CloudLink portal.", req.Account)
	}
	cloud, err := a.resolveCloud(req.Cloud)
	if err != nil {
		return api.Status{}, err
	}
	done, err := a.beginLink()
	if err != nil {
		return api.Status{}, err
	}
	defer done()
	a.log.Info("linking with a user name and password", "cloud", cloud, "username", req.Username, "account", req.Account)
	c := a.cloudClient(cloud)
	tok, err := c.passwordToken(ctx, req.Username, req.Password, req.Account)
	if err != nil {
		return api.Status{}, a.linkFailed(cloud, err, req.Username)
	}
	return a.completeLink(ctx, c, tok, req.Username)
}

// BrowserLink starts the browser sign-in (authorization code with PKCE).
func (a *Agent) BrowserLink(ctx context.Context, req api.BrowserLinkRequest) (api.BrowserLinkStart, error) {
	u, err := url.Parse(req.RedirectURI)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || !strings.HasSuffix(u.Path, cloudapi.RedirectPathSuffix) || u.Fragment != "" {
		return api.BrowserLinkStart{}, apiErr(api.CodeBadRequest, "redirect_uri %q must be an absolute http(s) URL whose path ends with %s (the dashboard's callback).", req.RedirectURI, cloudapi.RedirectPathSuffix)
	}
	cloud, err := a.resolveCloud(req.Cloud)
	if err != nil {
		return api.BrowserLinkStart{}, err
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.state == api.StateLinked {
		return api.BrowserLinkStart{}, apiErr(api.CodeAlreadyLinked, "This host is already linked to account %d (%s); disconnect it first.", a.st.Link.Account.ID, a.st.Link.Account.Name)
	}
	now := a.clock.Now()
	for k, p := range a.browser {
		if now.After(p.expires) {
			delete(a.browser, k)
		}
	}
	for len(a.browser) >= maxBrowserPending { // drop the oldest
		var oldest string
		for k, p := range a.browser {
			if oldest == "" || p.expires.Before(a.browser[oldest].expires) {
				oldest = k
			}
		}
		delete(a.browser, oldest)
	}
	var b [24]byte
	if _, err := rand.Read(b[:]); err != nil {
		return api.BrowserLinkStart{}, fmt.Errorf("making the sign-in state: %w", err)
	}
	state := base64.RawURLEncoding.EncodeToString(b[:])
	verifier := oauth2.GenerateVerifier()
	a.browser[state] = &browserPending{verifier: verifier, redirectURI: req.RedirectURI, cloud: cloud, expires: now.Add(browserTTL)}
	authURL := a.cloudClient(cloud).oauthConfig(req.RedirectURI).AuthCodeURL(state, oauth2.S256ChallengeOption(verifier))
	a.log.Info("browser sign-in started", "cloud", cloud)
	return api.BrowserLinkStart{AuthorizeURL: authURL, State: state}, nil
}

// BrowserCallback finishes the browser sign-in with the code the cloud sent
// back: it exchanges it (with the PKCE verifier) and registers the system.
func (a *Agent) BrowserCallback(ctx context.Context, req api.BrowserCallback) (api.Status, error) {
	if req.State == "" {
		return api.Status{}, apiErr(api.CodeBadRequest, "The sign-in answer lacks its state; start linking again from the dashboard.")
	}
	a.mu.Lock()
	p := a.browser[req.State]
	delete(a.browser, req.State)
	now := a.clock.Now()
	a.mu.Unlock()
	if p == nil || now.After(p.expires) {
		return api.Status{}, apiErr(api.CodeBadState, "This sign-in is unknown or has expired (a sign-in lasts 10 minutes and works once); start linking again.")
	}
	if req.Error != "" {
		return api.Status{}, a.linkFailed(p.cloud, &CloudError{Code: req.Error, Description: req.ErrorDescription}, "")
	}
	if req.Code == "" {
		return api.Status{}, apiErr(api.CodeBadRequest, "The sign-in answer lacks the authorization code; start linking again.")
	}
	done, err := a.beginLink()
	if err != nil {
		return api.Status{}, err
	}
	defer done()
	c := a.cloudClient(p.cloud)
	tok, err := c.exchange(ctx, p.redirectURI, req.Code, p.verifier)
	if err != nil {
		var ce *CloudError
		if errors.As(err, &ce) && ce.Code == "invalid_grant" {
			return api.Status{}, apiErr(api.CodeBadState, "CloudLink did not accept the sign-in code (it expires quickly and works once); start linking again.")
		}
		return api.Status{}, a.linkFailed(p.cloud, err, "")
	}
	return a.completeLink(ctx, c, tok, "")
}

// completeLink registers the system with the user's token, revokes that
// token and persists the link in one atomic write. Called with the link lock.
func (a *Agent) completeLink(ctx context.Context, c *cloudClient, tok *oauth2.Token, username string) (api.Status, error) {
	defer a.revokeUserToken(ctx, c, tok)
	a.mu.Lock()
	installationID := a.st.InstallationID
	if a.cloneDetected || installationID == "" {
		// The identity is the original host's: this copy gets its own, so
		// that registering does not take the original's system over.
		installationID = uuid.NewString()
	}
	a.mu.Unlock()
	hash := machineIDHash(a.machineID, installationID)
	// Registering again replaces the credentials of this installation; a
	// pending revocation of its old ones must not land in between.
	a.revokeMu.Lock()
	resp, err := c.register(ctx, tok.AccessToken, cloudapi.RegisterRequest{
		InstallationID: installationID,
		MachineIDHash:  hash,
		Hostname:       a.hostname,
		Version:        a.build.Version,
	})
	a.revokeMu.Unlock()
	if err != nil {
		return api.Status{}, a.linkFailed(c.base, err, username)
	}
	rec := &linkRecord{
		SystemID: resp.SystemID, ClientID: resp.ClientID, ClientSecret: resp.ClientSecret,
		Account: resp.Account, UserID: resp.UserID, Role: resp.Role, ClientType: resp.ClientType,
		Cloud: c.base, LinkedAt: a.clock.Now().UTC(), InstallationID: installationID, MachineIDHash: hash,
	}
	a.mu.Lock()
	st := a.st.clone()
	st.InstallationID = installationID
	st.MachineIDHash = hash
	st.Link = rec
	st.Reason = ""
	if err := saveState(a.cfg.StateDir, st); err != nil {
		a.mu.Unlock()
		a.log.Error("could not save the link", "err", err)
		return api.Status{}, apiErr(api.CodeInternal, "CloudLink registered this host, but saving the link failed (%v); the host stays unlinked. Check that %s is writable and not full, then link again.", err, a.cfg.StateDir)
	}
	a.st = st
	a.state = api.StateLinked
	a.errReason = ""
	a.cloneDetected = false
	a.gen++
	a.health.Clear(WarnStateCorrupt)
	a.mu.Unlock()
	a.log.Info("linked", "system_id", rec.SystemID, "account_id", rec.Account.ID, "account_name", rec.Account.Name, "region", rec.Account.Region)
	a.syncSession()
	return a.Status(ctx), nil
}

// revokeUserToken revokes the user's access and refresh tokens: they were
// needed only to register. Best effort; never stored.
func (a *Agent) revokeUserToken(ctx context.Context, c *cloudClient, tok *oauth2.Token) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	if tok.RefreshToken != "" {
		if err := c.revokeToken(ctx, tok.RefreshToken, "refresh_token"); err != nil {
			a.log.Warn("could not revoke the user's refresh token (it expires by itself)", "err", err)
		}
	}
	if err := c.revokeToken(ctx, tok.AccessToken, "access_token"); err != nil {
		a.log.Warn("could not revoke the user's access token (it expires by itself)", "err", err)
	}
}

// linkFailed turns a sign-in or registration error into the api.Error a
// person can act on.
func (a *Agent) linkFailed(cloud string, err error, username string) error {
	a.log.Warn("linking failed", "cloud", cloud, "err", err)
	if errors.Is(err, context.Canceled) && !errors.Is(err, ErrCloudUnreachable) {
		return apiErr(api.CodeCloudDown, "Linking was interrupted before CloudLink at %s answered; try again.", cloud)
	}
	if errors.Is(err, ErrCloudUnreachable) {
		return apiErr(api.CodeCloudDown, "%s", describeUnreachable(cloud, err))
	}
	var ce *CloudError
	if !errors.As(err, &ce) {
		return apiErr(api.CodeInternal, "Linking failed: %v. Try again; if it keeps failing, see the daemon's log (journalctl -u cld).", err)
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
			return apiErr(api.CodeWrongPassword, "%s Check the user name and password, then try again.", desc)
		}
		who := ""
		if username != "" {
			who = " for " + username
		}
		return apiErr(api.CodeWrongPassword, "CloudLink did not accept the user name or password%s. Check them and try again.", who)
	case cloudapi.ErrNotAdmin, "insufficient_scope":
		return apiErr(api.CodeNotAdmin, "%s", sentence("This user is not an administrator (ACCOUNT_ADMIN) of the account; sign in with an administrator of the account."))
	case cloudapi.ErrAccountRequired:
		return apiErr(api.CodeAccountNeeded, "%s Run `cld link` again with --account N (or enter the account number at sign-in).", sentence("This e-mail belongs to several CloudLink accounts."))
	case cloudapi.ErrUnknownAccount:
		return apiErr(api.CodeUnknownAccount, "%s", sentence("No CloudLink account with that number exists for this user; check the number in the CloudLink portal and pass it with --account."))
	case "invalid_scope", "access_denied", "unauthorized_client":
		return apiErr(api.CodeNotAdmin, "%s", sentence("CloudLink refused to let this user register a system; sign in with an administrator (ACCOUNT_ADMIN) of the account."))
	}
	if ce.Status >= 500 {
		return apiErr(api.CodeCloudDown, "CloudLink at %s is not working right now (%s). Try again later.", cloud, ce.Error())
	}
	return apiErr(api.CodeCloudError, "CloudLink at %s answered unexpectedly: %s. Check that --cloud points at a CloudLink platform and that cld is up to date.", cloud, ce.Error())
}

// Unlink disconnects the host: the link session and its subsystems (tunnels)
// stop, the credentials move atomically from the link to the pending
// revocations, and the cloud is asked to revoke them. A cloud that cannot be
// reached does not block the local unlink: the revocation is retried in the
// background (Status.PendingRevocation).
func (a *Agent) Unlink(ctx context.Context) (api.Status, error) {
	if !a.opMu.TryLock() {
		return api.Status{}, apiErr(api.CodeBusy, "Another link or unlink is in progress; wait for it to finish, then try again.")
	}
	defer a.opMu.Unlock()
	a.mu.Lock()
	if a.st.Link == nil {
		a.mu.Unlock()
		return api.Status{}, apiErr(api.CodeNotLinked, "This host is not linked to CloudLink; there is nothing to unlink.")
	}
	l := *a.st.Link
	// A cloned host's credentials belong to the original host: drop them
	// here without revoking the original's system.
	revoke := !a.cloneDetected
	st := a.st.clone()
	st.Link = nil
	st.Reason = ""
	rev := revocation{Cloud: l.Cloud, SystemID: l.SystemID, ClientID: l.ClientID, ClientSecret: l.ClientSecret, Since: a.clock.Now().UTC()}
	if revoke {
		st.PendingRevocations = append(st.PendingRevocations, rev)
	}
	if err := saveState(a.cfg.StateDir, st); err != nil {
		a.mu.Unlock()
		a.log.Error("could not save the unlink", "err", err)
		return api.Status{}, apiErr(api.CodeInternal, "Could not save the unlink (%v); the host stays linked. Check that %s is writable and not full, then try again.", err, a.cfg.StateDir)
	}
	a.st = st
	a.state = api.StateUnlinked
	a.errReason = ""
	a.cloneDetected = false
	a.gen++
	a.health.Clear(WarnCloudUnreachable, WarnCloudError)
	a.mu.Unlock()
	a.log.Info("unlinked locally", "system_id", l.SystemID, "revoke", revoke)

	// Stop the session and everything that runs while linked (tunnels)
	// before the credentials are revoked; the tunnels stay stopped (a new
	// link starts with every tunnel off).
	a.syncSession()
	a.tunnels.disableAll("unlink")
	a.inv.forget()

	if revoke {
		if err := a.revoke(ctx, rev); err != nil {
			a.log.Warn("CloudLink could not confirm the unlink; retrying in the background", "system_id", l.SystemID, "err", err)
			a.kickRevocations()
		} else {
			a.dropPending(rev.ClientID)
			a.log.Info("CloudLink confirmed the unlink", "system_id", l.SystemID)
		}
	}
	return a.Status(ctx), nil
}
