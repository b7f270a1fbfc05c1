package cloud

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"mime"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"golang.org/x/crypto/bcrypt"

	"github.com/cloudlink/cld/cloud/cloudapi"
	"github.com/cloudlink/cld/cloud/store"
	"github.com/cloudlink/cld/lockout"
)

// tokenResponse is the RFC 6749 §5.1 answer of the token endpoint.
type tokenResponse struct {
	AccessToken  string `json:"access_token"`
	TokenType    string `json:"token_type"`
	ExpiresIn    int64  `json:"expires_in"`
	RefreshToken string `json:"refresh_token,omitempty"`
	Scope        string `json:"scope,omitempty"`
}

// tokenRequest is a parsed token request.
type tokenRequest struct {
	GrantType    string
	Code         string
	RedirectURI  string
	CodeVerifier string
	Username     string
	Password     string
	Scope        string
	AccountID    int64 // 0 when not given
	RefreshToken string
	ClientID     string
	ClientSecret string
	BasicAuth    bool // client credentials came in the Authorization header
}

// maxParamLen bounds a single form value.
const maxParamLen = 4096

// Known scopes a user may ask for.
var userScopes = []string{cloudapi.ScopeRegister}

// parseForm reads a POSTed form (application/x-www-form-urlencoded) whose
// parameters each appear at most once (RFC 6749 §3.2). The body must
// already be limited.
func parseForm(r *http.Request) (url.Values, *apiError) {
	ct, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil || ct != "application/x-www-form-urlencoded" {
		return nil, badRequest("The request must be a form (Content-Type application/x-www-form-urlencoded).")
	}
	if err := r.ParseForm(); err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return nil, badRequest("The request body is larger than %d KiB.", maxBodyBytes>>10)
		}
		return nil, badRequest("The request body is not a valid form: %v.", err)
	}
	for k, v := range r.PostForm {
		if len(v) > 1 {
			return nil, badRequest("The parameter %s is given more than once.", k)
		}
		if len(v[0]) > maxParamLen {
			return nil, badRequest("The parameter %s is longer than %d characters.", k, maxParamLen)
		}
	}
	return r.PostForm, nil
}

// parseTokenRequest reads a token request: a POSTed form
// (application/x-www-form-urlencoded), each parameter at most once, client
// credentials in HTTP Basic auth or in the form (not both). The body must
// already be limited.
func parseTokenRequest(r *http.Request) (tokenRequest, *apiError) {
	var tr tokenRequest
	form, aerr := parseForm(r)
	if aerr != nil {
		return tr, aerr
	}
	tr.GrantType = form.Get("grant_type")
	tr.Code = form.Get("code")
	tr.RedirectURI = form.Get("redirect_uri")
	tr.CodeVerifier = form.Get("code_verifier")
	tr.Username = form.Get("username")
	tr.Password = form.Get("password")
	tr.Scope = form.Get("scope")
	tr.RefreshToken = form.Get("refresh_token")
	tr.ClientID = form.Get("client_id")
	tr.ClientSecret = form.Get("client_secret")
	if tr.GrantType == "" {
		return tr, badRequest("The grant_type parameter is missing.")
	}
	if v := form.Get(cloudapi.ParamAccount); v != "" {
		id, err := parseAccountID(v)
		if err != nil {
			return tr, badRequest("The %s parameter %s", cloudapi.ParamAccount, err)
		}
		tr.AccountID = id
	}
	if _, ok := r.Header["Authorization"]; ok {
		user, pass, ok := r.BasicAuth()
		if !ok {
			return tr, &apiError{http.StatusUnauthorized, errInvalidClient, "The Authorization header must be HTTP Basic auth with the client_id and client_secret."}
		}
		// RFC 6749 §2.3.1: both are form-encoded before Basic encoding.
		if u, err := url.QueryUnescape(user); err == nil {
			user = u
		}
		if p, err := url.QueryUnescape(pass); err == nil {
			pass = p
		}
		if tr.ClientSecret != "" {
			return tr, badRequest("Give the client credentials once: in the Authorization header or in the form, not both.")
		}
		if tr.ClientID != "" && tr.ClientID != user {
			return tr, badRequest("The client_id in the form differs from the one in the Authorization header.")
		}
		tr.ClientID, tr.ClientSecret, tr.BasicAuth = user, pass, true
	}
	return tr, nil
}

// parseAccountID reads an account number; the error completes a sentence.
func parseAccountID(v string) (int64, error) {
	id, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
	if err != nil || id <= 0 {
		//lint:ignore ST1005 the error ends the caller's sentence shown to the user, so it ends with its full stop
		return 0, errors.New("must be an account number, such as 100001.")
	}
	return id, nil
}

// parseScope checks a space separated scope against the allowed ones and
// returns it normalised (sorted, deduplicated).
func parseScope(scope string, allowed []string) (string, *apiError) {
	fields := strings.Fields(scope)
	for _, f := range fields {
		if !slices.Contains(allowed, f) {
			return "", &apiError{http.StatusBadRequest, errInvalidScope, fmt.Sprintf("The scope %q is unknown; allowed: %s.", f, strings.Join(allowed, " "))}
		}
	}
	slices.Sort(fields)
	return strings.Join(slices.Compact(fields), " "), nil
}

func hasScope(scope, want string) bool { return slices.Contains(strings.Fields(scope), want) }

func (s *Server) handleToken(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		writeError(w, &apiError{http.StatusMethodNotAllowed, cloudapi.ErrBadRequest, "The token endpoint takes POST requests only."})
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, maxBodyBytes)
	tr, aerr := parseTokenRequest(r)
	if aerr != nil {
		writeError(w, aerr)
		return
	}
	var resp tokenResponse
	switch tr.GrantType {
	case "authorization_code":
		resp, aerr = s.grantAuthorizationCode(r.Context(), tr)
	case "password":
		var err error
		resp, aerr, err = s.grantPassword(r.Context(), tr, r.RemoteAddr)
		retryAfter(w, err)
	case "refresh_token":
		resp, aerr = s.grantRefreshToken(r.Context(), tr)
	case "client_credentials":
		resp, aerr = s.grantClientCredentials(r.Context(), tr)
	default:
		aerr = &apiError{http.StatusBadRequest, errUnsupportedGrantType,
			fmt.Sprintf("The grant type %q is not supported; use authorization_code, password, refresh_token or client_credentials.", tr.GrantType)}
	}
	if aerr != nil {
		s.log.Info("token request refused", "grant_type", tr.GrantType, "error", aerr.Code)
		writeError(w, aerr)
		return
	}
	writeJSON(w, http.StatusOK, resp)
}

// checkPublicClient checks the client of a user grant: the daemon's public
// client (client_id may be left out; a secret must not be given).
func checkPublicClient(tr tokenRequest) *apiError {
	if tr.ClientID != "" && tr.ClientID != cloudapi.ClientIDDaemon {
		return &apiError{http.StatusUnauthorized, errInvalidClient, fmt.Sprintf("The client %q is unknown for this grant; use client_id %q.", tr.ClientID, cloudapi.ClientIDDaemon)}
	}
	if tr.ClientSecret != "" {
		return &apiError{http.StatusUnauthorized, errInvalidClient, fmt.Sprintf("The client %q is public and has no secret; do not send one.", cloudapi.ClientIDDaemon)}
	}
	return nil
}

// grantPassword is the password grant from client; err is a refused
// password check's (for Retry-After).
func (s *Server) grantPassword(ctx context.Context, tr tokenRequest, client string) (_ tokenResponse, _ *apiError, err error) {
	if e := checkPublicClient(tr); e != nil {
		return tokenResponse{}, e, nil
	}
	if tr.Username == "" || tr.Password == "" {
		return tokenResponse{}, badRequest("The username and password parameters are needed."), nil
	}
	scope, aerr := parseScope(tr.Scope, userScopes)
	if aerr != nil {
		return tokenResponse{}, aerr, nil
	}
	user, err := s.checkPassword(ctx, client, tr.Username, tr.Password)
	if err != nil {
		return tokenResponse{}, signInError(err), err
	}
	m, aerr := s.chooseAccount(ctx, user, tr.AccountID)
	if aerr != nil {
		return tokenResponse{}, aerr, nil
	}
	if hasScope(scope, cloudapi.ScopeRegister) && !m.IsAdmin() {
		return tokenResponse{}, &apiError{http.StatusBadRequest, cloudapi.ErrNotAdmin, msgNotAdmin(user.Email, m.Account)}, nil
	}
	resp, aerr := s.issueUserTokens(ctx, user.ID, m.Account.ID, scope, cloudapi.ClientIDDaemon, "")
	return resp, aerr, nil
}

// errWrongPassword: unknown e-mail or wrong password (not told apart).
var errWrongPassword = errors.New("wrong e-mail or password")

func signInError(err error) *apiError {
	if errors.Is(err, errWrongPassword) {
		return &apiError{http.StatusBadRequest, errInvalidGrant, msgWrongPassword}
	}
	var rl *rateLimitError
	if errors.As(err, &rl) {
		return &apiError{http.StatusTooManyRequests, errRateLimited, rl.Error()}
	}
	return internalError()
}

// retryAfter sets Retry-After for a refused password check.
func retryAfter(w http.ResponseWriter, err error) {
	var rl *rateLimitError
	if errors.As(err, &rl) {
		w.Header().Set("Retry-After", strconv.Itoa(rl.seconds()))
	}
}

// checkPassword verifies a sign-in from client (the peer's host:port). An
// unknown e-mail costs as much time as a wrong password and gives the same
// error. An e-mail or client locked out by earlier wrong passwords, or no
// free check within slotWait, is a *rateLimitError before any password is
// compared (throttle.go).
func (s *Server) checkPassword(ctx context.Context, client, email, password string) (store.User, error) {
	now := s.now()
	client = lockout.ClientKey(client)
	if err := s.throttle.admit(now, client, email); err != nil {
		s.log.Info("password check refused: locked out", "client", client, "err", err)
		return store.User{}, err
	}
	user, err := s.store.UserByEmail(ctx, email)
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		s.log.Error("read user failed", "err", err)
		return store.User{}, err
	}
	release, serr := s.throttle.slot(ctx)
	if serr != nil {
		return store.User{}, serr
	}
	s.throttle.runs.Add(1)
	var right bool
	if err != nil { // unknown e-mail
		bcrypt.CompareHashAndPassword(s.dummyHash, []byte(password))
	} else {
		right = bcrypt.CompareHashAndPassword(user.PasswordHash, []byte(password)) == nil
	}
	release()
	s.throttle.result(now, client, email, right)
	if !right {
		return store.User{}, errWrongPassword
	}
	return user, nil
}

// chooseAccount picks the user's account: the given one (accountID > 0) or
// the only one.
func (s *Server) chooseAccount(ctx context.Context, user store.User, accountID int64) (store.Membership, *apiError) {
	ms, err := s.store.Memberships(ctx, user.ID)
	if err != nil {
		s.log.Error("read memberships failed", "err", err)
		return store.Membership{}, internalError()
	}
	if len(ms) == 0 {
		return store.Membership{}, &apiError{http.StatusBadRequest, cloudapi.ErrUnknownAccount, msgNoAccounts(user.Email)}
	}
	if accountID == 0 {
		if len(ms) == 1 {
			return ms[0], nil
		}
		return store.Membership{}, &apiError{http.StatusBadRequest, cloudapi.ErrAccountRequired, msgAccountRequired(user.Email, ms)}
	}
	for _, m := range ms {
		if m.Account.ID == accountID {
			return m, nil
		}
	}
	return store.Membership{}, &apiError{http.StatusBadRequest, cloudapi.ErrUnknownAccount, msgUnknownAccount(user.Email, accountID, ms)}
}

// issueUserTokens stores and returns an access and a refresh token.
func (s *Server) issueUserTokens(ctx context.Context, userID string, accountID int64, scope, clientID, codeHash string) (tokenResponse, *apiError) {
	access, refresh, toks := s.newUserTokens(userID, accountID, scope, clientID, codeHash)
	if err := s.store.InsertTokens(ctx, toks...); err != nil {
		s.log.Error("store tokens failed", "err", err)
		return tokenResponse{}, internalError()
	}
	s.maybePurge(ctx)
	return s.userTokenResponse(access, refresh, scope), nil
}

func (s *Server) newUserTokens(userID string, accountID int64, scope, clientID, codeHash string) (access, refresh string, toks []store.Token) {
	now := s.now()
	access, refresh = newSecret(32), newSecret(32)
	rt := store.Token{Hash: hashSecret(refresh), Kind: store.KindRefresh, ClientID: clientID, UserID: userID,
		AccountID: accountID, Scope: scope, CodeHash: codeHash, CreatedAt: now, ExpiresAt: now.Add(s.cfg.RefreshTokenTTL)}
	at := store.Token{Hash: hashSecret(access), Kind: store.KindAccess, ClientID: clientID, UserID: userID,
		AccountID: accountID, Scope: scope, ParentHash: rt.Hash, CodeHash: codeHash, CreatedAt: now, ExpiresAt: now.Add(s.cfg.AccessTokenTTL)}
	return access, refresh, []store.Token{at, rt}
}

func (s *Server) userTokenResponse(access, refresh, scope string) tokenResponse {
	return tokenResponse{AccessToken: access, TokenType: "Bearer", ExpiresIn: int64(s.cfg.AccessTokenTTL.Seconds()),
		RefreshToken: refresh, Scope: scope}
}

// verifyPKCE checks an S256 code verifier against the challenge.
func verifyPKCE(verifier, challenge string) bool {
	if !validVerifier(verifier) {
		return false
	}
	sum := sha256.Sum256([]byte(verifier))
	return equalHashes(base64.RawURLEncoding.EncodeToString(sum[:]), challenge)
}

// validVerifier: RFC 7636 §4.1, 43 to 128 unreserved characters.
func validVerifier(v string) bool {
	if len(v) < 43 || len(v) > 128 {
		return false
	}
	for _, c := range []byte(v) {
		if !(c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '.' || c == '_' || c == '~') {
			return false
		}
	}
	return true
}

func (s *Server) grantAuthorizationCode(ctx context.Context, tr tokenRequest) (tokenResponse, *apiError) {
	if e := checkPublicClient(tr); e != nil {
		return tokenResponse{}, e
	}
	switch {
	case tr.ClientID == "":
		return tokenResponse{}, badRequest("The client_id parameter is missing.")
	case tr.Code == "":
		return tokenResponse{}, badRequest("The code parameter is missing.")
	case tr.RedirectURI == "":
		return tokenResponse{}, badRequest("The redirect_uri parameter is missing.")
	case tr.CodeVerifier == "":
		return tokenResponse{}, badRequest("The code_verifier parameter is missing (PKCE is required).")
	}
	codeHash := hashSecret(tr.Code)
	code, err := s.store.ConsumeCode(ctx, codeHash)
	switch {
	case errors.Is(err, store.ErrUsed):
		// RFC 6749 §4.1.2: a code used twice may have been stolen; revoke
		// what was issued for it.
		if err := s.store.RevokeCodeTokens(ctx, codeHash); err != nil {
			s.log.Error("revoke tokens of reused code failed", "err", err)
		}
		s.log.Warn("authorization code presented twice; its tokens were revoked", "user_id", code.UserID)
		return tokenResponse{}, &apiError{http.StatusBadRequest, errInvalidGrant, "The authorization code was already used. Sign in again."}
	case errors.Is(err, store.ErrNotFound):
		return tokenResponse{}, &apiError{http.StatusBadRequest, errInvalidGrant, "The authorization code is unknown or expired. Sign in again."}
	case err != nil:
		s.log.Error("use authorization code failed", "err", err)
		return tokenResponse{}, internalError()
	}
	if !s.now().Before(code.ExpiresAt) {
		return tokenResponse{}, &apiError{http.StatusBadRequest, errInvalidGrant, "The authorization code has expired. Sign in again."}
	}
	if code.ClientID != tr.ClientID {
		return tokenResponse{}, &apiError{http.StatusBadRequest, errInvalidGrant, "The authorization code was issued to another client."}
	}
	if code.RedirectURI != tr.RedirectURI {
		return tokenResponse{}, &apiError{http.StatusBadRequest, errInvalidGrant, "The redirect_uri differs from the one of the authorization request."}
	}
	if !verifyPKCE(tr.CodeVerifier, code.CodeChallenge) {
		return tokenResponse{}, &apiError{http.StatusBadRequest, errInvalidGrant, "The code_verifier does not match the code challenge (PKCE). Sign in again."}
	}
	if aerr := s.recheckMembership(ctx, code.UserID, code.AccountID, code.Scope); aerr != nil {
		return tokenResponse{}, aerr
	}
	return s.issueUserTokens(ctx, code.UserID, code.AccountID, code.Scope, code.ClientID, codeHash)
}

// recheckMembership checks that a user still belongs to the account and,
// for ScopeRegister, is still its administrator.
func (s *Server) recheckMembership(ctx context.Context, userID string, accountID int64, scope string) *apiError {
	m, err := s.store.Membership(ctx, userID, accountID)
	if errors.Is(err, store.ErrNotFound) {
		return &apiError{http.StatusBadRequest, errInvalidGrant, fmt.Sprintf("The user is no longer a member of account %d. Sign in again.", accountID)}
	}
	if err != nil {
		s.log.Error("read membership failed", "err", err)
		return internalError()
	}
	if hasScope(scope, cloudapi.ScopeRegister) && !m.IsAdmin() {
		return &apiError{http.StatusBadRequest, cloudapi.ErrNotAdmin, msgNotAdmin(m.Email, m.Account)}
	}
	return nil
}

func (s *Server) grantRefreshToken(ctx context.Context, tr tokenRequest) (tokenResponse, *apiError) {
	if e := checkPublicClient(tr); e != nil {
		return tokenResponse{}, e
	}
	if tr.RefreshToken == "" {
		return tokenResponse{}, badRequest("The refresh_token parameter is missing.")
	}
	invalid := &apiError{http.StatusBadRequest, errInvalidGrant, "The refresh token is unknown, expired, revoked or was already used. Sign in again."}
	oldHash := hashSecret(tr.RefreshToken)
	old, err := s.store.Token(ctx, oldHash)
	if errors.Is(err, store.ErrNotFound) {
		return tokenResponse{}, invalid
	}
	if err != nil {
		s.log.Error("read refresh token failed", "err", err)
		return tokenResponse{}, internalError()
	}
	if old.Kind != store.KindRefresh || !old.Valid(s.now()) || old.UserID == "" {
		return tokenResponse{}, invalid
	}
	scope := old.Scope
	if tr.Scope != "" {
		// RFC 6749 §6: a narrower scope may be asked for.
		asked, aerr := parseScope(tr.Scope, strings.Fields(old.Scope))
		if aerr != nil {
			return tokenResponse{}, aerr
		}
		scope = asked
	}
	if aerr := s.recheckMembership(ctx, old.UserID, old.AccountID, scope); aerr != nil {
		return tokenResponse{}, aerr
	}
	access, refresh, toks := s.newUserTokens(old.UserID, old.AccountID, scope, old.ClientID, "")
	if err := s.store.RotateRefresh(ctx, oldHash, toks...); errors.Is(err, store.ErrUsed) {
		return tokenResponse{}, invalid
	} else if err != nil {
		s.log.Error("rotate refresh token failed", "err", err)
		return tokenResponse{}, internalError()
	}
	s.maybePurge(ctx)
	return s.userTokenResponse(access, refresh, scope), nil
}

func (s *Server) grantClientCredentials(ctx context.Context, tr tokenRequest) (tokenResponse, *apiError) {
	if tr.ClientID == "" || tr.ClientSecret == "" {
		return tokenResponse{}, &apiError{http.StatusUnauthorized, errInvalidClient, "The client_credentials grant needs the system's client_id and client_secret (HTTP Basic auth or form)."}
	}
	if tr.Scope != "" {
		if _, aerr := parseScope(tr.Scope, []string{ScopeSystem}); aerr != nil {
			return tokenResponse{}, aerr
		}
	}
	bad := &apiError{http.StatusUnauthorized, errInvalidClient, "The system's client credentials are not valid (unknown client or wrong secret). Link the system again."}
	sys, err := s.store.SystemByClientID(ctx, tr.ClientID)
	if errors.Is(err, store.ErrNotFound) {
		equalHashes(hashSecret(tr.ClientSecret), hashSecret("")) // same work as a known client
		return tokenResponse{}, bad
	}
	if err != nil {
		s.log.Error("read system failed", "err", err)
		return tokenResponse{}, internalError()
	}
	if !equalHashes(hashSecret(tr.ClientSecret), sys.SecretHash) {
		return tokenResponse{}, bad
	}
	if sys.Revoked() {
		return tokenResponse{}, &apiError{http.StatusUnauthorized, cloudapi.ErrSystemRevoked, msgRevoked(sys)}
	}
	now := s.now()
	access := newSecret(32)
	tok := store.Token{Hash: hashSecret(access), Kind: store.KindAccess, ClientID: sys.ClientID, SystemID: sys.ID,
		AccountID: sys.Account.ID, Scope: ScopeSystem, CreatedAt: now, ExpiresAt: now.Add(s.cfg.AccessTokenTTL)}
	if err := s.store.InsertTokens(ctx, tok); err != nil {
		s.log.Error("store token failed", "err", err)
		return tokenResponse{}, internalError()
	}
	s.maybePurge(ctx)
	return tokenResponse{AccessToken: access, TokenType: "Bearer", ExpiresIn: int64(s.cfg.AccessTokenTTL.Seconds()), Scope: ScopeSystem}, nil
}

func (s *Server) handleRevoke(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		writeError(w, &apiError{http.StatusMethodNotAllowed, cloudapi.ErrBadRequest, "The revocation endpoint takes POST requests only."})
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, maxBodyBytes)
	form, aerr := parseForm(r)
	if aerr != nil {
		writeError(w, aerr)
		return
	}
	token := form.Get("token")
	if token == "" {
		writeError(w, badRequest("The token parameter is missing."))
		return
	}
	if hint := form.Get("token_type_hint"); hint != "" && hint != "access_token" && hint != "refresh_token" {
		writeError(w, &apiError{http.StatusBadRequest, "unsupported_token_type", fmt.Sprintf("The token_type_hint %q is unknown; use access_token or refresh_token.", hint)})
		return
	}
	found, err := s.store.RevokeToken(r.Context(), hashSecret(token))
	if err != nil {
		s.log.Error("revoke token failed", "err", err)
		writeError(w, internalError())
		return
	}
	s.log.Debug("token revocation", "known", found)
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusOK)
}
