package gateway

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"
)

// State is a gateway core's state as its service manager reports it.
type State string

// States.
const (
	StateRunning  State = "running"  // up
	StateStarting State = "starting" // systemd is starting it (ActiveState activating)
	StateStopped  State = "stopped"  // not running, on purpose
	StateFailed   State = "failed"   // exited on its own or failed to start (the supervisor may be waiting to restart it)
	StateUnknown  State = "unknown"  // the service manager cannot tell, or nothing is driven
)

// ServiceStatus is what a Manager knows of the core it runs.
type ServiceStatus struct {
	State State `json:"state"`
	// Detail says more, for a person: systemd's "active (running)", the
	// supervisor's "exited with exit status 3; restarting in 4s".
	Detail string `json:"detail,omitempty"`
	// PID is the core's process (supervisor only; 0 when not running).
	PID int `json:"pid,omitempty"`
	// Since is when the state was entered (zero when unknown).
	Since time.Time `json:"since,omitzero"`
	// Restarts counts the supervisor's restarts after the core exited on
	// its own since the last Start.
	Restarts int `json:"restarts,omitempty"`
	// Backoff is the supervisor's delay before the next restart, while it
	// waits to restart a core that exited (0 otherwise).
	Backoff time.Duration `json:"backoff,omitempty"`
}

// Manager starts, stops and restarts one gateway core instance and reports
// its state: Systemd or Supervisor.
type Manager interface {
	// Name is "systemd" or "supervisor".
	Name() string
	Start(ctx context.Context) error
	Stop(ctx context.Context) error
	Restart(ctx context.Context) error
	Status(ctx context.Context) (ServiceStatus, error)
	// Close releases the manager (the supervisor stops the core).
	Close() error
}

// Health is the outcome of one health check of the REST interface.
type Health struct {
	// OK is a 2xx answer within the timeout.
	OK bool `json:"ok"`
	// URL is what was asked.
	URL string `json:"url"`
	// Code is the HTTP status (0 without an answer).
	Code int `json:"code,omitempty"`
	// Status and Version are from a JSON answer's "status" and "version".
	Status  string `json:"status,omitempty"`
	Version string `json:"version,omitempty"`
	// Error says why it is not OK, as a sentence.
	Error   string        `json:"error,omitempty"`
	Checked time.Time     `json:"checked"`
	Latency time.Duration `json:"latency"`
}

// healthClient is the client of the health checks: loopback only, no
// proxy, the core's self-signed certificate accepted, no idle connections
// kept.
func healthClient(timeout time.Duration) *http.Client {
	return &http.Client{
		Timeout: timeout,
		Transport: &http.Transport{
			Proxy:             nil,
			DisableKeepAlives: true,
			TLSClientConfig:   &tls.Config{InsecureSkipVerify: true}, // #nosec G402 -- loopback to the co-located core, which ships a self-signed certificate
		},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}

// CheckHealth GETs url (the REST interface's health path) with the given
// timeout and reads the answer.
func CheckHealth(ctx context.Context, url string, timeout time.Duration) Health {
	h := Health{URL: url, Checked: time.Now()}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	client := healthClient(timeout)
	defer client.CloseIdleConnections()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		h.Error = fmt.Sprintf("The health check URL %s is not valid: %v.", url, err)
		return h
	}
	req.Header.Set("Accept", "application/json")
	resp, err := client.Do(req)
	h.Latency = time.Since(h.Checked)
	if err != nil {
		if ctx.Err() != nil {
			h.Error = fmt.Sprintf("The gateway core did not answer %s within %s.", url, timeout)
		} else {
			h.Error = fmt.Sprintf("The gateway core's REST interface cannot be reached at %s: %v.", url, err)
		}
		return h
	}
	defer resp.Body.Close()
	h.Code = resp.StatusCode
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	var doc struct {
		Status  string `json:"status"`
		Version string `json:"version"`
	}
	if strings.Contains(resp.Header.Get("Content-Type"), "json") && json.Unmarshal(body, &doc) == nil {
		h.Status, h.Version = doc.Status, doc.Version
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		h.Error = fmt.Sprintf("The gateway core answered %s with %s.", url, resp.Status)
		if h.Status != "" {
			h.Error = fmt.Sprintf("The gateway core answered %s with %s (status %q).", url, resp.Status, h.Status)
		}
		return h
	}
	h.OK = true
	return h
}
