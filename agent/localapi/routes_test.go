package localapi

import (
	"context"
	"encoding/json"
	"log/slog"
	"net/http"

	"github.com/cloudlink/cld/agent/api"
)

// NewHandler registers the fake's methods on a Router with the patterns of
// agent/api, as the daemon's parts register theirs, and returns its handler.
func NewHandler(f *fake, log *slog.Logger) http.Handler {
	rt := NewRouter(log)
	rt.Get(api.RouteStatus, func(ctx context.Context) any { return f.Status(ctx) })
	rt.Get(api.RouteVersion, func(ctx context.Context) any { return f.Version(ctx) })
	Post(rt, api.RouteLink, func(ctx context.Context, req api.LinkRequest) (any, error) { return f.Link(ctx, req) })
	Post(rt, api.RouteBrowserLink, func(ctx context.Context, req api.BrowserLinkRequest) (any, error) { return f.BrowserLink(ctx, req) })
	Post(rt, api.RouteBrowserCallback, func(ctx context.Context, req api.BrowserCallback) (any, error) {
		return f.BrowserCallback(ctx, req)
	})
	rt.Action(api.RouteUnlink, func(r *http.Request) (any, error) { return f.Unlink(r.Context()) })
	Post(rt, api.RouteDashboardUser, func(ctx context.Context, req api.DashboardUser) (any, error) {
		return nil, f.SetDashboardUser(ctx, req)
	})
	Post(rt, api.RouteDashboardLogin, func(ctx context.Context, req api.DashboardLogin) (any, error) {
		return nil, f.DashboardLogin(ctx, req)
	})
	rt.Get(api.RouteDoctor, func(ctx context.Context) any { return f.Doctor(ctx) })
	rt.Get(api.RouteInventory, func(ctx context.Context) any { return f.Inventory(ctx) })
	rt.Document(api.RouteInventoryReport, func(ctx context.Context) (json.RawMessage, error) { return f.InventoryPreview(ctx) })
	rt.Action(api.RouteInventorySubmit, func(r *http.Request) (any, error) { return f.SubmitInventory(r.Context()) })
	rt.Get(api.RouteTunnels, func(ctx context.Context) any { return f.Tunnels(ctx) })
	rt.Action(api.RouteTunnelStart, func(r *http.Request) (any, error) { return f.StartTunnel(r.Context(), r.PathValue("id")) })
	rt.Action(api.RouteTunnelStop, func(r *http.Request) (any, error) { return f.StopTunnel(r.Context(), r.PathValue("id")) })
	rt.Action(api.RouteTunnelsStartAll, func(r *http.Request) (any, error) { return f.StartAllTunnels(r.Context()) })
	rt.Action(api.RouteTunnelsStopAll, func(r *http.Request) (any, error) { return f.StopAllTunnels(r.Context()) })
	return rt.Handler()
}
