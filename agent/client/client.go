// Package client is the one Go client of the daemon's local API, used by the
// CLI (over the unix socket) and by the dashboard (in-process).
package client

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"

	"github.com/cloudlink/cld/agent/api"
)

// ErrDaemonDown is wrapped by errors from a daemon that could not be reached.
var ErrDaemonDown = errors.New("daemon not reachable")

// Client calls the local API.
type Client struct {
	hc      *http.Client
	base    string
	socket  string
	handler http.Handler
}

// NewUnix returns a client for the daemon listening on the unix socket path.
func NewUnix(socket string) *Client {
	tr := &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "unix", socket)
		},
	}
	return &Client{hc: &http.Client{Transport: tr}, base: "http://cld", socket: socket}
}

// NewHandler returns a client that calls the handler in-process (the
// dashboard inside the daemon uses this; tests too).
func NewHandler(h http.Handler) *Client {
	return &Client{handler: h, base: "http://cld"}
}

// Status returns the daemon's status.
func (c *Client) Status(ctx context.Context) (api.Status, error) {
	var s api.Status
	err := c.do(ctx, api.RouteStatus, nil, &s)
	return s, err
}

// Version returns the daemon's build facts.
func (c *Client) Version(ctx context.Context) (api.Build, error) {
	var b api.Build
	err := c.do(ctx, api.RouteVersion, nil, &b)
	return b, err
}

// Link links the host with a user name and password.
func (c *Client) Link(ctx context.Context, req api.LinkRequest) (api.Status, error) {
	var s api.Status
	err := c.do(ctx, api.RouteLink, req, &s)
	return s, err
}

// BrowserLink starts the browser sign-in.
func (c *Client) BrowserLink(ctx context.Context, req api.BrowserLinkRequest) (api.BrowserLinkStart, error) {
	var r api.BrowserLinkStart
	err := c.do(ctx, api.RouteBrowserLink, req, &r)
	return r, err
}

// BrowserCallback finishes the browser sign-in.
func (c *Client) BrowserCallback(ctx context.Context, req api.BrowserCallback) (api.Status, error) {
	var s api.Status
	err := c.do(ctx, api.RouteBrowserCallback, req, &s)
	return s, err
}

// Unlink disconnects the host from CloudLink.
func (c *Client) Unlink(ctx context.Context) (api.Status, error) {
	var s api.Status
	err := c.do(ctx, api.RouteUnlink, nil, &s)
	return s, err
}

// SetDashboardUser creates or changes a local dashboard account.
func (c *Client) SetDashboardUser(ctx context.Context, u api.DashboardUser) error {
	return c.do(ctx, api.RouteDashboardUser, u, nil)
}

// DashboardLogin checks a dashboard sign-in; the error is an *api.Error with
// code unauthorized when the name or password is wrong.
func (c *Client) DashboardLogin(ctx context.Context, l api.DashboardLogin) error {
	return c.do(ctx, api.RouteDashboardLogin, l, nil)
}

// Inventory returns the state of inventory reporting.
func (c *Client) Inventory(ctx context.Context) (api.Inventory, error) {
	var i api.Inventory
	err := c.do(ctx, api.RouteInventory, nil, &i)
	return i, err
}

// InventoryPreview returns the exact report (JSON) that would be sent now.
func (c *Client) InventoryPreview(ctx context.Context) (json.RawMessage, error) {
	var r json.RawMessage
	err := c.do(ctx, api.RouteInventoryReport, nil, &r)
	return r, err
}

// SubmitInventory builds and sends a report now.
func (c *Client) SubmitInventory(ctx context.Context) (api.Inventory, error) {
	var i api.Inventory
	err := c.do(ctx, api.RouteInventorySubmit, nil, &i)
	return i, err
}

// Log returns the daemon's most recent log lines.
func (c *Client) Log(ctx context.Context) (api.Log, error) {
	var l api.Log
	err := c.do(ctx, api.RouteLog, nil, &l)
	return l, err
}

// Doctor runs the daemon's checks.
func (c *Client) Doctor(ctx context.Context) (api.Doctor, error) {
	var d api.Doctor
	err := c.do(ctx, api.RouteDoctor, nil, &d)
	return d, err
}

// Tunnels lists the host's tunnels.
func (c *Client) Tunnels(ctx context.Context) (api.Tunnels, error) {
	var t api.Tunnels
	err := c.do(ctx, api.RouteTunnels, nil, &t)
	return t, err
}

// StartTunnel starts one tunnel (by ID) and keeps it started across restarts.
func (c *Client) StartTunnel(ctx context.Context, id string) (api.Tunnels, error) {
	var t api.Tunnels
	err := c.do(ctx, withID(api.RouteTunnelStart, id), nil, &t)
	return t, err
}

// StopTunnel stops one tunnel (by ID).
func (c *Client) StopTunnel(ctx context.Context, id string) (api.Tunnels, error) {
	var t api.Tunnels
	err := c.do(ctx, withID(api.RouteTunnelStop, id), nil, &t)
	return t, err
}

// StartAllTunnels starts every tunnel.
func (c *Client) StartAllTunnels(ctx context.Context) (api.Tunnels, error) {
	var t api.Tunnels
	err := c.do(ctx, api.RouteTunnelsStartAll, nil, &t)
	return t, err
}

// StopAllTunnels stops every tunnel.
func (c *Client) StopAllTunnels(ctx context.Context) (api.Tunnels, error) {
	var t api.Tunnels
	err := c.do(ctx, api.RouteTunnelsStopAll, nil, &t)
	return t, err
}

// TunnelAudit lists the access audit's most recent records (the last 100),
// newest first.
func (c *Client) TunnelAudit(ctx context.Context) (api.Audit, error) {
	var a api.Audit
	err := c.do(ctx, api.RouteTunnelAudit, nil, &a)
	return a, err
}

// withID fills the {id} of a route with a path-escaped tunnel ID.
func withID(route, id string) string {
	return strings.Replace(route, "{id}", url.PathEscape(id), 1)
}

// do sends a request for route ("METHOD /path") with an optional JSON body
// and decodes a JSON answer into out (when not nil).
func (c *Client) do(ctx context.Context, route string, in, out any) error {
	method, path, _ := strings.Cut(route, " ")
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return err
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, body)
	if err != nil {
		return err
	}
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.roundTrip(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 16<<20))
	if err != nil {
		return fmt.Errorf("reading the daemon's answer: %w", err)
	}
	if resp.StatusCode >= 400 {
		var e api.Error
		if json.Unmarshal(data, &e) == nil && e.Message != "" {
			return &e
		}
		return &api.Error{Code: api.CodeInternal, Message: fmt.Sprintf("the daemon answered %s: %s", resp.Status, strings.TrimSpace(string(data)))}
	}
	if out == nil || len(data) == 0 {
		return nil
	}
	if err := json.Unmarshal(data, out); err != nil {
		return fmt.Errorf("the daemon's answer is not valid JSON (%v); is the CLI the same version as the daemon?", err)
	}
	return nil
}

func (c *Client) roundTrip(req *http.Request) (*http.Response, error) {
	if c.handler != nil {
		rec := &recorder{header: http.Header{}, code: http.StatusOK}
		c.handler.ServeHTTP(rec, req)
		return &http.Response{
			StatusCode: rec.code,
			Status:     fmt.Sprintf("%d %s", rec.code, http.StatusText(rec.code)),
			Header:     rec.header,
			Body:       io.NopCloser(&rec.body),
			Request:    req,
		}, nil
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		return nil, fmt.Errorf("%w at %s: %v (is `cld run` running, and is --socket the same as the daemon's?)", ErrDaemonDown, c.socket, err)
	}
	return resp, nil
}

// recorder is an in-memory http.ResponseWriter for in-process calls.
type recorder struct {
	header http.Header
	code   int
	wrote  bool
	body   bytes.Buffer
}

func (r *recorder) Header() http.Header { return r.header }

func (r *recorder) WriteHeader(code int) {
	if !r.wrote {
		r.code, r.wrote = code, true
	}
}

func (r *recorder) Write(b []byte) (int, error) {
	r.wrote = true
	return r.body.Write(b)
}

// Update returns the state of the self-update.
func (c *Client) Update(ctx context.Context) (api.Update, error) {
	var u api.Update
	err := c.do(ctx, api.RouteUpdate, nil, &u)
	return u, err
}

// UpdateAction runs one of the body-less update routes (RouteUpdateCheck,
// RouteUpdateNow, RouteUpdateResume).
func (c *Client) UpdateAction(ctx context.Context, route string) (api.Update, error) {
	var u api.Update
	err := c.do(ctx, route, nil, &u)
	return u, err
}

// PauseUpdates pauses updates for days (0: the longest, 30).
func (c *Client) PauseUpdates(ctx context.Context, days int) (api.Update, error) {
	var u api.Update
	err := c.do(ctx, api.RouteUpdatePause, api.UpdatePauseRequest{Days: days}, &u)
	return u, err
}

// SetUpdateSchedule saves a new update schedule.
func (c *Client) SetUpdateSchedule(ctx context.Context, req api.UpdateScheduleRequest) (api.Update, error) {
	var u api.Update
	err := c.do(ctx, api.RouteUpdateSchedule, req, &u)
	return u, err
}

// Gateway returns the co-located CloudLink Gateway's status.
func (c *Client) Gateway(ctx context.Context) (api.Gateway, error) {
	var g api.Gateway
	err := c.do(ctx, api.RouteGateway, nil, &g)
	return g, err
}

// GatewayAction runs RouteGatewayStart, RouteGatewayStop or
// RouteGatewayRestart and returns the status after it.
func (c *Client) GatewayAction(ctx context.Context, route string) (api.Gateway, error) {
	var g api.Gateway
	err := c.do(ctx, route, nil, &g)
	return g, err
}

// PM returns the Provisioning Manager API's state.
func (c *Client) PM(ctx context.Context) (api.Provisioning, error) {
	var p api.Provisioning
	err := c.do(ctx, api.RoutePM, nil, &p)
	return p, err
}

// SetPMCredential sets the PM admin credential.
func (c *Client) SetPMCredential(ctx context.Context, cred api.PMCredential) (api.Provisioning, error) {
	var p api.Provisioning
	err := c.do(ctx, api.RoutePMCredential, cred, &p)
	return p, err
}
