// Package doctor runs the daemon's prerequisite checks (`cld doctor`, the
// dashboard's Checks page): the vendor guide's prerequisites and
// troubleshooting steps turned into checks that each say pass, warn, fail or
// skip, what was found and what to do.
//
// Checks are a plain list of Check values, so that later capabilities (more
// than one gateway instance installed, an unsupported platform version, a
// failed update) plug in by appending theirs. The generic checks of this
// package take what they need as arguments; the agent assembles the list.
package doctor

import (
	"bufio"
	"context"
	"crypto/tls"
	"encoding/base64"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/cloudlink/cld/agent/api"
)

// Check is one check.
type Check struct {
	ID    string // e.g. "dns"
	Title string // e.g. "DNS resolves the cloud's domain"
	// Run does the check; it should end when ctx does.
	Run func(ctx context.Context) Result
}

// Result is what a check found.
type Result struct {
	Status string // api.Check*
	Detail string
	Remedy string
}

// Pass, Warn, Fail and Skip build results.
func Pass(detail string) Result { return Result{Status: api.CheckPass, Detail: detail} }
func Warn(detail, remedy string) Result {
	return Result{Status: api.CheckWarn, Detail: detail, Remedy: remedy}
}
func Fail(detail, remedy string) Result {
	return Result{Status: api.CheckFail, Detail: detail, Remedy: remedy}
}
func Skip(detail string) Result { return Result{Status: api.CheckSkip, Detail: detail} }

// Run runs the checks concurrently, each bounded by timeout, and returns
// their findings in the list's order; OK is false when any failed.
func Run(ctx context.Context, timeout time.Duration, checks []Check) api.Doctor {
	out := api.Doctor{Checks: make([]api.Check, len(checks)), OK: true}
	var wg sync.WaitGroup
	for i, c := range checks {
		wg.Go(func() {
			cctx, cancel := context.WithTimeout(ctx, timeout)
			defer cancel()
			r := runOne(cctx, c)
			if r.Status == api.CheckFail && cctx.Err() != nil && ctx.Err() == nil && r.Detail == "" {
				r.Detail = fmt.Sprintf("no answer within %s", timeout)
			}
			out.Checks[i] = api.Check{ID: c.ID, Title: c.Title, Status: r.Status, Detail: r.Detail, Remedy: r.Remedy}
		})
	}
	wg.Wait()
	for _, c := range out.Checks {
		if c.Status == api.CheckFail {
			out.OK = false
		}
	}
	return out
}

func runOne(ctx context.Context, c Check) (r Result) {
	defer func() {
		if v := recover(); v != nil {
			r = Fail(fmt.Sprintf("the check crashed: %v", v), "Report this as a bug of cld.")
		}
	}()
	r = c.Run(ctx)
	switch r.Status {
	case api.CheckPass, api.CheckWarn, api.CheckFail, api.CheckSkip:
	default:
		r = Fail(fmt.Sprintf("the check answered an unknown status %q", r.Status), "Report this as a bug of cld.")
	}
	return r
}

// DNS checks that host resolves. An IP address needs no DNS (skip). When
// the cloud is reached through a proxy the proxy resolves the name, so a
// failure only warns.
func DNS(host string, proxied bool, r *net.Resolver) Check {
	return Check{ID: "dns", Title: "DNS resolves the cloud's domain", Run: func(ctx context.Context) Result {
		if host == "" {
			return Skip("No cloud is configured or linked yet.")
		}
		if _, err := netip.ParseAddr(host); err == nil {
			return Skip(fmt.Sprintf("The cloud is addressed by its IP address %s; no DNS needed.", host))
		}
		if r == nil {
			r = net.DefaultResolver
		}
		addrs, err := r.LookupHost(ctx, host)
		if err == nil && len(addrs) > 0 {
			if len(addrs) > 4 {
				addrs = append(addrs[:4], "…")
			}
			return Pass(fmt.Sprintf("%s resolves to %s.", host, strings.Join(addrs, ", ")))
		}
		cause := "no addresses"
		if err != nil {
			cause = err.Error()
			var de *net.DNSError
			if errors.As(err, &de) && de.IsNotFound {
				cause = "no such host (NXDOMAIN)"
			}
		}
		detail := fmt.Sprintf("%s does not resolve on this host: %s.", host, cause)
		remedy := fmt.Sprintf("Configure DNS on this host to resolve %s, or forward queries to a DNS server that can (for CloudLink, one that resolves mitel.io); check /etc/resolv.conf.", host)
		if proxied {
			return Warn(detail+" The cloud is reached through the proxy, which resolves the name itself.", remedy)
		}
		return Fail(detail, remedy)
	}}
}

// StateDir checks that dir takes a new file: it creates and removes one.
// (As root, permission bits do not stop a write; only a real attempt tells
// — a read-only or full filesystem, or a path that is not a directory.)
func StateDir(dir string) Check {
	return Check{ID: "state_dir", Title: "The state directory is writable", Run: func(context.Context) Result {
		remedy := fmt.Sprintf("Make %s a directory that cld's user (root) can write, on a filesystem that is neither read-only nor full, or point state_dir (--state) elsewhere; then restart cld.", dir)
		fi, err := os.Stat(dir)
		if err != nil {
			return Fail(fmt.Sprintf("%s: %v.", dir, unwrapPath(err)), remedy)
		}
		if !fi.IsDir() {
			return Fail(fmt.Sprintf("%s is not a directory.", dir), remedy)
		}
		f, err := os.CreateTemp(dir, ".doctor-*")
		if err != nil {
			return Fail(fmt.Sprintf("Cannot create a file in %s: %v.", dir, unwrapPath(err)), remedy)
		}
		name := f.Name()
		_, werr := f.Write([]byte("cld doctor\n"))
		serr := f.Sync()
		cerr := f.Close()
		rerr := os.Remove(name)
		if err := errors.Join(werr, serr, cerr); err != nil {
			return Fail(fmt.Sprintf("Cannot write a file in %s: %v.", dir, unwrapPath(err)), remedy)
		}
		if rerr != nil {
			return Fail(fmt.Sprintf("Cannot remove a file from %s: %v.", dir, unwrapPath(rerr)), remedy)
		}
		return Pass(fmt.Sprintf("Created and removed a file in %s.", filepath.Clean(dir)))
	}}
}

func unwrapPath(err error) error {
	var pe *os.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}

// Proxy checks that the HTTP proxy opens a tunnel (CONNECT) to target
// (host:port). proxy nil: skip with why.
func Proxy(proxy *url.URL, target, noneReason, credHint string) Check {
	return Check{ID: "proxy", Title: "The HTTP proxy works", Run: func(ctx context.Context) Result {
		if proxy == nil {
			return Skip(noneReason)
		}
		addr := proxyAddr(proxy)
		remedy := "Check that the proxy " + addr + " is running and reachable from this host, and the proxy setting of cld."
		var d net.Dialer
		conn, err := d.DialContext(ctx, "tcp", addr)
		if err != nil {
			return Fail(fmt.Sprintf("Cannot connect to the proxy %s: %v.", addr, err), remedy)
		}
		defer conn.Close()
		if dl, ok := ctx.Deadline(); ok {
			_ = conn.SetDeadline(dl)
		}
		stop := context.AfterFunc(ctx, func() { conn.SetDeadline(time.Now()) })
		defer stop()
		if proxy.Scheme == "https" {
			tc := tls.Client(conn, &tls.Config{ServerName: proxy.Hostname(), MinVersion: tls.VersionTLS12})
			if err := tc.HandshakeContext(ctx); err != nil {
				return Fail(fmt.Sprintf("TLS with the proxy %s failed: %v.", addr, err), remedy)
			}
			conn = tc
		}
		req := fmt.Sprintf("CONNECT %s HTTP/1.1\r\nHost: %s\r\n", target, target)
		if u := proxy.User; u != nil {
			pw, _ := u.Password()
			req += "Proxy-Authorization: Basic " + base64.StdEncoding.EncodeToString([]byte(u.Username()+":"+pw)) + "\r\n"
		}
		req += "\r\n"
		if _, err := conn.Write([]byte(req)); err != nil {
			return Fail(fmt.Sprintf("Sending CONNECT to the proxy %s failed: %v.", addr, err), remedy)
		}
		resp, err := http.ReadResponse(bufio.NewReader(conn), &http.Request{Method: http.MethodConnect})
		if err != nil {
			return Fail(fmt.Sprintf("The proxy %s did not answer the CONNECT to %s: %v.", addr, target, err), remedy)
		}
		resp.Body.Close()
		switch {
		case resp.StatusCode == http.StatusOK:
			return Pass(fmt.Sprintf("The proxy %s opened a connection to %s (CONNECT answered %s).", addr, target, resp.Status))
		case resp.StatusCode == http.StatusProxyAuthRequired || resp.StatusCode == http.StatusUnauthorized:
			what := "asks for credentials"
			if proxy.User != nil {
				what = "refused the credentials"
			}
			return Fail(fmt.Sprintf("The proxy %s %s: CONNECT to %s answered %s.", addr, what, target, resp.Status), "Check the credentials: "+credHint+".")
		case resp.StatusCode == http.StatusForbidden:
			return Fail(fmt.Sprintf("The proxy %s forbids CONNECT to %s (%s).", addr, target, resp.Status), "Ask the proxy's administrator to allow CONNECT to "+target+".")
		}
		return Fail(fmt.Sprintf("The proxy %s refused CONNECT to %s: %s.", addr, target, resp.Status), remedy)
	}}
}

func proxyAddr(u *url.URL) string {
	port := u.Port()
	if port == "" {
		port = "80"
		if u.Scheme == "https" {
			port = "443"
		}
	}
	return net.JoinHostPort(u.Hostname(), port)
}
