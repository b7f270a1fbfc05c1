package cloud

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"regexp"
	"strings"
	"unicode/utf8"

	"github.com/google/uuid"

	"github.com/cloudlink/cld/cloud/cloudapi"
	"github.com/cloudlink/cld/cloud/store"
)

// bearerToken returns the valid access token of the request.
func (s *Server) bearerToken(r *http.Request) (store.Token, *apiError) {
	h := r.Header.Get("Authorization")
	scheme, tok, ok := strings.Cut(h, " ")
	if h == "" || !ok || !strings.EqualFold(scheme, "Bearer") || strings.TrimSpace(tok) == "" {
		return store.Token{}, &apiError{http.StatusUnauthorized, cloudapi.ErrInvalidToken, "This request needs an access token (Authorization: Bearer …)."}
	}
	t, err := s.store.Token(r.Context(), hashSecret(strings.TrimSpace(tok)))
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		s.log.Error("read token failed", "err", err)
		return store.Token{}, internalError()
	}
	if err != nil || t.Kind != store.KindAccess || !t.Valid(s.now()) {
		return store.Token{}, &apiError{http.StatusUnauthorized, cloudapi.ErrInvalidToken, "The access token is unknown, expired or revoked. Get a new one."}
	}
	return t, nil
}

// hexPattern matches a SHA-256 in hex.
var hexPattern = regexp.MustCompile(`^[0-9a-f]{64}$`)

// decodeRegisterRequest reads and checks a RegisterRequest body (at most
// maxBodyBytes; the caller limits the reader). Unknown fields are ignored,
// so that newer daemons can send more.
func decodeRegisterRequest(r io.Reader) (cloudapi.RegisterRequest, *apiError) {
	var req cloudapi.RegisterRequest
	if aerr := decodeJSON(r, &req, jsonBody{limit: maxBodyBytes, what: "registration request", empty: "send a JSON registration request."}); aerr != nil {
		return req, aerr
	}
	for _, f := range []struct{ name, v string }{
		{"installation_id", req.InstallationID}, {"machine_id_hash", req.MachineIDHash},
		{"hostname", req.Hostname}, {"version", req.Version},
	} {
		if !utf8.ValidString(f.v) || strings.ContainsFunc(f.v, func(r rune) bool { return r < 0x20 || r == 0x7f }) {
			return req, badRequest("The field %s holds control characters or invalid UTF-8.", f.name)
		}
	}
	req.InstallationID = strings.ToLower(strings.TrimSpace(req.InstallationID))
	if req.InstallationID == "" {
		return req, badRequest("The field installation_id is missing; send the daemon's installation UUID.")
	}
	if u, err := uuid.Parse(req.InstallationID); err != nil || u.String() != req.InstallationID {
		return req, badRequest("The field installation_id must be a UUID such as 0f8fad5b-d9cb-469f-a165-70867728950e.")
	}
	req.MachineIDHash = strings.ToLower(strings.TrimSpace(req.MachineIDHash))
	if req.MachineIDHash != "" && !hexPattern.MatchString(req.MachineIDHash) {
		return req, badRequest("The field machine_id_hash must be a SHA-256 in hex (64 characters).")
	}
	req.Hostname = strings.TrimSpace(req.Hostname)
	if req.Hostname == "" {
		return req, badRequest("The field hostname is missing.")
	}
	if len(req.Hostname) > 253 {
		return req, badRequest("The field hostname is longer than 253 characters.")
	}
	req.Version = strings.TrimSpace(req.Version)
	if len(req.Version) > 128 {
		return req, badRequest("The field version is longer than 128 characters.")
	}
	return req, nil
}

func jsonKind(goKind string) string {
	switch goKind {
	case "string":
		return "string"
	case "struct", "map":
		return "object"
	case "slice", "array":
		return "array"
	case "bool":
		return "boolean"
	default:
		return "number"
	}
}

func (s *Server) handleSystems(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		writeError(w, &apiError{http.StatusMethodNotAllowed, cloudapi.ErrBadRequest, "Register a system with POST."})
		return
	}
	tok, aerr := s.bearerToken(r)
	if aerr != nil {
		writeError(w, aerr)
		return
	}
	if tok.UserID == "" || !hasScope(tok.Scope, cloudapi.ScopeRegister) {
		writeError(w, &apiError{http.StatusForbidden, errInsufficientScope,
			fmt.Sprintf("Registering a system needs a user's token with the scope %s (sign in as an account administrator).", cloudapi.ScopeRegister)})
		return
	}
	m, err := s.store.Membership(r.Context(), tok.UserID, tok.AccountID)
	if errors.Is(err, store.ErrNotFound) {
		writeError(w, &apiError{http.StatusForbidden, cloudapi.ErrUnknownAccount, fmt.Sprintf("The user is no longer a member of account %d. Sign in again.", tok.AccountID)})
		return
	}
	if err != nil {
		s.log.Error("read membership failed", "err", err)
		writeError(w, internalError())
		return
	}
	if !m.IsAdmin() {
		writeError(w, &apiError{http.StatusForbidden, cloudapi.ErrNotAdmin, msgNotAdmin(m.Email, m.Account)})
		return
	}
	if aerr := checkJSONType(r); aerr != nil {
		writeError(w, aerr)
		return
	}
	req, aerr := decodeRegisterRequest(http.MaxBytesReader(w, r.Body, maxBodyBytes))
	if aerr != nil {
		writeError(w, aerr)
		return
	}
	resp, err := s.register(r.Context(), m, req)
	if err != nil {
		s.log.Error("register system failed", "err", err)
		writeError(w, internalError())
		return
	}
	writeJSON(w, http.StatusOK, resp)
}

// register creates the system or replaces the device credentials of the
// same installation.
func (s *Server) register(ctx context.Context, m store.Membership, req cloudapi.RegisterRequest) (cloudapi.RegisterResponse, error) {
	clientID, secret := newClientID(), newSecret(32)
	sys, replaced, err := s.store.RegisterSystem(ctx, store.System{
		Account:        m.Account,
		InstallationID: req.InstallationID,
		MachineIDHash:  req.MachineIDHash,
		Hostname:       req.Hostname,
		Version:        req.Version,
		ClientID:       clientID,
		SecretHash:     hashSecret(secret),
		UserID:         m.UserID,
		UserEmail:      m.Email,
		Role:           m.Role,
	}, s.now())
	if err != nil {
		return cloudapi.RegisterResponse{}, err
	}
	if replaced {
		// New device credentials: the old ones' session ends, and the
		// tunnels wait for the daemon to report them again.
		s.systemRevoked(ctx, sys, "the system was linked again")
	}
	s.log.Info("system registered", "system_id", sys.ID, "account_id", sys.Account.ID, "hostname", sys.Hostname,
		"replaced", replaced, "user_id", m.UserID)
	return cloudapi.RegisterResponse{
		SystemID:     sys.ID,
		ClientID:     clientID,
		ClientSecret: secret,
		Account:      toAPIAccount(sys.Account),
		UserID:       sys.UserID,
		Role:         sys.Role,
		ClientType:   cloudapi.ClientTypeSystem,
	}, nil
}

func (s *Server) handleSystemSelf(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead && r.Method != http.MethodDelete {
		w.Header().Set("Allow", "GET, DELETE")
		writeError(w, &apiError{http.StatusMethodNotAllowed, cloudapi.ErrBadRequest, "Use GET to read the system or DELETE to unlink it."})
		return
	}
	tok, aerr := s.bearerToken(r)
	if aerr != nil {
		writeError(w, aerr)
		return
	}
	if tok.SystemID == "" {
		writeError(w, &apiError{http.StatusForbidden, errInsufficientScope, "This endpoint needs a linked system's device token (client_credentials grant), not a user's token."})
		return
	}
	sys, err := s.store.SystemByID(r.Context(), tok.SystemID)
	if err != nil {
		s.log.Error("read system failed", "err", err)
		writeError(w, internalError())
		return
	}
	if r.Method == http.MethodDelete {
		if sys.Revoked() {
			w.WriteHeader(http.StatusNoContent)
			return
		}
		if _, _, err := s.store.RevokeSystem(r.Context(), sys.ID, store.RevokedFromHost, "", s.now()); err != nil {
			s.log.Error("unlink system failed", "err", err)
			writeError(w, internalError())
			return
		}
		s.systemRevoked(r.Context(), sys, "the system was unlinked from the host")
		s.log.Info("system unlinked from the host", "system_id", sys.ID, "account_id", sys.Account.ID)
		w.WriteHeader(http.StatusNoContent)
		return
	}
	if sys.Revoked() {
		writeError(w, &apiError{http.StatusUnauthorized, cloudapi.ErrSystemRevoked, msgRevoked(sys)})
		return
	}
	writeJSON(w, http.StatusOK, cloudapi.SystemInfo{
		SystemID:   sys.ID,
		Account:    toAPIAccount(sys.Account),
		UserID:     sys.UserID,
		Role:       sys.Role,
		ClientType: cloudapi.ClientTypeSystem,
		Hostname:   sys.Hostname,
		LinkedAt:   sys.LinkedAt,
	})
}

// RevokeSystem removes a system from its account as the portal's Remove
// does: by is the administrator's e-mail. Removing a removed system is not
// an error.
func (s *Server) RevokeSystem(ctx context.Context, systemID, by string) (store.System, error) {
	sys, already, err := s.store.RevokeSystem(ctx, systemID, store.RevokedInPortal, by, s.now())
	if err != nil {
		return store.System{}, err
	}
	if !already {
		s.log.Info("system removed in the portal", "system_id", sys.ID, "account_id", sys.Account.ID, "by", by)
	}
	s.systemRevoked(ctx, sys, "the system was removed from its account")
	return sys, nil
}
