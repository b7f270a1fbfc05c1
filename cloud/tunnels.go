package cloud

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/cloudlink/cld/cloud/cloudapi"
	"github.com/cloudlink/cld/cloud/store"
	"github.com/cloudlink/cld/tunnel"
)

// Limits of a system's tunnel list (PUT PathSystemTunnels).
const (
	MaxTunnels           = 64
	maxTunnelsBodyBytes  = 256 << 10
	maxTunnelComponent   = 100
	maxTunnelName        = 200
	maxTunnelDescription = 1000
	maxTunnelReason      = 500
)

// deviceSystem returns the linked, not revoked system of a device token,
// or the error to answer (the same rules as GET PathSystemSelf).
func (s *Server) deviceSystem(r *http.Request) (store.System, *apiError) {
	tok, aerr := s.bearerToken(r)
	if aerr != nil {
		return store.System{}, aerr
	}
	if tok.SystemID == "" {
		return store.System{}, &apiError{http.StatusForbidden, errInsufficientScope, "This endpoint needs a linked system's device token (client_credentials grant), not a user's token."}
	}
	return s.tokenSystem(r.Context(), tok)
}

// tokenSystem returns the system of a device token unless it was removed.
func (s *Server) tokenSystem(ctx context.Context, tok store.Token) (store.System, *apiError) {
	sys, err := s.store.SystemByID(ctx, tok.SystemID)
	if err != nil {
		s.log.Error("read system failed", "err", err)
		return store.System{}, internalError()
	}
	if sys.Revoked() {
		return store.System{}, &apiError{http.StatusUnauthorized, cloudapi.ErrSystemRevoked, msgRevoked(sys)}
	}
	return sys, nil
}

// decodeTunnelsRequest reads and checks a TunnelsRequest body (the caller
// limits the reader). Unknown fields are ignored.
func decodeTunnelsRequest(r io.Reader) (cloudapi.TunnelsRequest, *apiError) {
	var req cloudapi.TunnelsRequest
	if aerr := decodeJSON(r, &req, jsonBody{limit: maxTunnelsBodyBytes, what: "tunnel list", empty: "send the system's tunnel list as JSON.",
		shape: "The request body must be a JSON object with a tunnels array, not a JSON %s."}); aerr != nil {
		return req, aerr
	}
	if req.Tunnels == nil {
		return req, badRequest("The field tunnels is missing; send an array (empty when the host defines no tunnels).")
	}
	if len(req.Tunnels) > MaxTunnels {
		return req, badRequest("The list holds %d tunnels; at most %d are allowed.", len(req.Tunnels), MaxTunnels)
	}
	seen := map[string]bool{}
	for i := range req.Tunnels {
		t := &req.Tunnels[i]
		at := fmt.Sprintf("tunnels[%d]", i)
		if !tunnel.ValidTunnelID(t.ID) {
			if t.ID == "" {
				return req, badRequest("The field %s.id is missing.", at)
			}
			return req, badRequest("The field %s.id %q is not a tunnel ID: use lower-case letters, digits and dashes (at most 63, starting with a letter or digit), such as msl-server-manager.", at, clip(t.ID, 80))
		}
		if seen[t.ID] {
			return req, badRequest("The tunnel ID %s appears twice; tunnel IDs must be unique on the host.", t.ID)
		}
		seen[t.ID] = true
		for _, f := range []struct {
			name string
			v    *string
			max  int
		}{
			{"component", &t.Component, maxTunnelComponent},
			{"name", &t.Name, maxTunnelName},
			{"description", &t.Description, maxTunnelDescription},
			{"reason", &t.Reason, maxTunnelReason},
		} {
			*f.v = strings.TrimSpace(*f.v)
			if !utf8.ValidString(*f.v) || strings.ContainsFunc(*f.v, func(r rune) bool { return r < 0x20 || r == 0x7f }) {
				return req, badRequest("The field %s.%s of tunnel %s holds control characters or invalid UTF-8.", at, f.name, t.ID)
			}
			if n := utf8.RuneCountInString(*f.v); n > f.max {
				return req, badRequest("The field %s.%s of tunnel %s is %d characters long; at most %d are allowed.", at, f.name, t.ID, n, f.max)
			}
		}
		if t.Name == "" {
			return req, badRequest("The field %s.name of tunnel %s is missing.", at, t.ID)
		}
		if t.Origin != "" {
			o, ok := parseOrigin(t.Origin)
			if !ok {
				return req, badRequest("The field %s.origin of tunnel %s is %q; send the tunnel's local address as scheme://host:port (http or https), such as https://127.0.0.1:443, or leave it out.", at, t.ID, clip(t.Origin, 80))
			}
			t.Origin = o.String()
		}
		switch t.Status {
		case cloudapi.TunnelStopped, cloudapi.TunnelStarting, cloudapi.TunnelStarted, cloudapi.TunnelError:
		case "":
			return req, badRequest("The field %s.status of tunnel %s is missing; use stopped, starting, started or error.", at, t.ID)
		default:
			return req, badRequest("The field %s.status of tunnel %s is %q; use stopped, starting, started or error.", at, t.ID, clip(t.Status, 40))
		}
	}
	return req, nil
}

// origin is a tunnel's local address as the edge matches it.
type origin struct {
	scheme, host string // lower case; host without brackets
	port         string
}

func (o origin) String() string { return o.scheme + "://" + net.JoinHostPort(o.host, o.port) }

// parseOrigin reads scheme://host:port (the port may be left out for the
// scheme's default).
func parseOrigin(s string) (origin, bool) {
	if len(s) > 300 {
		return origin{}, false
	}
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Opaque != "" || u.User != nil ||
		(u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.Fragment != "" || u.ForceQuery || u.Hostname() == "" {
		return origin{}, false
	}
	o := origin{scheme: u.Scheme, host: strings.ToLower(strings.TrimSuffix(u.Hostname(), ".")), port: u.Port()}
	if o.port == "" {
		o.port = defaultPort(o.scheme)
	}
	if p, err := strconv.Atoi(o.port); err != nil || p < 1 || p > 65535 {
		return origin{}, false
	}
	return o, o.host != ""
}

func defaultPort(scheme string) string {
	if scheme == "https" {
		return "443"
	}
	return "80"
}

// clip shortens s for an error message.
func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n] + "…"
}

// handleSystemTunnels stores a system's tunnel list (PUT) and answers the
// public URLs.
func (s *Server) handleSystemTunnels(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPut {
		w.Header().Set("Allow", http.MethodPut)
		writeError(w, &apiError{http.StatusMethodNotAllowed, cloudapi.ErrBadRequest, "Send the system's tunnel list with PUT."})
		return
	}
	sys, aerr := s.deviceSystem(r)
	if aerr != nil {
		writeError(w, aerr)
		return
	}
	if aerr := checkJSONType(r); aerr != nil {
		writeError(w, aerr)
		return
	}
	req, aerr := decodeTunnelsRequest(http.MaxBytesReader(w, r.Body, maxTunnelsBodyBytes))
	if aerr != nil {
		writeError(w, aerr)
		return
	}
	ts := make([]store.Tunnel, len(req.Tunnels))
	resp := cloudapi.TunnelsResponse{Tunnels: make([]cloudapi.TunnelPublic, len(req.Tunnels))}
	for i, t := range req.Tunnels {
		ts[i] = store.Tunnel{SystemID: sys.ID, ID: t.ID, UUID: cloudapi.TunnelUUID(sys.ID, t.ID), Component: t.Component,
			Name: t.Name, Description: t.Description, Status: t.Status, Reason: t.Reason, Origin: t.Origin}
		resp.Tunnels[i] = cloudapi.TunnelPublic{ID: t.ID, PublicURL: s.edge.publicURL(sys.Account.Region, ts[i].UUID)}
	}
	if err := s.store.SetTunnels(r.Context(), sys.ID, ts, s.now()); err != nil {
		s.log.Error("save tunnels failed", "system_id", sys.ID, "err", err)
		writeError(w, internalError())
		return
	}
	s.edge.tunnelsChanged()
	started := 0
	for _, t := range ts {
		if t.Status == cloudapi.TunnelStarted {
			started++
		}
	}
	s.log.Debug("tunnel list saved", "system_id", sys.ID, "tunnels", len(ts), "started", started)
	writeJSON(w, http.StatusOK, resp)
}

// connKey is the request context key of the connection a request came on.
type connKey struct{}

// systemIDKey is the request context key of a tunnel session's system.
type systemIDKey struct{}

// handleTunnelConnect checks a daemon's device token (as GET
// PathSystemSelf does) before handing the request to the tunnel edge,
// which upgrades it to the tunnel session and holds it until it ends. The
// connection is tracked so that removing the system closes its session.
func (s *Server) handleTunnelConnect(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet {
		w.Header().Set("Allow", http.MethodGet)
		writeError(w, &apiError{http.StatusMethodNotAllowed, cloudapi.ErrBadRequest, "Open the tunnel session with a WebSocket GET request."})
		return
	}
	tok, aerr := s.bearerToken(r)
	if aerr != nil {
		writeError(w, aerr)
		return
	}
	if tok.SystemID == "" {
		writeError(w, &apiError{http.StatusForbidden, errInsufficientScope, "The tunnel endpoint needs a linked system's device token (client_credentials grant), not a user's token."})
		return
	}
	// Track the connection before reading the system: a removal that
	// happens between the check and the session then still finds it.
	conn, _ := r.Context().Value(connKey{}).(net.Conn)
	if conn != nil {
		s.edge.track(conn, tok.SystemID)
		defer s.edge.untrack(conn)
	}
	sys, aerr := s.tokenSystem(r.Context(), tok)
	if aerr != nil {
		writeError(w, aerr)
		return
	}
	ctx := context.WithValue(r.Context(), systemIDKey{}, sys.ID)
	s.log.Info("tunnel session opening", "system_id", sys.ID, "remote", r.RemoteAddr)
	s.edge.tun.ServeHTTP(w, r.WithContext(ctx))
	s.log.Info("tunnel session ended", "system_id", sys.ID)
}

// authenticateTunnel is the tunnel edge's Authenticate: the token was
// checked by handleTunnelConnect, which put the system ID in the context.
func authenticateTunnel(r *http.Request) (string, error) {
	id, _ := r.Context().Value(systemIDKey{}).(string)
	if id == "" {
		return "", errors.New("the request was not authenticated with a device token")
	}
	return id, nil
}

// systemRevoked ends what a system's old device credentials still hold
// (it was removed, or linked again): its tunnel session is closed and its
// tunnels are marked stopped with the reason, so that the edge routes
// nothing to it until it reports them again.
func (s *Server) systemRevoked(ctx context.Context, sys store.System, reason string) {
	if err := s.store.SetTunnelsStatus(ctx, sys.ID, cloudapi.TunnelStopped, reason, s.now()); err != nil {
		s.log.Error("stop tunnels of a removed system failed", "system_id", sys.ID, "err", err)
	}
	s.edge.tunnelsChanged()
	if s.edge.closeSessions(sys.ID, reason) {
		s.log.Info("tunnel session closed", "system_id", sys.ID, "reason", reason)
	}
}
