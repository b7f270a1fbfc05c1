package openscape

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestBCP47(t *testing.T) {
	for in, want := range map[string]string{
		"de_DE.UTF-8": "de-DE", "en_US": "en-US", "fr": "fr", "EN-gb": "en-GB", "de_AT@euro": "de-AT",
		"C": "", "POSIX": "", "C.UTF-8": "", "": "", "German": "", "de_DEU": "", "1x": "",
	} {
		if got := bcp47(in); got != want {
			t.Errorf("bcp47(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestNormalizeProxy(t *testing.T) {
	for _, tc := range []struct {
		in, want string
		creds    bool
		err      string
	}{
		{"", "", false, ""},
		{"proxy.example:3128", "http://proxy.example:3128", false, ""},
		{"http://proxy.example:8080/", "http://proxy.example:8080", false, ""},
		{"http://proxy.example", "http://proxy.example:80", false, ""},
		{"https://[2001:db8::1]:3129", "https://[2001:db8::1]:3129", false, ""},
		{"http://user:secret@proxy.example:3128", "http://proxy.example:3128", true, ""},
		{"socks5://proxy.example:1080", "", false, "scheme socks5"},
		{"http://proxy.example:3128/path", "", false, "without a path"},
		{"http://proxy.example:99999", "", false, "port 99999"},
		{"http://:3128", "", false, "no host"},
	} {
		got, creds, err := normalizeProxy(tc.in)
		if got != tc.want || creds != tc.creds || (err == nil) != (tc.err == "") || err != nil && !strings.Contains(err.Error(), tc.err) {
			t.Errorf("normalizeProxy(%q) = %q, %v, %v", tc.in, got, creds, err)
		}
	}
}

// TestProxyNotices: a host proxy with credentials is used without them, an
// unusable one not at all, each with a notice; a disabled one is none.
func TestProxyNotices(t *testing.T) {
	root := copyTree(t, "osuc-v10r6fr7")
	file := filepath.Join(root, "etc/sysconfig/proxy")
	for _, tc := range []struct {
		text, proxy, code string
	}{
		{"PROXY_ENABLED=\"yes\"\nHTTP_PROXY=\"http://u:p@proxy.example:3128\"\n", "http://proxy.example:3128", "host-proxy-credentials"},
		{"PROXY_ENABLED=\"yes\"\nHTTPS_PROXY=\"ftp://proxy.example:21\"\nHTTP_PROXY=\"http://proxy.example:3128\"\n", "", "host-proxy-invalid"},
		{"PROXY_ENABLED=\"no\"\nHTTP_PROXY=\"http://proxy.example:3128\"\n", "", ""},
		{"PROXY_ENABLED=\"yes\"\n", "", ""},
	} {
		os.WriteFile(file, []byte(tc.text), 0o644)
		p, err := UC{}.Detect(root)
		if err != nil {
			t.Fatal(err)
		}
		f, ns := p.(*Platform).Facts(), notices(p)
		var codes []string
		for _, n := range ns {
			codes = append(codes, n.Code)
			if !strings.Contains(n.Text, "/etc/sysconfig/proxy") || n.Remedy == "" {
				t.Errorf("%+v", n)
			}
		}
		if f.Proxy != tc.proxy || strings.Join(codes, ",") != tc.code {
			t.Errorf("%q: proxy %q, notices %v", tc.text, f.Proxy, codes)
		}
	}
	// OpenScape Business's WBM proxy: host and port fields.
	root = copyTree(t, "osb-s-v3r4")
	os.WriteFile(filepath.Join(root, "opt/osbiz/etc/wbm.conf"), []byte("LANGUAGE=\"it\"\nPROXY_ENABLED=\"yes\"\nPROXY_HOST=\"10.1.1.1\"\nPROXY_PORT=\"\"\n"), 0o644)
	p, err := Business{}.Detect(root)
	if err != nil || p.(*Platform).Facts().Proxy != "http://10.1.1.1:80" || p.(*Platform).Facts().Language != "it" {
		t.Errorf("%+v %v", p, err)
	}
}

// TestMissingOptionalFiles: only the version file is needed; without the
// others the facts are unknown.
func TestMissingOptionalFiles(t *testing.T) {
	root := t.TempDir()
	os.MkdirAll(filepath.Join(root, "opt/osbiz/etc"), 0o755)
	os.WriteFile(filepath.Join(root, "opt/osbiz/etc/version.conf"), []byte("PRODUCT=\"OpenScape Business\"\nVERSION=\"V3R3 FR3\"\n"), 0o644)
	p, err := Business{}.Detect(root)
	if err != nil {
		t.Fatal(err)
	}
	pp := p.(*Platform)
	f := pp.Facts()
	if pp.Name() != "OpenScape Business" || pp.License() != nil || len(pp.Applications()) != 1 || f.Language != "" || f.Proxy != "" ||
		len(f.Source) != 1 || len(pp.Notices()) != 0 || pp.Node() != nil || len(pp.Tunnels()) != 1 {
		t.Errorf("%+v %+v", pp, f)
	}
}
