package localapi

import (
	"context"
	"errors"
	"fmt"
	"mime"
	"net/http"
	"strconv"
	"strings"

	"github.com/cloudlink/cld/agent/api"
)

// RemotePrefix is the path under which the dashboard's TCP listener serves
// the local API (e.g. https://<host>/cld/api/v1/status behind a host UI).
const RemotePrefix = "/api"

// RemoteChallenge is the WWW-Authenticate of the TCP local API's 401: an
// auth scheme of its own, so that a browser neither prompts for a password
// nor caches one for the host (a cached Basic credential would ride on
// every cross-site request). Clients send `Authorization: Basic` without
// waiting for a challenge (curl -u, Go's SetBasicAuth).
const RemoteChallenge = `CLD realm="cld local API"`

// NewRemoteHandler serves the local API's one route table over TCP, for
// programs on other hosts such as a provisioning manager. Before any
// credential is checked, a request is refused when a browser says it is
// cross-site (http.CrossOriginProtection: Sec-Fetch-Site, else Origin
// against Host) and, when it changes something (any method but GET, HEAD
// and OPTIONS), unless it carries a JSON body (Content-Type
// application/json) or no body at all; so no form or no-cors fetch of
// another site can reach a route. Every request must then carry HTTP Basic
// credentials of a dashboard account (`cld dashboard-user`), sent
// preemptively: the 401 names no Basic challenge. The login limits wrong
// passwords per user name and per client (the TCP peer) and the checks
// run at once; its refusal is a 429 with Retry-After. Paths are those of the
// unix socket with RemotePrefix in front.
func NewRemoteHandler(login func(context.Context, api.DashboardLogin) error, apiHandler http.Handler) http.Handler {
	inner := http.StripPrefix(RemotePrefix, apiHandler)
	authed := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !jsonOrNoBody(w, r) {
			return
		}
		user, pass, ok := r.BasicAuth()
		if !ok || strings.ContainsAny(user, "\r\n") {
			w.Header().Set("WWW-Authenticate", RemoteChallenge)
			writeError(w, http.StatusUnauthorized, &api.Error{Code: api.CodeUnauthorized,
				Message: "The local API over TCP needs the user name and password of a dashboard account with every request (Authorization: Basic, e.g. curl -u USER); set one with `cld dashboard-user`."})
			return
		}
		if err := login(r.Context(), api.DashboardLogin{Username: user, Password: pass, Client: r.RemoteAddr}); err != nil {
			if e, ok := errors.AsType[*api.Error](err); ok && e.Code == api.CodeRateLimited {
				w.Header().Set("Retry-After", strconv.Itoa(max(1, e.RetryAfter)))
				writeError(w, http.StatusTooManyRequests, e)
				return
			}
			w.Header().Set("WWW-Authenticate", RemoteChallenge)
			writeError(w, http.StatusUnauthorized, &api.Error{Code: api.CodeUnauthorized, Message: "The user name or password is wrong."})
			return
		}
		inner.ServeHTTP(w, r)
	})
	cop := http.NewCrossOriginProtection()
	cop.SetDenyHandler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		writeError(w, http.StatusForbidden, &api.Error{Code: api.CodeBadRequest,
			Message: "The local API over TCP refuses cross-origin requests from browsers; call it from a program (no Origin or Sec-Fetch-Site header) or from a page of this host."})
	}))
	return cop.Handler(authed)
}

// jsonOrNoBody lets a request through when its method is safe (GET, HEAD,
// OPTIONS) or it has a JSON body or none; otherwise it answers 415 with
// what to send and returns false.
func jsonOrNoBody(w http.ResponseWriter, r *http.Request) bool {
	switch r.Method {
	case http.MethodGet, http.MethodHead, http.MethodOptions:
		return true
	}
	ct := r.Header.Get("Content-Type")
	if ct == "" && r.ContentLength == 0 {
		return true
	}
	if mt, _, err := mime.ParseMediaType(ct); err == nil && mt == "application/json" {
		return true
	}
	got := "a body without a Content-Type"
	if ct != "" {
		got = fmt.Sprintf("Content-Type %q", ct)
	}
	writeError(w, http.StatusUnsupportedMediaType, &api.Error{Code: api.CodeBadRequest,
		Message: fmt.Sprintf("Over TCP, a %s to the local API takes a JSON body with Content-Type: application/json, or no body and no Content-Type; it got %s.", r.Method, got)})
	return false
}
