package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"go.uber.org/goleak"
	"golang.org/x/crypto/bcrypt"

	"github.com/cloudlink/cld/cloud"
	"github.com/cloudlink/cld/cloud/cloudapi"
	"github.com/cloudlink/cld/cloud/store"
	"github.com/cloudlink/cld/internal/gobuild"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// syncBuffer is a bytes.Buffer safe for a writer and a reader goroutine.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

type result struct {
	code           int
	stdout, stderr string
}

// cli runs the command in process with the given stdin (not a terminal).
func cli(t *testing.T, stdin string, args ...string) result {
	t.Helper()
	var out, errb syncBuffer
	code := runEnv(env{
		ctx: context.Background(), stdin: strings.NewReader(stdin), stdout: &out, stderr: &errb,
		isTerminal:   func() bool { return false },
		readPassword: func() (string, error) { return "", errors.New("no terminal") },
	}, args)
	return result{code, out.String(), errb.String()}
}

func wantCode(t *testing.T, r result, code int, contains ...string) {
	t.Helper()
	if r.code != code {
		t.Fatalf("exit %d, want %d\nstdout: %s\nstderr: %s", r.code, code, r.stdout, r.stderr)
	}
	all := r.stdout + r.stderr
	for _, c := range contains {
		if !strings.Contains(all, c) {
			t.Errorf("output lacks %q:\nstdout: %s\nstderr: %s", c, r.stdout, r.stderr)
		}
	}
}

func TestUsage(t *testing.T) {
	tests := []struct {
		args     []string
		code     int
		contains string
	}{
		{nil, 2, "Usage"},
		{[]string{"help"}, 0, "Commands"},
		{[]string{"bogus"}, 2, `unknown command "bogus"`},
		{[]string{"account"}, 2, "add or list"},
		{[]string{"account", "remove"}, 2, "unknown command"},
		{[]string{"serve"}, 2, "--data is required"},
		{[]string{"serve", "--data", "x", "--listen", "nonsense"}, 2, "HOST:PORT"},
		{[]string{"serve", "--data", "x", "--token-ttl", "0s"}, 2, "access token lifetime"},
		{[]string{"serve", "--nope"}, 2, "flag provided but not defined"},
		{[]string{"serve", "--data", "x", "--edge-listen", "8444"}, 2, "tunnel edge listen address"},
		{[]string{"serve", "--data", "x", "--edge-domain", "Bad_Domain"}, 2, "tunnel edge domain"},
		{[]string{"account", "add", "--data", "x"}, 2, "--id is required"},
		{[]string{"account", "add", "--data", "x", "--id", "5", "--name", "n", "--region", "EU!"}, 2, "region"},
		{[]string{"account", "add", "--data", "x", "--id", "-5", "--name", "n", "--region", "eu"}, 2, "positive"},
		{[]string{"user", "add", "--data", "x", "--email", "not-an-email", "--account", "1"}, 2, "e-mail address"},
		{[]string{"user", "add", "--data", "x", "--email", "a@b.test", "--account", "abc"}, 2, "account number"},
		{[]string{"user", "list"}, 2, "--data is required"},
		{[]string{"account", "list", "extra"}, 2, "unexpected argument"},
		{[]string{"user", "add", "-h"}, 0, "--password-stdin"},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			wantCode(t, cli(t, "", tt.args...), tt.code, tt.contains)
		})
	}
}

func TestAccountAndUserCommands(t *testing.T) {
	dir := t.TempDir()
	wantCode(t, cli(t, "", "account", "list", "--data", dir), 0, "No accounts yet")
	wantCode(t, cli(t, "", "account", "add", "--data", dir, "--id", "200001", "--name", "Lab Account", "--region", "us", "--partner-id", "P-7"), 0, "Added account 200001 (Lab Account)")
	wantCode(t, cli(t, "", "account", "add", "--data", dir, "--id", "200001", "--name", "Again", "--region", "us"), 1, "already exists (Lab Account)", "another --id")
	wantCode(t, cli(t, "", "account", "add", "--data", dir, "--id", "200002", "--name", "Second", "--region", "eu"), 0)
	wantCode(t, cli(t, "", "account", "list", "--data", dir), 0, "200001", "Lab Account", "P-7", "200002")

	wantCode(t, cli(t, "", "user", "add", "--data", dir, "--email", "ops@lab.test", "--account", "200001", "--admin"), 1, "--password-stdin")
	wantCode(t, cli(t, "", "user", "add", "--data", dir, "--email", "ops@lab.test", "--account", "999", "--password-stdin"), 1, "no account 999", "account add")
	wantCode(t, cli(t, "short\n", "user", "add", "--data", dir, "--email", "ops@lab.test", "--account", "200001", "--password-stdin"), 1, "at least 8")
	wantCode(t, cli(t, "first-password\n", "user", "add", "--data", dir, "--email", "Ops@Lab.test", "--account", "200001", "--admin", "--password-stdin"), 0, "Added user ops@lab.test to account 200001 (Lab Account) as ACCOUNT_ADMIN")
	// Another account, no password given: the password stays.
	wantCode(t, cli(t, "", "user", "add", "--data", dir, "--email", "ops@lab.test", "--account", "200002"), 0, "USER of account 200002", "password is unchanged")
	checkPassword(t, dir, "ops@lab.test", "first-password")
	// A new password replaces it.
	wantCode(t, cli(t, "second-password\n", "user", "add", "--data", dir, "--email", "ops@lab.test", "--account", "200002", "--password-stdin"), 0, "password was changed")
	checkPassword(t, dir, "ops@lab.test", "second-password")
	r := cli(t, "", "user", "list", "--data", dir)
	wantCode(t, r, 0, "ops@lab.test", "200001", "ACCOUNT_ADMIN", "200002", "USER")
	if strings.Contains(r.stdout, "second-password") {
		t.Error("password printed")
	}

	// Prompting on a terminal.
	var out, errb syncBuffer
	answers := []string{"typed-password", "typed-password"}
	code := runEnv(env{ctx: context.Background(), stdin: strings.NewReader(""), stdout: &out, stderr: &errb,
		isTerminal: func() bool { return true },
		readPassword: func() (string, error) {
			a := answers[0]
			answers = answers[1:]
			return a, nil
		}}, []string{"user", "add", "--data", dir, "--email", "tty@lab.test", "--account", "200001"})
	if code != 0 || !strings.Contains(errb.String(), "Password for tty@lab.test") {
		t.Fatalf("prompt: exit %d, %s %s", code, out.String(), errb.String())
	}
	checkPassword(t, dir, "tty@lab.test", "typed-password")
}

func checkPassword(t *testing.T, dir, email, password string) {
	t.Helper()
	st, err := store.Open(context.Background(), dir)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	u, err := st.UserByEmail(context.Background(), email)
	if err != nil {
		t.Fatal(err)
	}
	if bcrypt.CompareHashAndPassword(u.PasswordHash, []byte(password)) != nil {
		t.Errorf("password of %s is not %q", email, password)
	}
}

var urlRE = regexp.MustCompile(`listening on (https://\S+)`)

var edgeRE = regexp.MustCompile(`Tunnel edge: public tunnel URLs \S+ \(listener (\S+)\)`)

func waitFor(t *testing.T, what string, f func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !f() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func caClient(t *testing.T, caFile string) *http.Client {
	t.Helper()
	pem, err := os.ReadFile(caFile)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		t.Fatal("no certificate in ca.pem")
	}
	return &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}, Timeout: 10 * time.Second}
}

// passwordGrant signs in and returns the status.
func passwordGrant(t *testing.T, c *http.Client, base, email, password string, account string) int {
	t.Helper()
	v := url.Values{"grant_type": {"password"}, "username": {email}, "password": {password}, "client_id": {cloudapi.ClientIDDaemon}}
	if account != "" {
		v.Set(cloudapi.ParamAccount, account)
	}
	res, err := c.PostForm(base+cloudapi.PathToken, v)
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, res.Body)
	res.Body.Close()
	return res.StatusCode
}

func TestServeInProcess(t *testing.T) {
	dir := t.TempDir()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var out, errb syncBuffer
	done := make(chan int, 1)
	go func() {
		done <- runEnv(env{ctx: ctx, stdin: strings.NewReader(""), stdout: &out, stderr: &errb,
			isTerminal: func() bool { return false }}, []string{"serve", "--data", dir, "--listen", "127.0.0.1:0", "--edge-listen", "off", "--demo", "--hostname", "cloud.lab"})
	}()
	var base string
	waitFor(t, "the listen URL", func() bool {
		select {
		case code := <-done:
			t.Fatalf("serve exited %d: %s %s", code, out.String(), errb.String())
		default:
		}
		m := urlRE.FindStringSubmatch(out.String())
		if m != nil {
			base = m[1]
		}
		return m != nil
	})
	for _, want := range []string{filepath.Join(dir, "ca.pem"), cloud.DemoAdminEmail, cloud.DemoUserEmail, cloud.DemoPassword} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("start output lacks %q:\n%s", want, out.String())
		}
	}
	c := caClient(t, filepath.Join(dir, "ca.pem"))
	defer c.CloseIdleConnections()
	if s := passwordGrant(t, c, base, cloud.DemoAdminEmail, cloud.DemoPassword, "100001"); s != 200 {
		t.Fatalf("demo sign-in: %d", s)
	}
	// The admin CLI works while serving.
	wantCode(t, cli(t, "lab-password\n", "user", "add", "--data", dir, "--email", "new@demo.test", "--account", "100002", "--admin", "--password-stdin"), 0)
	if s := passwordGrant(t, c, base, "new@demo.test", "lab-password", ""); s != 200 {
		t.Fatalf("new user sign-in: %d", s)
	}
	c.CloseIdleConnections()
	cancel()
	select {
	case code := <-done:
		if code != 0 {
			t.Fatalf("serve exit %d: %s", code, errb.String())
		}
	case <-time.After(15 * time.Second):
		t.Fatal("serve did not stop")
	}
	if strings.Contains(errb.String(), cloud.DemoPassword) || strings.Contains(errb.String(), "lab-password") {
		t.Error("a password was logged")
	}

	// Seeding again is idempotent: the UUID stays.
	st, err := store.Open(context.Background(), dir)
	if err != nil {
		t.Fatal(err)
	}
	a1, _ := st.Account(context.Background(), cloud.DemoAccountID)
	if err := cloud.SeedDemo(context.Background(), st, bcrypt.MinCost, time.Now()); err != nil {
		t.Fatal(err)
	}
	a2, _ := st.Account(context.Background(), cloud.DemoAccountID)
	st.Close()
	if a1.UUID == "" || a1.UUID != a2.UUID {
		t.Errorf("UUID changed: %q → %q", a1.UUID, a2.UUID)
	}
}

func TestServeBinary(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary")
	}
	tmp := t.TempDir()
	bin := filepath.Join(tmp, "cld-cloud")
	if err := gobuild.Build(bin, ".", gobuild.Options{}); err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(tmp, "data")
	cmd := exec.Command(bin, "serve", "--data", dir, "--listen", "127.0.0.1:0", "--edge-listen", "127.0.0.1:0", "--demo")
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var errb syncBuffer
	cmd.Stderr = &errb
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	urls := make(chan string, 1)
	edges := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			if m := urlRE.FindStringSubmatch(sc.Text()); m != nil {
				urls <- m[1]
			}
			if m := edgeRE.FindStringSubmatch(sc.Text()); m != nil {
				edges <- m[1]
			}
		}
		exited <- cmd.Wait()
	}()
	defer func() {
		cmd.Process.Kill()
		<-exited
	}()
	caFile := filepath.Join(dir, "ca.pem")
	waitFor(t, "ca.pem", func() bool { _, err := os.Stat(caFile); return err == nil })
	var base string
	select {
	case base = <-urls:
	case err := <-exited:
		exited <- err
		t.Fatalf("serve exited: %v\n%s", err, errb.String())
	case <-time.After(30 * time.Second):
		t.Fatalf("no listen URL; stderr:\n%s", errb.String())
	}
	c := caClient(t, caFile)
	defer c.CloseIdleConnections()
	res, err := c.Get(base + "/healthz")
	if err != nil {
		t.Fatalf("TLS request verified against ca.pem: %v", err)
	}
	res.Body.Close()
	if res.StatusCode != 200 || res.TLS == nil || len(res.TLS.VerifiedChains) == 0 {
		t.Fatalf("healthz: %d %+v", res.StatusCode, res.TLS)
	}
	// The tunnel edge's public listener answers for any tunnel address
	// under edge.localhost, with a certificate from the same CA.
	var edgeAddr string
	select {
	case edgeAddr = <-edges:
	case <-time.After(10 * time.Second):
		t.Fatal("no tunnel edge line in the output")
	}
	ec := caClient(t, caFile)
	defer ec.CloseIdleConnections()
	ec.Transport.(*http.Transport).DialContext = func(ctx context.Context, network, _ string) (net.Conn, error) {
		return (&net.Dialer{}).DialContext(ctx, network, edgeAddr)
	}
	_, port, _ := net.SplitHostPort(edgeAddr)
	res, err = ec.Get("https://0f8fad5b-d9cb-469f-a165-70867728950e.eu.edge.localhost:" + port + "/")
	if err != nil {
		t.Fatalf("tunnel edge request: %v", err)
	}
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != http.StatusNotFound || !strings.Contains(string(body), "No tunnel at this address") {
		t.Fatalf("unknown tunnel: %d %s", res.StatusCode, body)
	}

	add := exec.Command(bin, "user", "add", "--data", dir, "--email", "bin@demo.test", "--account", "100001", "--admin", "--password-stdin")
	add.Stdin = strings.NewReader("binary-password\n")
	if out, err := add.CombinedOutput(); err != nil {
		t.Fatalf("user add while serving: %v\n%s", err, out)
	}
	if s := passwordGrant(t, c, base, "bin@demo.test", "binary-password", ""); s != 200 {
		t.Fatalf("sign-in of the new user: %d", s)
	}
	c.CloseIdleConnections()

	cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-exited:
		exited <- err
		if err != nil {
			t.Fatalf("serve after SIGTERM: %v\n%s", err, errb.String())
		}
	case <-time.After(15 * time.Second):
		t.Fatal("serve did not stop on SIGTERM")
	}
}

// TestRun goes through run itself, as main does.
func TestRun(t *testing.T) {
	dir := t.TempDir()
	var out, errb bytes.Buffer
	if code := run([]string{"account", "add", "--data", dir, "--id", "300001", "--name", "Via Run", "--region", "ap"}, &out, &errb); code != 0 {
		t.Fatalf("exit %d: %s", code, errb.String())
	}
	out.Reset()
	if code := run([]string{"account", "list", "--data", dir}, &out, &errb); code != 0 || !strings.Contains(out.String(), "Via Run") {
		t.Fatalf("exit %d: %s %s", code, out.String(), errb.String())
	}
	if code := run([]string{"account", "add", "--data", dir}, &out, &errb); code != 2 {
		t.Fatalf("usage error exit %d", code)
	}
	errb.Reset()
	if code := run([]string{"account", "add", "--data", dir, "--id", "300001", "--name", "Dup", "--region", "ap"}, &out, &errb); code != 1 || !strings.Contains(errb.String(), "already exists") {
		t.Fatalf("failure exit %d: %s", code, errb.String())
	}
}
