package localapi

import (
	"context"
	"net/http"
	"strings"

	"github.com/cloudlink/cld/agent/api"
)

// RemotePrefix is the path under which the dashboard's TCP listener serves
// the local API (e.g. https://<host>/cld/api/v1/status behind a host UI).
const RemotePrefix = "/api"

// NewRemoteHandler serves the local API's one route table over TCP, for
// programs on other hosts such as a provisioning manager: every request
// must carry HTTP Basic credentials of a dashboard account (`cld
// dashboard-user`). Requests carry no cookies, so cross-site forms cannot
// use it. Paths are those of the unix socket with RemotePrefix in front.
func NewRemoteHandler(login func(context.Context, api.DashboardLogin) error, apiHandler http.Handler) http.Handler {
	inner := http.StripPrefix(RemotePrefix, apiHandler)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		user, pass, ok := r.BasicAuth()
		if !ok || strings.ContainsAny(user, "\r\n") {
			w.Header().Set("WWW-Authenticate", `Basic realm="cld", charset="UTF-8"`)
			writeError(w, http.StatusUnauthorized, &api.Error{Code: api.CodeUnauthorized,
				Message: "The local API over TCP needs the user name and password of a dashboard account (HTTP Basic); set one with `cld dashboard-user`."})
			return
		}
		if err := login(r.Context(), api.DashboardLogin{Username: user, Password: pass}); err != nil {
			w.Header().Set("WWW-Authenticate", `Basic realm="cld", charset="UTF-8"`)
			writeError(w, http.StatusUnauthorized, &api.Error{Code: api.CodeUnauthorized, Message: "The user name or password is wrong."})
			return
		}
		inner.ServeHTTP(w, r)
	})
}
