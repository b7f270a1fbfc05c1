package cloud

import (
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"net/netip"
	"net/url"
	"strconv"
	"strings"

	"github.com/cloudlink/cld/cloud/cloudapi"
	"github.com/cloudlink/cld/cloud/store"
)

// authRequest is a checked OAuth authorization request.
type authRequest struct {
	ResponseType  string
	ClientID      string
	RedirectURI   string
	State         string
	CodeChallenge string
	Method        string
	Scope         string
	AccountID     int64
}

const maxStateLen = 1024

// parseAuthRequest checks an authorization request (RFC 6749 §4.1.1, RFC
// 7636). pageErr is set when the client or redirect URI is invalid: the
// error must be shown, never redirected. redirErr is set for the other
// errors, which go back to the (valid) redirect URI.
func parseAuthRequest(v url.Values) (req authRequest, pageErr string, redirErr *apiError) {
	for _, k := range []string{"client_id", "redirect_uri"} {
		if len(v[k]) > 1 {
			return req, fmt.Sprintf("The sign-in request has the parameter %s more than once. Start the link again from the CloudLink daemon.", k), nil
		}
	}
	req.ClientID = v.Get("client_id")
	req.RedirectURI = v.Get("redirect_uri")
	if req.ClientID != cloudapi.ClientIDDaemon {
		return req, fmt.Sprintf("The application asking you to sign in is unknown (client_id %q). Start the link again from the CloudLink daemon.", req.ClientID), nil
	}
	if msg := checkRedirectURI(req.RedirectURI); msg != "" {
		return req, msg, nil
	}
	if len(v["state"]) == 1 && len(v.Get("state")) <= maxStateLen {
		req.State = v.Get("state")
	}
	for k, vs := range v {
		if len(vs) > 1 {
			return req, "", badRequest("The parameter %s is given more than once.", k)
		}
		if len(vs[0]) > maxParamLen {
			return req, "", badRequest("The parameter %s is longer than %d characters.", k, maxParamLen)
		}
	}
	if len(v.Get("state")) > maxStateLen {
		return req, "", badRequest("The state parameter is longer than %d characters.", maxStateLen)
	}
	req.ResponseType = v.Get("response_type")
	if req.ResponseType != "code" {
		return req, "", &apiError{http.StatusBadRequest, "unsupported_response_type", "Only response_type=code is supported."}
	}
	req.Method = v.Get("code_challenge_method")
	req.CodeChallenge = v.Get("code_challenge")
	switch req.Method {
	case "S256":
	case "", "plain":
		return req, "", badRequest("PKCE with code_challenge_method=S256 is required; the plain method is not accepted.")
	default:
		return req, "", badRequest("The code_challenge_method %q is not supported; use S256.", req.Method)
	}
	if req.CodeChallenge == "" {
		return req, "", badRequest("The code_challenge parameter is missing (PKCE S256 is required).")
	}
	if b, err := base64.RawURLEncoding.DecodeString(req.CodeChallenge); err != nil || len(b) != 32 {
		return req, "", badRequest("The code_challenge must be the base64url SHA-256 of the code verifier (43 characters).")
	}
	scope, aerr := parseScope(v.Get("scope"), userScopes)
	if aerr != nil {
		return req, "", aerr
	}
	req.Scope = scope
	if a := v.Get(cloudapi.ParamAccount); a != "" {
		id, err := parseAccountID(a)
		if err != nil {
			return req, "", badRequest("The %s parameter %s", cloudapi.ParamAccount, err)
		}
		req.AccountID = id
	}
	return req, "", nil
}

// checkRedirectURI returns why a redirect URI is refused, or "".
func checkRedirectURI(raw string) string {
	const again = " Start the link again from the CloudLink daemon."
	if raw == "" {
		return "The sign-in request has no redirect_uri." + again
	}
	if len(raw) > 2048 {
		return "The redirect_uri is too long." + again
	}
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.Opaque != "" {
		return fmt.Sprintf("The redirect_uri %q is not an http or https URL.", raw) + again
	}
	if u.User != nil || u.Fragment != "" || strings.Contains(raw, "#") {
		return fmt.Sprintf("The redirect_uri %q must not have user information or a fragment.", raw) + again
	}
	if !strings.HasSuffix(u.Path, cloudapi.RedirectPathSuffix) {
		return fmt.Sprintf("The redirect_uri %q does not lead back to a CloudLink daemon (its path must end with %s).", raw, cloudapi.RedirectPathSuffix) + again
	}
	return ""
}

func (req authRequest) values() url.Values {
	v := url.Values{}
	v.Set("response_type", req.ResponseType)
	v.Set("client_id", req.ClientID)
	v.Set("redirect_uri", req.RedirectURI)
	if req.State != "" {
		v.Set("state", req.State)
	}
	v.Set("code_challenge", req.CodeChallenge)
	v.Set("code_challenge_method", req.Method)
	if req.Scope != "" {
		v.Set("scope", req.Scope)
	}
	if req.AccountID != 0 {
		v.Set(cloudapi.ParamAccount, strconv.FormatInt(req.AccountID, 10))
	}
	return v
}

// hidden carries the request through the sign-in form.
func (req authRequest) hidden() []hiddenField {
	var out []hiddenField
	for _, k := range []string{"response_type", "client_id", "redirect_uri", "state", "code_challenge", "code_challenge_method", "scope", cloudapi.ParamAccount} {
		if v := req.values().Get(k); v != "" {
			out = append(out, hiddenField{k, v})
		}
	}
	return out
}

// binding ties a pending sign-in to this request.
func (req authRequest) binding() string {
	return "authorize:" + hashSecret(req.values().Encode())
}

// redirectWith sends the browser to the redirect URI with params added.
func redirectWith(w http.ResponseWriter, r *http.Request, redirectURI string, params url.Values) {
	u, err := url.Parse(redirectURI)
	if err != nil { // checked before; never happens
		http.Error(w, "bad redirect_uri", http.StatusBadRequest)
		return
	}
	q := u.Query()
	for k, vs := range params {
		q[k] = vs
	}
	u.RawQuery = q.Encode()
	http.Redirect(w, r, u.String(), http.StatusFound)
}

func (req authRequest) redirectError(w http.ResponseWriter, r *http.Request, e *apiError) {
	p := url.Values{"error": {e.Code}, "error_description": {e.Description}}
	if req.State != "" {
		p.Set("state", req.State)
	}
	redirectWith(w, r, req.RedirectURI, p)
}

func (s *Server) handleAuthorize(w http.ResponseWriter, r *http.Request) {
	v := r.URL.Query()
	if r.Method == http.MethodPost {
		r.Body = http.MaxBytesReader(w, r.Body, maxBodyBytes)
		if err := r.ParseForm(); err != nil {
			s.errorPage(w, r, http.StatusBadRequest, "Sign-in failed", "The sign-in form could not be read. Start the link again from the CloudLink daemon.")
			return
		}
		v = r.PostForm
		// The form's own fields are not part of the OAuth request.
		v = cloneWithout(v, "email", "password", "pending", "account", "action", "confirm")
	}
	req, pageErr, redirErr := parseAuthRequest(v)
	if pageErr != "" {
		s.errorPage(w, r, http.StatusBadRequest, "Sign-in request refused", pageErr)
		return
	}
	if redirErr != nil {
		req.redirectError(w, r, redirErr)
		return
	}
	lead := "Sign in with your CloudLink account."
	if hasScope(req.Scope, cloudapi.ScopeRegister) {
		lead = "Link a system to CloudLink: sign in with a CloudLink account that has administrator rights."
	}
	if u, err := url.Parse(req.RedirectURI); err == nil {
		lead += " You will then return to " + u.Host + "."
	}
	f := flow{
		page: pageData{Title: "Sign in", Heading: "Sign in to CloudLink", Lead: lead, Narrow: true,
			Form: &signInForm{Action: cloudapi.PathAuthorize, Hidden: req.hidden(), Cancel: true,
				StartOver: cloudapi.PathAuthorize + "?" + req.values().Encode()}},
		binding:      req.binding(),
		accountID:    req.AccountID,
		requireAdmin: hasScope(req.Scope, cloudapi.ScopeRegister),
	}
	f.done = func(w http.ResponseWriter, r *http.Request, user store.User, m store.Membership) {
		s.codeOrConfirm(w, r, f, req, user, m)
	}
	if r.Method != http.MethodPost {
		s.render(w, http.StatusOK, "signin.html", f.page)
		return
	}
	if r.PostForm.Get("action") == "cancel" {
		if c := r.PostForm.Get("confirm"); c != "" {
			s.store.DeleteSession(r.Context(), hashSecret(c))
		}
		req.redirectError(w, r, &apiError{http.StatusBadRequest, errAccessDenied, "The sign-in was cancelled."})
		return
	}
	if c := r.PostForm.Get("confirm"); c != "" {
		s.confirmRedirect(w, r, f, req, c)
		return
	}
	s.signIn(w, r, f)
}

// isLoopbackRedirect reports whether a redirect URI leads to the browser's
// own machine (a loopback address or localhost): a dashboard opened on the
// host itself, which gets its code at once. Any other host is named on a
// confirmation step first (confirmStep).
func isLoopbackRedirect(raw string) bool {
	u, err := url.Parse(raw)
	if err != nil {
		return false
	}
	h := strings.TrimSuffix(strings.ToLower(u.Hostname()), ".")
	if h == "localhost" {
		return true
	}
	ip, err := netip.ParseAddr(h)
	return err == nil && ip.Unmap().IsLoopback()
}

// dashboardOf is the dashboard a redirect URI leads back to, as the
// confirmation step names it: the URI without its callback path.
func dashboardOf(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return raw
	}
	return u.Scheme + "://" + u.Host + strings.TrimSuffix(u.EscapedPath(), cloudapi.RedirectPathSuffix)
}

// confirmBinding ties a confirmation to the request (with its redirect
// URI) it was shown for.
func (req authRequest) confirmBinding() string { return "confirm " + req.binding() }

// codeOrConfirm ends a verified sign-in: the code at once for a loopback
// redirect, else the confirmation step that names the host the code
// would go to.
func (s *Server) codeOrConfirm(w http.ResponseWriter, r *http.Request, f flow, req authRequest, user store.User, m store.Membership) {
	if isLoopbackRedirect(req.RedirectURI) {
		s.issueCode(w, r, req, user, m)
		return
	}
	id := newSecret(32)
	now := s.now()
	if err := s.store.InsertSession(r.Context(), store.Session{Hash: hashSecret(id), Kind: store.SessionPending, UserID: user.ID,
		AccountID: m.Account.ID, Binding: req.confirmBinding(), CreatedAt: now, ExpiresAt: now.Add(s.cfg.PendingTTL)}); err != nil {
		s.log.Error("store link confirmation failed", "err", err)
		s.errorPage(w, r, http.StatusInternalServerError, "Sign-in failed", "The cloud could not complete the sign-in. Try again later.")
		return
	}
	f.page.Heading = "Confirm the system"
	f.page.Lead = ""
	f.page.Error = ""
	f.page.Form.Step = "confirm"
	f.page.Form.Email = user.Email
	f.page.Form.Pending = id
	f.page.Form.Dashboard = dashboardOf(req.RedirectURI)
	f.page.Form.AccountName = m.Account.Name
	f.page.Form.AccountID = m.Account.ID
	s.render(w, http.StatusOK, "signin.html", f.page)
}

// confirmRedirect is the POSTed confirmation step: the code goes to the
// redirect URI of the request the confirmation was made for.
func (s *Server) confirmRedirect(w http.ResponseWriter, r *http.Request, f flow, req authRequest, confirm string) {
	ctx := r.Context()
	expired := func() {
		f.page.Error = "Your sign-in has expired. Sign in again."
		s.render(w, http.StatusOK, "signin.html", f.page)
	}
	if r.PostForm.Get("action") != "confirm" || len(confirm) > 100 {
		expired()
		return
	}
	// Checked before it is used up, so that a request with other
	// parameters cannot spend the confirmation of the right one.
	hash := hashSecret(confirm)
	se, err := s.store.Session(ctx, hash, store.SessionPending, s.now())
	if err == nil && se.Binding == req.confirmBinding() && se.AccountID != 0 {
		se, err = s.store.ConsumeSession(ctx, hash, store.SessionPending, s.now())
	} else if err == nil {
		err = store.ErrNotFound
	}
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		s.log.Error("read link confirmation failed", "err", err)
		s.errorPage(w, r, http.StatusInternalServerError, "Sign-in failed", "The cloud could not complete the sign-in. Try again later.")
		return
	}
	if err != nil || se.Binding != req.confirmBinding() {
		expired()
		return
	}
	user, err := s.store.UserByID(ctx, se.UserID)
	if err != nil {
		expired()
		return
	}
	m, err := s.store.Membership(ctx, user.ID, se.AccountID)
	if err != nil || (f.requireAdmin && !m.IsAdmin()) {
		expired()
		return
	}
	s.log.Info("link to a non-local dashboard confirmed", "user_id", user.ID, "account_id", se.AccountID, "dashboard", dashboardOf(req.RedirectURI))
	s.issueCode(w, r, req, user, m)
}

func cloneWithout(v url.Values, keys ...string) url.Values {
	out := url.Values{}
	for k, vs := range v {
		out[k] = vs
	}
	for _, k := range keys {
		delete(out, k)
	}
	return out
}

func (s *Server) issueCode(w http.ResponseWriter, r *http.Request, req authRequest, user store.User, m store.Membership) {
	now := s.now()
	code := newSecret(32)
	err := s.store.InsertCode(r.Context(), store.Code{
		Hash: hashSecret(code), ClientID: req.ClientID, RedirectURI: req.RedirectURI, CodeChallenge: req.CodeChallenge,
		UserID: user.ID, AccountID: m.Account.ID, Scope: req.Scope, CreatedAt: now, ExpiresAt: now.Add(s.cfg.CodeTTL),
	})
	if err != nil {
		s.log.Error("store authorization code failed", "err", err)
		s.errorPage(w, r, http.StatusInternalServerError, "Sign-in failed", "The cloud could not complete the sign-in. Try again later.")
		return
	}
	s.log.Info("authorization code issued", "user_id", user.ID, "account_id", m.Account.ID, "scope", req.Scope)
	p := url.Values{"code": {code}}
	if req.State != "" {
		p.Set("state", req.State)
	}
	redirectWith(w, r, req.RedirectURI, p)
}

// flow is one use of the two-step sign-in (e-mail and password, then the
// account number when the e-mail belongs to several accounts).
type flow struct {
	page      pageData // with Form set
	binding   string   // ties a pending sign-in to this use
	accountID int64    // an account asked for up front, or 0
	// preferAccount, when the user is a member of it, is chosen without
	// asking (the tunnel's account on the way to a tunnel).
	preferAccount int64
	requireAdmin  bool // the user must be ACCOUNT_ADMIN of the account
	done          func(http.ResponseWriter, *http.Request, store.User, store.Membership)
}

// signIn runs the POSTed step of a sign-in flow.
func (s *Server) signIn(w http.ResponseWriter, r *http.Request, f flow) {
	ctx := r.Context()
	if pending := r.PostForm.Get("pending"); pending != "" {
		se, err := s.store.Session(ctx, hashSecret(pending), store.SessionPending, s.now())
		if err != nil && !errors.Is(err, store.ErrNotFound) {
			s.log.Error("read pending sign-in failed", "err", err)
			s.errorPage(w, r, http.StatusInternalServerError, "Sign-in failed", "The cloud could not complete the sign-in. Try again later.")
			return
		}
		if err != nil || se.Binding != f.binding {
			f.page.Error = "Your sign-in has expired. Sign in again."
			s.render(w, http.StatusOK, "signin.html", f.page)
			return
		}
		user, err := s.store.UserByID(ctx, se.UserID)
		if err != nil {
			s.store.DeleteSession(ctx, se.Hash)
			f.page.Error = "Your sign-in has expired. Sign in again."
			s.render(w, http.StatusOK, "signin.html", f.page)
			return
		}
		f.page.Form.AccountValue = strings.TrimSpace(r.PostForm.Get("account"))
		id, perr := parseAccountID(f.page.Form.AccountValue)
		if perr != nil {
			s.accountStep(w, r, f, user, pending, "Enter the account number, such as 100001.")
			return
		}
		s.withAccount(w, r, f, user, id, pending)
		return
	}

	email := strings.TrimSpace(r.PostForm.Get("email"))
	password := r.PostForm.Get("password")
	f.page.Form.Email = email
	if email == "" || password == "" {
		f.page.Error = "Enter your e-mail and password."
		s.render(w, http.StatusOK, "signin.html", f.page)
		return
	}
	if len(password) > 1024 {
		password = password[:1024]
	}
	user, err := s.checkPassword(ctx, r.RemoteAddr, email, password)
	if errors.Is(err, errWrongPassword) {
		f.page.Error = msgWrongPassword
		s.render(w, http.StatusOK, "signin.html", f.page)
		return
	}
	var rl *rateLimitError
	if errors.As(err, &rl) {
		retryAfter(w, err)
		f.page.Error = rl.Error()
		s.render(w, http.StatusTooManyRequests, "signin.html", f.page)
		return
	}
	if err != nil {
		s.errorPage(w, r, http.StatusInternalServerError, "Sign-in failed", "The cloud could not complete the sign-in. Try again later.")
		return
	}
	s.withAccount(w, r, f, user, f.accountID, "")
}

// withAccount finishes a verified sign-in with the chosen account (0: none
// chosen yet), or asks for the account number.
func (s *Server) withAccount(w http.ResponseWriter, r *http.Request, f flow, user store.User, accountID int64, pending string) {
	ctx := r.Context()
	f.page.Form.Email = user.Email
	ms, err := s.store.Memberships(ctx, user.ID)
	if err != nil {
		s.log.Error("read memberships failed", "err", err)
		s.errorPage(w, r, http.StatusInternalServerError, "Sign-in failed", "The cloud could not complete the sign-in. Try again later.")
		return
	}
	dropPending := func() {
		if pending != "" {
			s.store.DeleteSession(ctx, hashSecret(pending))
		}
	}
	if len(ms) == 0 {
		dropPending()
		f.page.Error = msgNoAccounts(user.Email)
		s.render(w, http.StatusOK, "signin.html", f.page)
		return
	}
	if accountID == 0 && f.preferAccount != 0 {
		for _, x := range ms {
			if x.Account.ID == f.preferAccount {
				accountID = x.Account.ID
			}
		}
	}
	var m *store.Membership
	switch {
	case accountID != 0:
		for i := range ms {
			if ms[i].Account.ID == accountID {
				m = &ms[i]
			}
		}
		if m == nil {
			s.accountStep(w, r, f, user, pending, msgUnknownAccount(user.Email, accountID, ms))
			return
		}
	case len(ms) == 1:
		m = &ms[0]
	default:
		s.accountStep(w, r, f, user, pending, "")
		return
	}
	if f.requireAdmin && !m.IsAdmin() {
		msg := msgNotAdmin(user.Email, m.Account)
		if len(ms) > 1 {
			s.accountStep(w, r, f, user, pending, msg)
			return
		}
		dropPending()
		f.page.Error = msg
		s.render(w, http.StatusOK, "signin.html", f.page)
		return
	}
	dropPending()
	f.done(w, r, user, *m)
}

// accountStep asks for the account number, keeping the verified sign-in in
// a pending record (created on the first call).
func (s *Server) accountStep(w http.ResponseWriter, r *http.Request, f flow, user store.User, pending, errMsg string) {
	ctx := r.Context()
	if pending == "" {
		pending = newSecret(32)
		now := s.now()
		if err := s.store.InsertSession(ctx, store.Session{Hash: hashSecret(pending), Kind: store.SessionPending,
			UserID: user.ID, Binding: f.binding, CreatedAt: now, ExpiresAt: now.Add(s.cfg.PendingTTL)}); err != nil {
			s.log.Error("store pending sign-in failed", "err", err)
			s.errorPage(w, r, http.StatusInternalServerError, "Sign-in failed", "The cloud could not complete the sign-in. Try again later.")
			return
		}
	}
	ms, err := s.store.Memberships(ctx, user.ID)
	if err != nil {
		s.log.Error("read memberships failed", "err", err)
	}
	f.page.Heading = "Choose the account"
	f.page.Error = errMsg
	f.page.Form.Step = "account"
	f.page.Form.Email = user.Email
	f.page.Form.Pending = pending
	f.page.Form.Accounts = ms
	s.render(w, http.StatusOK, "signin.html", f.page)
}
