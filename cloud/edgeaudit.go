package cloud

import (
	"context"
	"net/http"
)

// The portal user behind a proxied request, for the stream header the edge
// signs (tunnel.Edge.OpenAs): the daemon records it in its access audit.

// vouchedUser returns the ID of the user whose edge session let the request
// through (validSession's test), or "" when none does.
func (e *edge) vouchedUser(r *http.Request, hostname string, rt route) string {
	for _, c := range r.CookiesNamed(edgeCookie) {
		if c.Value == "" || len(c.Value) > 100 {
			continue
		}
		se, ok, err := e.session(r.Context(), hashSecret(c.Value))
		if err == nil && ok && se.Binding == hostname && se.AccountID == rt.system.Account.ID && e.s.now().Before(se.ExpiresAt) {
			return se.UserID
		}
	}
	return ""
}

// userName is how the stream header names a user: the e-mail address,
// else the user ID.
func (e *edge) userName(ctx context.Context, userID string) string {
	if userID == "" {
		return ""
	}
	u, err := e.s.store.UserByID(ctx, userID)
	if err != nil || u.Email == "" {
		return userID
	}
	return u.Email
}
