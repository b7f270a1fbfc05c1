// Package e2e holds the dashboard's end-to-end tests. They build the real
// cld, cld-cloud and cld-simhost binaries (with the race detector; the
// tunnel test, which measures a download, optimized as shipped), run the
// reference cloud (HTTPS with its own CA, and its tunnel edge) and the
// daemon as processes, mount the dashboard behind a reverse proxy under
// /cld, and drive headless Chromium:
//
//   - TestDashboardEndToEnd: sign-in, linking with the cloud's sign-in
//     page, the CloudLink Daemon Update section (Reschedule, Pause and
//     Resume, Check now, each checked against `cld update status`), the
//     debug view, disconnecting.
//   - TestTunnelEndToEnd: a generic platform whose tunnels lead to the
//     simulated host's UIs; a tunnel started on the dashboard, its public
//     URL opened from the debug view (portal sign-in, the UI's own sign-in
//     and redirect, a WebSocket echo), a 1 GiB download through it checked
//     by SHA-256 (64 MiB with -short; CLD_E2E_DOWNLOAD_BYTES overrides),
//     and the edge's page for a stopped tunnel.
//   - TestHealthEndToEnd: the cloud's clock 44 s ahead: the Warnings section
//     shows "Clock drift detected: 44s" with its remedy, the Checks page the
//     doctor's findings; 50 s set on the running cloud fails the check, 0
//     clears the warning.
//   - TestUpdateEndToEnd: the self-update. cld built twice with a test
//     release key (`cld-cloud release keygen`), as 0.1.0+1 (the stack's
//     daemon and CLI, linked through a proxy with a bandwidth cap so the
//     download takes seconds) and 0.2.0+2 (published in the stack's
//     cloud). Check now shows 0.2.0+2 with Update now; Update now shows
//     the state and progress, changed by live.js without a reload, until
//     the daemon restarts (re-exec) and the page goes to the sign-in by
//     itself; signed in again, 0.2.0+2 on trial; confirmed after the
//     launcher's 15 s (its log), the sign-in again, then About shows
//     0.2.0+2 and Last update "updated from 0.1.0+1", as `cld status
//     --json` does (watched throughout: v1 never comes back).
//   - TestGatewayEndToEnd: the daemon with host_root: a tree holding one
//     CloudLink Gateway instance (VERSION, etc/clgw.conf with a free
//     REST_PORT, bin/clgw-core built from platforms/gateway/testdata/fakegw,
//     no systemd unit, so the daemon's supervisor runs it). The CloudLink
//     Gateway Integration section, between the update section and Tunnels,
//     shows it installed and running and links to its status page (the
//     host's address, then the public URL of the started clgw-rest
//     tunnel); Stop, Start and Restart, each checked against `cld status
//     --json` (gateway installed, instances, status, version) and the
//     core's process; the tunnel list holds clgw-rest; the section, live
//     while the core is not healthy yet, shows it healthy without a reload.
//   - TestDashboardBehindApache, TestDashboardBehindNginx: Debian's apache2
//     and nginx configured from packaging/apache/cld.conf and
//     packaging/nginx/cld.conf (Basic authentication, the user and the
//     shared secret passed on) in front of a daemon with dashboard.auth
//     mode proxy and base_path /cld. The daemon's own address refuses a
//     forged user header without the secret; the web server asks for
//     credentials and drops a client's own user, secret and X-Forwarded-*
//     headers. In Chromium, signed in by the web server: its user shown,
//     every URL of every page under /cld, the Gateway section's live
//     update fetched through the web server without a reload, the debug
//     view and back, linking (the callback under /cld), a tunnel started
//     and stopped, disconnecting; the web server's access log holds only
//     requests under /cld. Skipped when the server is not installed.
//
// The package has no code besides its tests.
package e2e
