// Package cloudclient speaks the daemon's side of the cloudapi contract: the
// HTTP client for the cloud (system roots plus cloud_ca, the proxy of
// agent/proxy, timeouts), OAuth sign-in and device tokens, registration,
// the system's own record, tunnel and inventory reports. Error answers
// become *Error; requests that got no answer wrap ErrUnreachable.
package cloudclient

import (
	"bytes"
	"context"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"

	"github.com/cloudlink/cld/agent/config"
	"github.com/cloudlink/cld/agent/proxy"
	"github.com/cloudlink/cld/cloud/cloudapi"
)

// Error is an error answer of the cloud (cloudapi.Error with its HTTP
// status).
type Error struct {
	Status      int
	Code        string
	Description string
}

func (e *Error) Error() string {
	if e.Description != "" {
		return fmt.Sprintf("CloudLink answered %d %s: %s", e.Status, e.Code, e.Description)
	}
	return fmt.Sprintf("CloudLink answered %d %s", e.Status, e.Code)
}

// ErrUnreachable is wrapped by errors of requests that did not get an
// answer from the cloud (network, proxy, DNS, TLS).
var ErrUnreachable = errors.New("cloud unreachable")

// NewHTTPClient returns the client for the cloud: system roots plus the PEM
// certificates in cfg.CloudCA (see TLSConfig), the proxy (agent/proxy),
// sane timeouts.
func NewHTTPClient(cfg config.Config) (*http.Client, *proxy.Setup, error) {
	tc, err := TLSConfig(cfg.CloudCA)
	if err != nil {
		return nil, nil, err
	}
	ps, err := proxy.New(cfg.Proxy, cfg.NoProxy, cfg.File())
	if err != nil {
		return nil, nil, fmt.Errorf("%w: %w", config.ErrConfig, err)
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.Proxy = ps.ProxyFor
	tr.OnProxyConnectResponse = ps.OnConnectResponse
	dialer := &net.Dialer{Timeout: 30 * time.Second, KeepAlive: 30 * time.Second}
	conns := &connSet{}
	tr.DialContext = conns.wrap(ps.WrapDial(dialer.DialContext))
	dialers.Store(tr, conns)
	tr.TLSClientConfig = tc
	tr.TLSHandshakeTimeout = 10 * time.Second
	tr.ResponseHeaderTimeout = 30 * time.Second
	tr.MaxIdleConnsPerHost = 4
	tr.IdleConnTimeout = 90 * time.Second
	return &http.Client{
		Transport: tr,
		Timeout:   60 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error {
			return http.ErrUseLastResponse // API calls never follow redirects
		},
	}, ps, nil
}

// Client speaks the cloudapi contract to one cloud.
type Client struct {
	base string
	hc   *http.Client
}

// New is a client of the cloud at base (an https URL without a trailing
// slash) over hc.
func New(base string, hc *http.Client) *Client { return &Client{base: base, hc: hc} }

// Base is the cloud's base URL.
func (c *Client) Base() string { return c.base }

func (c *Client) oauthCtx(ctx context.Context) context.Context {
	return context.WithValue(ctx, oauth2.HTTPClient, c.hc)
}

// wrapNetErr marks transport failures as ErrUnreachable and turns
// oauth2.RetrieveError into *Error.
func (c *Client) wrapErr(err error) error {
	if err == nil {
		return nil
	}
	var re *oauth2.RetrieveError
	if errors.As(err, &re) {
		ce := &Error{Code: re.ErrorCode, Description: re.ErrorDescription}
		if re.Response != nil {
			ce.Status = re.Response.StatusCode
		}
		if ce.Code == "" {
			ce.Code = "http_" + strconv.Itoa(ce.Status)
			ce.Description = strings.TrimSpace(string(truncate(re.Body, 200)))
		}
		return ce
	}
	var ce *Error
	if errors.As(err, &ce) {
		return err
	}
	if errors.Is(err, context.Canceled) {
		return err
	}
	return fmt.Errorf("%w: %w", ErrUnreachable, UnwrapURLError(err))
}

// UnwrapURLError is the cause inside a *url.Error (err itself otherwise).
func UnwrapURLError(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err
	}
	return err
}

func truncate(b []byte, n int) []byte {
	if len(b) > n {
		return b[:n]
	}
	return b
}

// PasswordToken signs the user in with the password grant for ScopeRegister.
//
// x/oauth2's Config.PasswordCredentialsToken cannot send the account number,
// so this uses clientcredentials.Config, whose EndpointParams may override
// grant_type (documented for exactly such interoperability): the request is
// a standard RFC 6749 §4.3 password grant plus account_id.
func (c *Client) PasswordToken(ctx context.Context, username, password string, account int64) (*oauth2.Token, error) {
	params := url.Values{
		"grant_type": {"password"},
		"username":   {username},
		"password":   {password},
	}
	if account != 0 {
		params.Set(cloudapi.ParamAccount, strconv.FormatInt(account, 10))
	}
	cc := clientcredentials.Config{
		ClientID:       cloudapi.ClientIDDaemon,
		TokenURL:       c.base + cloudapi.PathToken,
		Scopes:         []string{cloudapi.ScopeRegister},
		EndpointParams: params,
		AuthStyle:      oauth2.AuthStyleInParams,
	}
	tok, err := cc.Token(c.oauthCtx(ctx))
	return tok, c.wrapErr(err)
}

// OAuthConfig is the public client's configuration for the browser flow.
func (c *Client) OAuthConfig(redirectURI string) *oauth2.Config {
	return &oauth2.Config{
		ClientID: cloudapi.ClientIDDaemon,
		Endpoint: oauth2.Endpoint{
			AuthURL:   c.base + cloudapi.PathAuthorize,
			TokenURL:  c.base + cloudapi.PathToken,
			AuthStyle: oauth2.AuthStyleInParams,
		},
		RedirectURL: redirectURI,
		Scopes:      []string{cloudapi.ScopeRegister},
	}
}

// Exchange trades an authorization code (with the PKCE verifier) for a token.
func (c *Client) Exchange(ctx context.Context, redirectURI, code, verifier string) (*oauth2.Token, error) {
	tok, err := c.OAuthConfig(redirectURI).Exchange(c.oauthCtx(ctx), code, oauth2.VerifierOption(verifier))
	return tok, c.wrapErr(err)
}

// DeviceToken gets an access token with the system's device credentials.
func (c *Client) DeviceToken(ctx context.Context, clientID, clientSecret string) (*oauth2.Token, error) {
	cc := clientcredentials.Config{
		ClientID:     clientID,
		ClientSecret: clientSecret,
		TokenURL:     c.base + cloudapi.PathToken,
		AuthStyle:    oauth2.AuthStyleInParams,
	}
	tok, err := cc.Token(c.oauthCtx(ctx))
	return tok, c.wrapErr(err)
}

// TokenLifetime is how long tok is valid from now; the wire's expires_in is
// preferred so that an injected clock stays in charge.
func TokenLifetime(tok *oauth2.Token) time.Duration {
	switch v := tok.Extra("expires_in").(type) {
	case float64:
		if v > 0 {
			return time.Duration(v * float64(time.Second))
		}
	case string:
		if n, err := strconv.ParseInt(v, 10, 64); err == nil && n > 0 {
			return time.Duration(n) * time.Second
		}
	}
	if tok.ExpiresIn > 0 {
		return time.Duration(tok.ExpiresIn) * time.Second
	}
	if !tok.Expiry.IsZero() {
		if d := time.Until(tok.Expiry); d > 0 {
			return d
		}
	}
	return time.Hour
}

// RevokeToken revokes a user token (RFC 7009); best effort.
func (c *Client) RevokeToken(ctx context.Context, token, hint string) error {
	form := url.Values{"token": {token}, "token_type_hint": {hint}, "client_id": {cloudapi.ClientIDDaemon}}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.base+cloudapi.PathRevoke, strings.NewReader(form.Encode()))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	return c.do(req, nil)
}

// Register makes this host a system of the user's account.
func (c *Client) Register(ctx context.Context, userToken string, r cloudapi.RegisterRequest) (*cloudapi.RegisterResponse, error) {
	body, err := json.Marshal(r)
	if err != nil {
		return nil, err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.base+cloudapi.PathSystems, bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+userToken)
	var resp cloudapi.RegisterResponse
	_, status, err := c.doHeader(req, &resp)
	if err != nil {
		return nil, err
	}
	if resp.SystemID == "" || resp.ClientID == "" || resp.ClientSecret == "" {
		return nil, &Error{Status: status, Code: "bad_response", Description: "the registration answer lacks system_id, client_id or client_secret"}
	}
	return &resp, nil
}

// Self fetches the system's own record with a device token.
func (c *Client) Self(ctx context.Context, deviceToken string) (*cloudapi.SystemInfo, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.base+cloudapi.PathSystemSelf, nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Authorization", "Bearer "+deviceToken)
	var info cloudapi.SystemInfo
	if err := c.do(req, &info); err != nil {
		return nil, err
	}
	return &info, nil
}

// Unregister removes the system in the cloud (revokes its credentials).
func (c *Client) Unregister(ctx context.Context, deviceToken string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodDelete, c.base+cloudapi.PathSystemSelf, nil)
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+deviceToken)
	return c.do(req, nil)
}

// do sends req and decodes a 2xx JSON answer into out (when not nil); error
// answers become *Error, transport failures ErrUnreachable.
func (c *Client) do(req *http.Request, out any) error {
	_, _, err := c.doHeader(req, out)
	return err
}

// doHeader is do, returning the answer's header and status too.
func (c *Client) doHeader(req *http.Request, out any) (http.Header, int, error) {
	req.Header.Set("Accept", "application/json")
	resp, err := c.hc.Do(req)
	if err != nil {
		return nil, 0, c.wrapErr(err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return nil, 0, c.wrapErr(err)
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		var e cloudapi.Error
		if json.Unmarshal(data, &e) == nil && e.Code != "" {
			return nil, resp.StatusCode, &Error{Status: resp.StatusCode, Code: e.Code, Description: e.Description}
		}
		return nil, resp.StatusCode, &Error{Status: resp.StatusCode, Code: "http_" + strconv.Itoa(resp.StatusCode), Description: strings.TrimSpace(string(truncate(data, 200)))}
	}
	if out == nil || resp.StatusCode == http.StatusNoContent {
		return resp.Header, resp.StatusCode, nil
	}
	if raw, ok := out.(*json.RawMessage); ok {
		*raw = data
		return resp.Header, resp.StatusCode, nil
	}
	if err := json.Unmarshal(data, out); err != nil {
		return nil, resp.StatusCode, &Error{Status: resp.StatusCode, Code: "bad_response", Description: fmt.Sprintf("the answer of %s is not the expected JSON: %v", req.URL.Path, err)}
	}
	return resp.Header, resp.StatusCode, nil
}

// DescribeUnreachable renders a transport failure for a person.
func DescribeUnreachable(cloud string, err error) string {
	cause := err.Error()
	cause = strings.TrimPrefix(cause, ErrUnreachable.Error()+": ")
	var pe *proxy.Error
	if errors.As(err, &pe) {
		return fmt.Sprintf("Could not reach CloudLink at %s: %s.", cloud, pe.Error())
	}
	hint := "Check the network, proxy and --cloud URL, then try again."
	var ua x509.UnknownAuthorityError
	var hn x509.HostnameError
	var ci x509.CertificateInvalidError
	if errors.As(err, &ua) || errors.As(err, &hn) || errors.As(err, &ci) || strings.Contains(cause, "x509:") || strings.Contains(cause, "tls:") {
		hint = "Check the network, proxy and --cloud URL (and, for a private CloudLink, cloud_ca or --cloud-ca), then try again."
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		cause = "no answer in time (" + cause + ")"
	}
	return fmt.Sprintf("Could not reach CloudLink at %s: %s. %s", cloud, cause, hint)
}

// PutTunnels reports the tunnel list (PUT PathSystemTunnels).
func (c *Client) PutTunnels(ctx context.Context, deviceToken string, r cloudapi.TunnelsRequest) (*cloudapi.TunnelsResponse, error) {
	body, err := json.Marshal(r)
	if err != nil {
		return nil, err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPut, c.base+cloudapi.PathSystemTunnels, bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+deviceToken)
	var resp cloudapi.TunnelsResponse
	if err := c.do(req, &resp); err != nil {
		return nil, err
	}
	return &resp, nil
}

// PostInventory is POST PathSystemInventory with a gzipped JSON body.
func (c *Client) PostInventory(ctx context.Context, deviceToken string, gz []byte) (*cloudapi.InventoryAccepted, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.base+cloudapi.PathSystemInventory, bytes.NewReader(gz))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Content-Encoding", "gzip")
	req.Header.Set("Authorization", "Bearer "+deviceToken)
	var acc cloudapi.InventoryAccepted
	if err := c.do(req, &acc); err != nil {
		return nil, err
	}
	return &acc, nil
}

// PostDirectory sends a batch of directory changes (POST
// PathSystemDirectory); the cloud applies a batch ID once.
func (c *Client) PostDirectory(ctx context.Context, deviceToken string, b cloudapi.DirectoryBatch) (*cloudapi.DirectoryAccepted, error) {
	body, err := json.Marshal(b)
	if err != nil {
		return nil, err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.base+cloudapi.PathSystemDirectory, bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+deviceToken)
	var acc cloudapi.DirectoryAccepted
	if err := c.do(req, &acc); err != nil {
		return nil, err
	}
	return &acc, nil
}

// Release fetches the newest release of the system's stage with a device
// token: the manifest as sent (nil when the stage offers none, a 204) and
// the stage the cloud names (cloudapi.HeaderStage). The updater parses the
// manifest strictly itself.
func (c *Client) Release(ctx context.Context, deviceToken string) (manifest []byte, stage string, err error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.base+cloudapi.PathSystemRelease, nil)
	if err != nil {
		return nil, "", err
	}
	req.Header.Set("Authorization", "Bearer "+deviceToken)
	var raw json.RawMessage
	h, _, err := c.doHeader(req, &raw)
	if err != nil {
		return nil, "", err
	}
	return raw, h.Get(cloudapi.HeaderStage), nil
}
