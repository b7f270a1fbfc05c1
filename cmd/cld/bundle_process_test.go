package main

import (
	"archive/tar"
	"compress/gzip"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestProcessSupportBundle: on a linked daemon with a proxy password in its
// configuration, the bundle holds the status, doctor, log, config and
// versions, and none of the planted secrets anywhere.
func TestProcessSupportBundle(t *testing.T) {
	t.Parallel()
	needBinaries(t)
	d := newDaemon(t, theCloud(t))
	const proxyPass = "Pr0xy-S3cret-planted"
	cfg := fmt.Sprintf("machine_id_file: %s\nstate_dir: %s\nheartbeat_interval: 1m\nproxy: http://proxyuser:%s@127.0.0.1:3128\nno_proxy: \"*\"\n", filepath.Join(d.dir, "machine-id"), d.state, proxyPass)
	if err := os.WriteFile(d.configFile, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	d.start()
	if out, errOut, code := d.cli(password+"\n", "link", "--username", admin, "--password-stdin", "--account", "100001"); code != 0 {
		t.Fatalf("link: %d %s %s", code, out, errOut)
	}
	var link struct {
		Link struct {
			ClientSecret string `json:"client_secret"`
		} `json:"link"`
	}
	if err := json.Unmarshal([]byte(mustRead(t, filepath.Join(d.state, "link.json"))), &link); err != nil || link.Link.ClientSecret == "" {
		t.Fatalf("link.json: %v", err)
	}
	secrets := []string{proxyPass, link.Link.ClientSecret, password, strings.TrimSpace(mustRead(t, filepath.Join(d.state, "dashboard-initial-password")))}

	bundle := filepath.Join(d.dir, "bundle.tar.gz")
	out, errOut, code := d.cli("", "support-bundle", "-o", bundle, "--config", d.configFile)
	if code != 0 || !strings.Contains(out, "Wrote "+bundle) {
		t.Fatalf("support-bundle: %d %s %s", code, out, errOut)
	}
	if fi, err := os.Stat(bundle); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("bundle mode: %v %v", fi, err)
	}
	f, err := os.Open(bundle)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		t.Fatal(err)
	}
	tr := tar.NewReader(zr)
	got := map[string]string{}
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(tr)
		got[filepath.Base(h.Name)] = string(b)
	}
	for _, name := range []string{"status.json", "doctor.json", "daemon.log", "cld.yaml", "versions.txt", "tunnels.json", "state-dir.txt"} {
		if got[name] == "" {
			t.Errorf("the bundle lacks %s (has %v)", name, keys(got))
		}
	}
	if !strings.Contains(got["status.json"], `"linked": true`) || !strings.Contains(got["daemon.log"], "linked") ||
		!strings.Contains(got["cld.yaml"], "proxy: http://[redacted]@127.0.0.1:3128") {
		t.Errorf("bundle content:\nstatus %s\nconfig %s", got["status.json"], got["cld.yaml"])
	}
	for name, text := range got {
		for _, s := range secrets {
			if s != "" && strings.Contains(text, s) {
				t.Errorf("%s holds the secret %.4s…", name, s)
			}
		}
	}
}

func keys(m map[string]string) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}
