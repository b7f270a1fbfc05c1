// Package e2e holds the dashboard's end-to-end test: it builds the real cld
// and cld-cloud binaries, runs the reference cloud (HTTPS with its own CA)
// and the daemon as processes, mounts the dashboard behind a reverse proxy
// under /cld, and drives headless Chromium through sign-in, linking with the
// cloud's sign-in page, and disconnecting.
//
// The package has no code besides its test.
package e2e
