package main

import (
	"archive/tar"
	"compress/gzip"
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/cloudlink/cld/agent"
	"github.com/cloudlink/cld/agent/build"
	"github.com/cloudlink/cld/agent/config"
	"github.com/cloudlink/cld/agent/proxy"
	"github.com/cloudlink/cld/agent/state"
	"github.com/cloudlink/cld/inventory"
)

// cmdSupportBundle writes a tar.gz for support: the status, the doctor's
// findings, the recent log (the journal's when there is one, else the
// daemon's own), the configuration and the versions, with every secret the
// host knows (the link's device secret, proxy and URL credentials, tokens,
// passwords) redacted. The bundle is 0600.
func (c *cli) cmdSupportBundle(args []string) int {
	fs := c.newFlags("support-bundle", "[-o FILE] [--socket PATH] [--config FILE]")
	var sf socketFlags
	sf.add(fs)
	out := fs.String("o", "", "the bundle to write (default cld-support-<host>-<time>.tar.gz here)")
	if code, ok := c.parse(fs, args); !ok {
		return code
	}
	cfg, cfgErr := sf.loadConfig()
	if *out == "" {
		host, _ := os.Hostname()
		*out = fmt.Sprintf("cld-support-%s-%s.tar.gz", host, time.Now().UTC().Format("20060102T150405Z"))
	}
	secrets := bundleSecrets(cfg)
	files := map[string]string{}
	note := func(name, format string, a ...any) { files[name] += fmt.Sprintf(format, a...) + "\n" }

	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	b := build.Info()
	note("versions.txt", "cld (this command): %s build %s commit %s branch %s stage %s", b.Version, b.Build, b.Commit, b.Branch, b.Stage)
	if cfgErr != nil {
		note("config-error.txt", "%v", cfgErr)
	}
	if data, err := os.ReadFile(cfg.File()); err == nil {
		files["cld.yaml"] = string(data)
	} else {
		note("cld.yaml", "# %s: %v", cfg.File(), err)
	}
	cl, err := sf.client()
	daemonUp := false
	if err != nil {
		note("status.json", `{"error": %q}`, err.Error())
	} else {
		if st, serr := cl.Status(ctx); serr == nil {
			daemonUp = true
			files["status.json"] = jsonText(st)
			note("versions.txt", "cld (daemon): %s build %s commit %s", st.Build.Version, st.Build.Build, st.Build.Commit)
			if ts, terr := cl.Tunnels(ctx); terr == nil {
				files["tunnels.json"] = jsonText(ts)
			}
			if inv, ierr := cl.Inventory(ctx); ierr == nil {
				files["inventory.json"] = jsonText(inv)
			}
			if d, derr := cl.Doctor(ctx); derr == nil {
				files["doctor.json"] = jsonText(d)
			}
			if l, lerr := cl.Log(ctx); lerr == nil && l.Text != "" {
				files["daemon.log"] = l.Text
			}
		} else {
			note("status.json", `{"error": %q}`, serr.Error())
		}
	}
	if !daemonUp && cfgErr == nil {
		if d, derr := agent.DoctorWithoutDaemon(ctx, cfg, fmt.Errorf("the daemon did not answer")); derr == nil {
			files["doctor.json"] = jsonText(d)
		}
	}
	if j, err := exec.CommandContext(ctx, "journalctl", "-u", "cld", "--no-pager", "-n", "5000", "-o", "short-iso").Output(); err == nil && len(j) > 0 && !strings.Contains(string(j), "-- No entries --") {
		files["journal.log"] = string(j)
	}
	if ents, err := os.ReadDir(cfg.StateDir); err == nil {
		for _, e := range ents {
			if fi, err := e.Info(); err == nil {
				note("state-dir.txt", "%s %8d %s %s", fi.Mode(), fi.Size(), fi.ModTime().UTC().Format(time.RFC3339), e.Name())
			}
		}
	}
	if err := writeBundle(*out, files, secrets); err != nil {
		return c.fail(fmt.Errorf("writing the support bundle: %w", err))
	}
	fmt.Fprintf(c.stdout, "Wrote %s (secrets redacted); send it to support.\n", *out)
	return exitOK
}

func jsonText(v any) string {
	b, _ := json.MarshalIndent(v, "", "  ")
	return string(b) + "\n"
}

// bundleSecrets are the secrets the host holds: the link's device secret
// (and that of unlinked systems awaiting revocation), the proxy passwords
// of the configuration and the environment.
func bundleSecrets(cfg config.Config) []string {
	var out []string
	if st, err := state.Load(cfg.StateDir); err == nil && st != nil {
		if st.Link != nil {
			out = append(out, st.Link.ClientSecret)
		}
		for _, r := range st.PendingRevocations {
			out = append(out, r.ClientSecret)
		}
	}
	for _, pw := range proxy.Passwords(cfg.Proxy) {
		out = append(out, pw, url.QueryEscape(pw), url.PathEscape(pw))
	}
	return out
}

// writeBundle writes files, each scrubbed of secrets, as a 0600 tar.gz.
func writeBundle(path string, files map[string]string, secrets []string) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return err
	}
	zw := gzip.NewWriter(f)
	tw := tar.NewWriter(zw)
	dir := strings.TrimSuffix(filepath.Base(path), ".tar.gz")
	now := time.Now()
	for name, text := range files {
		data := []byte(inventory.ScrubText(text, secrets))
		if err == nil {
			err = tw.WriteHeader(&tar.Header{Name: dir + "/" + name, Mode: 0o600, Size: int64(len(data)), ModTime: now})
		}
		if err == nil {
			_, err = tw.Write(data)
		}
	}
	for _, cerr := range []error{tw.Close(), zw.Close(), f.Close()} {
		if err == nil {
			err = cerr
		}
	}
	if err != nil {
		os.Remove(path)
	}
	return err
}
