package main

// The peers: frp and chisel, built from the Go module proxy at pinned
// versions into a cache outside the checkout, configured from bench/peers/
// and run as real processes next to this project's, to the same origin.

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"embed"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"text/template"
	"time"
)

// The peers' versions: the newest the module proxy served when they were
// pinned.
const (
	frpVersion    = "v0.71.0"
	chiselVersion = "v1.12.1"
)

//go:embed peers
var peerConfigs embed.FS

// peerBins are the peers' binaries.
type peerBins struct{ frps, frpc, chisel string }

// buildPeers builds frps, frpc and chisel (as their releases are built:
// static, -trimpath, -s -w) into cache, keyed by their versions, the Go
// version and the architecture; a complete build there is used as it is.
//
// Each is built in a copy of its module's source (from the module proxy),
// so that its own go.mod holds, replace directives included (frp's yamux
// fork): `go install MODULE@VERSION` would drop them, and asks the proxy
// for a version list that it does not serve here. frp embeds its web
// dashboards (web/*/dist, built with npm for its releases and not in the
// module): they get a placeholder page; the bench does not use them.
func buildPeers(cache string) (peerBins, error) {
	gover, err := exec.Command("go", "env", "GOVERSION").Output()
	if err != nil {
		return peerBins{}, fmt.Errorf("go env GOVERSION: %w", err)
	}
	dir := filepath.Join(cache, fmt.Sprintf("frp-%s_chisel-%s_%s_%s", frpVersion, chiselVersion, strings.TrimSpace(string(gover)), runtime.GOARCH))
	bins := peerBins{frps: filepath.Join(dir, "frps"), frpc: filepath.Join(dir, "frpc"), chisel: filepath.Join(dir, "chisel")}
	if _, err := os.Stat(filepath.Join(dir, "complete")); err == nil {
		return bins, nil
	}
	fmt.Printf("building the peers (frp %s, chisel %s) into %s (once)\n", frpVersion, chiselVersion, dir)
	tmp := dir + ".tmp"
	os.RemoveAll(tmp)
	builds := []struct{ module, version, pkg, out string }{
		{"github.com/fatedier/frp", frpVersion, "./cmd/frps", "frps"},
		{"github.com/fatedier/frp", frpVersion, "./cmd/frpc", "frpc"},
		{"github.com/jpillora/chisel", chiselVersion, ".", "chisel"},
	}
	for _, b := range builds {
		src := filepath.Join(tmp, "src", filepath.Base(b.module))
		if _, err := os.Stat(src); err != nil {
			if err := copySource(b.module, b.version, src); err != nil {
				return peerBins{}, err
			}
		}
		cmd := exec.Command("go", "build", "-trimpath", "-ldflags", "-s -w", "-o", filepath.Join(tmp, b.out), b.pkg)
		cmd.Dir = src
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOFLAGS=-mod=mod")
		if out, err := cmd.CombinedOutput(); err != nil {
			return peerBins{}, fmt.Errorf("building %s of %s@%s: %v\n%s", b.pkg, b.module, b.version, err, out)
		}
	}
	if err := os.RemoveAll(filepath.Join(tmp, "src")); err != nil {
		return peerBins{}, err
	}
	if err := os.WriteFile(filepath.Join(tmp, "complete"), nil, 0o644); err != nil {
		return peerBins{}, err
	}
	os.RemoveAll(dir)
	return bins, os.Rename(tmp, dir)
}

// copySource copies module@version's source from the module cache (fetched
// through the module proxy) to dst, writable, with frp's dashboards'
// placeholders.
func copySource(module, version, dst string) error {
	out, err := exec.Command("go", "mod", "download", "-json", module+"@"+version).Output()
	if err != nil {
		return fmt.Errorf("go mod download %s@%s: %w", module, version, err)
	}
	var m struct{ Dir, Error string }
	if err := json.Unmarshal(out, &m); err != nil || m.Dir == "" {
		return fmt.Errorf("go mod download %s@%s: %s %v", module, version, m.Error, err)
	}
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		return err
	}
	if out, err := exec.Command("cp", "-r", m.Dir, dst).CombinedOutput(); err != nil {
		return fmt.Errorf("copying %s: %v: %s", m.Dir, err, out)
	}
	if out, err := exec.Command("chmod", "-R", "u+w", dst).CombinedOutput(); err != nil {
		return fmt.Errorf("chmod %s: %v: %s", dst, err, out)
	}
	dists, _ := filepath.Glob(filepath.Join(dst, "web", "*", "embed.go"))
	for _, e := range dists {
		d := filepath.Join(filepath.Dir(e), "dist")
		if err := os.MkdirAll(d, 0o755); err != nil {
			return err
		}
		if err := os.WriteFile(filepath.Join(d, "index.html"), []byte("<!doctype html><title>frp</title><p>The dashboard is not built for the bench.\n"), 0o644); err != nil {
			return err
		}
	}
	return nil
}

// render fills in a configuration of bench/peers/ into dir.
func render(name, dir string, fields any) (string, error) {
	text, err := peerConfigs.ReadFile("peers/" + name)
	if err != nil {
		return "", err
	}
	t, err := template.New(name).Option("missingkey=error").Parse(string(text))
	if err != nil {
		return "", err
	}
	var b bytes.Buffer
	if err := t.Execute(&b, fields); err != nil {
		return "", fmt.Errorf("bench/peers/%s: %w", name, err)
	}
	out := filepath.Join(dir, name)
	return out, os.WriteFile(out, b.Bytes(), 0o600)
}

// args reads an .args file of bench/peers/ (one argument a line, # comments).
func args(name, dir string, fields any) ([]string, error) {
	file, err := render(name, dir, fields)
	if err != nil {
		return nil, err
	}
	b, err := os.ReadFile(file)
	if err != nil {
		return nil, err
	}
	var out []string
	for _, l := range strings.Split(string(b), "\n") {
		if l = strings.TrimSpace(l); l != "" && !strings.HasPrefix(l, "#") {
			out = append(out, l)
		}
	}
	return out, nil
}

func port(addr string) string { _, p, _ := net.SplitHostPort(addr); return p }

// frp is frps and frpc with a tcp and an http vhost proxy to the origin.
type frp struct {
	server, client *proc
	bind, remote   string // frps' control port, the tcp proxy's public port
	vhost          string // the http vhost port
	vhostName      string
}

func startFrp(b peerBins, dir, origin string) (*frp, error) {
	f := &frp{vhostName: "frp.bench.localhost"}
	for _, a := range []*string{&f.bind, &f.remote, &f.vhost} {
		var err error
		if *a, err = freeAddr(); err != nil {
			return nil, err
		}
	}
	fields := map[string]string{"BindPort": port(f.bind), "VhostPort": port(f.vhost), "RemotePort": port(f.remote),
		"OriginPort": port(origin), "Token": "bench-frp-token", "VhostName": f.vhostName}
	sconf, err := render("frps.toml", dir, fields)
	if err != nil {
		return nil, err
	}
	cconf, err := render("frpc.toml", dir, fields)
	if err != nil {
		return nil, err
	}
	if f.server, err = startProc(dir, "frps", b.frps, "-c", sconf); err != nil {
		return nil, err
	}
	if err := waitFor(30*time.Second, "frps", func() error { return dial(f.bind) }); err != nil {
		return nil, err
	}
	if f.client, err = startProc(dir, "frpc", b.frpc, "-c", cconf); err != nil {
		return nil, err
	}
	return f, nil
}

func (f *frp) routes() []route {
	agent, server := f.client.pid, f.server.pid
	return []route{
		{name: "frp tcp", dial: tcpDial(f.remote, nil), host: "127.0.0.1", agent: agent, server: server},
		{name: "frp http", dial: tcpDial(f.vhost, nil), host: f.vhostName, agent: agent, server: server},
	}
}

// restartServer kills frps with -9 and starts it again.
func (f *frp) restartServer() error { return f.server.restart(f.bind) }

func (f *frp) stop() { f.client.stop(); f.server.stop() }

// chisel is a chisel server in reverse mode and its client.
type chisel struct {
	name           string
	server, client *proc
	listen, remote string
}

func startChisel(b peerBins, dir, origin string, withTLS bool) (*chisel, error) {
	c := &chisel{name: "chisel"}
	if withTLS {
		c.name = "chisel tls"
	}
	sub := filepath.Join(dir, strings.ReplaceAll(c.name, " ", "-"))
	if err := os.MkdirAll(sub, 0o700); err != nil {
		return nil, err
	}
	var err error
	for _, a := range []*string{&c.listen, &c.remote} {
		if *a, err = freeAddr(); err != nil {
			return nil, err
		}
	}
	scheme := "http://"
	if withTLS {
		scheme = "https://"
	}
	fields := map[string]string{"Port": port(c.listen), "Auth": "bench:bench-chisel-password", "ServerURL": scheme + c.listen,
		"RemotePort": port(c.remote), "Origin": origin}
	sargs, err := args("chisel-server.args", sub, fields)
	if err != nil {
		return nil, err
	}
	cargs, err := args("chisel-client.args", sub, fields)
	if err != nil {
		return nil, err
	}
	if withTLS {
		cert, key, err := selfSigned(sub)
		if err != nil {
			return nil, err
		}
		sargs = append(sargs, "--tls-key", key, "--tls-cert", cert)
		cargs = append(cargs[:1], append([]string{"--tls-ca", cert}, cargs[1:]...)...)
	}
	if c.server, err = startProc(sub, "chisel-server", b.chisel, sargs...); err != nil {
		return nil, err
	}
	if err := waitFor(30*time.Second, c.name+" server", func() error { return dial(c.listen) }); err != nil {
		return nil, err
	}
	if c.client, err = startProc(sub, "chisel-client", b.chisel, cargs...); err != nil {
		return nil, err
	}
	return c, nil
}

func (c *chisel) route() route {
	return route{name: c.name, dial: tcpDial(c.remote, nil), host: "127.0.0.1", agent: c.client.pid, server: c.server.pid}
}

func (c *chisel) restartServer() error { return c.server.restart(c.listen) }

func (c *chisel) stop() { c.client.stop(); c.server.stop() }

// selfSigned writes a self-signed ECDSA certificate for 127.0.0.1 (its own
// CA) and its key into dir.
func selfSigned(dir string) (cert, key string, err error) {
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return "", "", err
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "bench"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)}, DNSNames: []string{"localhost"},
		IsCA: true, BasicConstraintsValid: true,
		KeyUsage:    x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &k.PublicKey, k)
	if err != nil {
		return "", "", err
	}
	kder, err := x509.MarshalECPrivateKey(k)
	if err != nil {
		return "", "", err
	}
	cert, key = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	if err := os.WriteFile(cert, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644); err != nil {
		return "", "", err
	}
	return cert, key, os.WriteFile(key, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kder}), 0o600)
}

// waitRoute waits until a request through r succeeds.
func waitRoute(r route, d time.Duration) error {
	return waitFor(d, r.name, func() error {
		k, err := newClient(r, "/small")
		if err != nil {
			return err
		}
		defer k.close()
		_, err = k.do()
		return err
	})
}
