package simhost

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestDownloadStream(t *testing.T) {
	if got, want := DownloadSHA256(0), sha256.Sum256(nil); got != want {
		t.Errorf("empty download hash %x, want %x", got, want)
	}
	all, err := io.ReadAll(NewDownloadReader(1<<20 + 7))
	if err != nil || len(all) != 1<<20+7 {
		t.Fatalf("read %d bytes, %v", len(all), err)
	}
	// Deterministic, independent of the read sizes, and each size a
	// prefix of larger ones.
	r := NewDownloadReader(5000)
	var chunked []byte
	for _, n := range []int{1, 15, 16, 17, 1000, 4096} {
		buf := make([]byte, n)
		k, _ := io.ReadFull(r, buf)
		chunked = append(chunked, buf[:k]...)
	}
	if !bytes.Equal(chunked, all[:5000]) {
		t.Error("reading in odd chunks gives other bytes")
	}
	if n, err := r.Read(make([]byte, 10)); n != 0 || err != io.EOF {
		t.Errorf("after the end: %d, %v", n, err)
	}
	if got, want := DownloadSHA256(int64(len(all))), sha256.Sum256(all); got != want {
		t.Errorf("DownloadSHA256 = %x, want %x", got, want)
	}
	if bytes.Count(all[:4096], []byte{0}) > 64 {
		t.Error("the stream does not look random")
	}
}

func TestConfigValidate(t *testing.T) {
	if err := DefaultConfig().Validate(); err != nil {
		t.Fatalf("default config: %v", err)
	}
	for name, c := range map[string]Config{
		"no UI":        {Username: "a", Password: "b"},
		"no password":  {UIs: []UI{ServerManager("127.0.0.1:0")}, Username: "a"},
		"bad address":  {UIs: []UI{ServerManager("9443")}, Username: "a", Password: "b"},
		"duplicate ID": {UIs: []UI{ServerManager("127.0.0.1:0"), ServerManager("127.0.0.1:0")}, Username: "a", Password: "b"},
		"bad ID":       {UIs: []UI{{ID: "A B", Title: "x", Addr: "127.0.0.1:0"}}, Username: "a", Password: "b"},
	} {
		if err := c.Validate(); err == nil {
			t.Errorf("%s: no error", name)
		}
		if _, err := Start(c); err == nil {
			t.Errorf("%s: Start accepted it", name)
		}
	}
}

// startHost starts both UIs on free ports with the certificate in a
// temporary directory.
func startHost(t *testing.T) (*Host, string) {
	t.Helper()
	dir := t.TempDir()
	h, err := Start(Config{
		UIs: []UI{ServerManager("127.0.0.1:0"), BorderGateway("127.0.0.1:0")}, Dir: dir,
		Username: DefaultUsername, Password: DefaultPassword, Logger: slog.New(slog.DiscardHandler),
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := h.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return h, dir
}

// client trusts cert.pem from dir, keeps cookies and does not follow
// redirects.
func client(t *testing.T, dir string) *http.Client {
	t.Helper()
	pem, err := os.ReadFile(filepath.Join(dir, "cert.pem"))
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		t.Fatal("cert.pem holds no certificate")
	}
	jar, _ := cookiejar.New(nil)
	tr := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}, ForceAttemptHTTP2: true}
	t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{
		Transport: tr, Jar: jar, Timeout: 30 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}

func get(t *testing.T, c *http.Client, u string) (*http.Response, string) {
	t.Helper()
	resp, err := c.Get(u)
	if err != nil {
		t.Fatalf("GET %s: %v", u, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b)
}

func signIn(t *testing.T, c *http.Client, base, next string) *http.Response {
	t.Helper()
	resp, err := c.PostForm(base+"/login", url.Values{"username": {"admin"}, "password": {"admin"}, "next": {next}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp
}

func TestUIs(t *testing.T) {
	h, dir := startHost(t)
	c := client(t, dir)
	sm, mbg := h.URL("server-manager"), h.URL("mbg")
	if sm == "" || mbg == "" || h.URL("nope") != "" {
		t.Fatalf("URLs %q %q", sm, mbg)
	}
	if !bytes.Equal(h.CertPEM(), mustRead(t, filepath.Join(dir, "cert.pem"))) {
		t.Error("CertPEM differs from cert.pem")
	}

	resp, body := get(t, c, sm+"/health")
	if resp.StatusCode != 200 || !strings.Contains(body, `"status":"ok"`) || !strings.Contains(body, "server-manager") {
		t.Errorf("health: %d %s", resp.StatusCode, body)
	}
	if resp.Proto != "HTTP/1.1" {
		t.Errorf("protocol %s, want HTTP/1.1", resp.Proto)
	}

	// Signed out: a relative redirect to the sign-in page.
	resp, _ = get(t, c, sm+"/status?x=1")
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/login?next=%2Fstatus%3Fx%3D1" {
		t.Fatalf("signed out: %d to %q", resp.StatusCode, resp.Header.Get("Location"))
	}
	resp, body = get(t, c, sm+"/login?next=%2Fstatus")
	if resp.StatusCode != 200 || !strings.Contains(body, `<label for="username">`) || !strings.Contains(body, `value="/status"`) ||
		!strings.Contains(body, "MSL Server Manager") {
		t.Fatalf("sign-in form: %d\n%s", resp.StatusCode, body)
	}

	// Wrong password, missing fields.
	resp, err := c.PostForm(sm+"/login", url.Values{"username": {"admin"}, "password": {"nope"}})
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized || !strings.Contains(string(b), "incorrect") {
		t.Errorf("wrong password: %d", resp.StatusCode)
	}
	if resp, err := c.PostForm(sm+"/login", url.Values{}); err != nil || resp.StatusCode != http.StatusBadRequest {
		t.Errorf("empty form: %v %v", resp, err)
	} else {
		resp.Body.Close()
	}

	// Signing in: an absolute redirect built from the request's Host; an
	// outside "next" is not followed.
	resp = signIn(t, c, sm, "/status")
	if want := sm + "/status"; resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != want {
		t.Fatalf("sign-in: %d to %q, want %q", resp.StatusCode, resp.Header.Get("Location"), want)
	}
	ck := resp.Cookies()
	if len(ck) != 1 || ck[0].Name != "simhost-server-manager" || !ck[0].Secure || !ck[0].HttpOnly {
		t.Errorf("session cookie %+v", ck)
	}
	if resp := signIn(t, c, sm, "//evil.example/"); resp.Header.Get("Location") != sm+"/" {
		t.Errorf("open redirect: %q", resp.Header.Get("Location"))
	}
	req, _ := http.NewRequest("POST", sm+"/login", strings.NewReader("username=admin&password=admin"))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Host = "0f1e.eu.edge.localhost:8444"
	resp, err = c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if got := resp.Header.Get("Location"); got != "https://0f1e.eu.edge.localhost:8444/" {
		t.Errorf("redirect for a forwarded Host: %q", got)
	}

	for path, want := range map[string]string{
		"/":        "Welcome to MSL Server Manager",
		"/status":  `<td id="service-status">running</td>`,
		"/console": `new WebSocket(`,
	} {
		resp, body := get(t, c, sm+path)
		if resp.StatusCode != 200 || !strings.Contains(body, want) || !strings.Contains(body, "Signed in as") {
			t.Errorf("GET %s: %d, lacks %q", path, resp.StatusCode, want)
		}
	}
	// The other UI has its own sign-in.
	if resp, _ := get(t, c, mbg+"/"); resp.StatusCode != http.StatusSeeOther {
		t.Errorf("the MBG UI took the Server Manager's sign-in: %d", resp.StatusCode)
	}
	signIn(t, c, mbg, "/")
	if _, body := get(t, c, mbg+"/"); !strings.Contains(body, "MiVoice Border Gateway administration") {
		t.Error("MBG overview")
	}

	// Errors are pages that say what went wrong.
	for _, tc := range []struct {
		method, path string
		code         int
		want         string
	}{
		{"GET", "/nope", 404, "There is no page at /nope"},
		{"DELETE", "/status", 405, "DELETE is not allowed"},
		{"GET", "/download?size=-1", 400, "size must be a number"},
		{"GET", "/download?size=x", 400, "size must be a number"},
		{"GET", "/download?size=99999999999999999", 400, "size must be a number"},
	} {
		req, _ := http.NewRequest(tc.method, sm+tc.path, nil)
		resp, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != tc.code || !strings.Contains(string(b), tc.want) || !strings.Contains(resp.Header.Get("Content-Type"), "text/html") {
			t.Errorf("%s %s: %d, want %d with %q", tc.method, tc.path, resp.StatusCode, tc.code, tc.want)
		}
	}

	// Download: size and content.
	const n = 10<<20 + 3
	resp, err = c.Get(sm + "/download?size=10485763")
	if err != nil {
		t.Fatal(err)
	}
	hash := sha256.New()
	got, err := io.Copy(hash, resp.Body)
	resp.Body.Close()
	if err != nil || got != n || resp.ContentLength != n {
		t.Fatalf("download: %d bytes (Content-Length %d), %v", got, resp.ContentLength, err)
	}
	if want := DownloadSHA256(n); !bytes.Equal(hash.Sum(nil), want[:]) {
		t.Error("download content differs from DownloadSHA256")
	}
	if resp, err := c.Head(sm + "/download?size=123"); err != nil || resp.ContentLength != 123 {
		t.Errorf("HEAD download: %v %v", resp, err)
	} else {
		resp.Body.Close()
	}

	// Signing out ends the session.
	resp, err = c.PostForm(sm+"/logout", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/login" {
		t.Errorf("sign out: %d to %q", resp.StatusCode, resp.Header.Get("Location"))
	}
	if resp, _ := get(t, c, sm+"/"); resp.StatusCode != http.StatusSeeOther {
		t.Errorf("after signing out: %d", resp.StatusCode)
	}
}

func mustRead(t *testing.T, p string) []byte {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestWebSocketEcho(t *testing.T) {
	h, dir := startHost(t)
	c := client(t, dir)
	sm := h.URL("server-manager")
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	wsURL := "wss" + strings.TrimPrefix(sm, "https") + "/ws"

	// Signed out: refused.
	_, resp, err := websocket.Dial(ctx, wsURL, &websocket.DialOptions{HTTPClient: c})
	if err == nil || resp == nil || resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("signed-out WebSocket: %v %v", resp, err)
	}
	signIn(t, c, sm, "/")
	// Another site's page: refused.
	_, resp, err = websocket.Dial(ctx, wsURL, &websocket.DialOptions{HTTPClient: c, HTTPHeader: http.Header{"Origin": {"https://evil.example"}}})
	if err == nil || resp == nil || resp.StatusCode != http.StatusForbidden {
		t.Fatalf("cross-origin WebSocket: %v %v", resp, err)
	}

	conn, _, err := websocket.Dial(ctx, wsURL, &websocket.DialOptions{HTTPClient: c, HTTPHeader: http.Header{"Origin": {sm}}})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.CloseNow()
	conn.SetReadLimit(1 << 20)
	for _, msg := range []string{"hello through the tunnel", strings.Repeat("x", 100000)} {
		if err := conn.Write(ctx, websocket.MessageText, []byte(msg)); err != nil {
			t.Fatal(err)
		}
		typ, got, err := conn.Read(ctx)
		if err != nil || typ != websocket.MessageText || string(got) != msg {
			t.Fatalf("echo: %v %d bytes %v", typ, len(got), err)
		}
	}
	// Closing the host ends the open WebSocket.
	done := make(chan error, 1)
	go func() {
		_, _, err := conn.Read(ctx)
		done <- err
	}()
	if err := h.Close(); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-done:
		if err == nil {
			t.Error("read succeeded after Close")
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the WebSocket stayed open after Close")
	}
}

// TestNewHandler serves one UI with httptest, as other packages' tests may.
func TestNewHandler(t *testing.T) {
	h := NewHandler(ServerManager("unused"), "u", "p")
	rec := newRecorder(h, "GET", "/health")
	if rec.Code != 200 {
		t.Errorf("health: %d", rec.Code)
	}
	rec = newRecorder(h, "GET", "/")
	if rec.Code != http.StatusSeeOther {
		t.Errorf("signed out: %d", rec.Code)
	}
}

func TestShutdown(t *testing.T) {
	h, _ := startHost(t)
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	if err := h.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := http.Get(h.URL("mbg") + "/health"); err == nil {
		t.Error("still serving after Shutdown")
	}
}

func newRecorder(h http.Handler, method, target string) *httptest.ResponseRecorder {
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(method, target, nil))
	return rec
}
