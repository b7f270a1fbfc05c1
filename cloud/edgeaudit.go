package cloud

import "context"

// The portal user behind a proxied request, for the stream header the edge
// signs (tunnel.Edge.OpenAs): the daemon records it in its access audit.

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
