package maintenance

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"
)

// Target is where a server's commands run: this server itself, or another
// one over SSH. Run runs a POSIX sh script with stdin (nil: none) and
// returns its standard output; a script that fails is a *CommandError
// with its standard error.
type Target interface {
	Run(ctx context.Context, script string, stdin io.Reader) (stdout string, err error)
	Close() error
}

// CommandError is a script that ran and failed (or could not start).
type CommandError struct {
	Code   int    // exit status, -1 when there was none
	Stderr string // what it wrote to standard error
	Err    error
}

func (e *CommandError) Error() string {
	if s := lastLines(e.Stderr); s != "" {
		return s
	}
	if e.Code > 0 {
		return fmt.Sprintf("the command exited with status %d", e.Code)
	}
	return e.Err.Error()
}

func (e *CommandError) Unwrap() error { return e.Err }

// lastLines is the sentence a failed command left: its standard error's
// last non-empty lines (at most three), without cld's "cld: " prefix.
func lastLines(stderr string) string {
	var lines []string
	for _, l := range strings.Split(stderr, "\n") {
		if l = strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(l), "cld: ")); l != "" {
			lines = append(lines, l)
		}
	}
	if len(lines) > 3 {
		lines = lines[len(lines)-3:]
	}
	return strings.Join(lines, " ")
}

// LocalTarget runs scripts on this server with sh -c, in this process's
// environment.
type LocalTarget struct{}

// Run implements Target.
func (LocalTarget) Run(ctx context.Context, script string, stdin io.Reader) (string, error) {
	cmd := exec.CommandContext(ctx, "sh", "-c", script)
	cmd.Stdin = stdin
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		code := -1
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			code = ee.ExitCode()
		}
		return out.String(), &CommandError{Code: code, Stderr: errb.String(), Err: err}
	}
	return out.String(), nil
}

// Close implements Target.
func (LocalTarget) Close() error { return nil }

// SSHConfig is how the other servers are reached.
type SSHConfig struct {
	Port           int           // default 22
	User           string        // default root
	Password       string        // the root password (password authentication)
	KeyFiles       []string      // private keys tried first (unencrypted ones; others are skipped)
	KnownHosts     string        // the known_hosts file the host keys are checked against
	ConnectTimeout time.Duration // TCP connect and SSH handshake
}

// DefaultKnownHosts is root's known_hosts file.
const DefaultKnownHosts = "/root/.ssh/known_hosts"

// DefaultKeyFiles are the private keys of the user's ~/.ssh that are tried
// before the password.
func DefaultKeyFiles(home string) []string {
	var out []string
	for _, n := range []string{"id_ed25519", "id_ecdsa", "id_rsa"} {
		out = append(out, home+"/.ssh/"+n)
	}
	return out
}

// ErrHostKey is wrapped by the error of a server whose host key is not
// known or has changed: the connection is refused, never made.
var ErrHostKey = errors.New("host key not trusted")

// hostKeyError is a sentence that is ErrHostKey.
type hostKeyError string

func (e hostKeyError) Error() string        { return string(e) }
func (e hostKeyError) Is(target error) bool { return target == ErrHostKey }

func hostKeyErrorf(format string, args ...any) error {
	return hostKeyError(fmt.Sprintf(format, args...))
}

// SSHTarget runs scripts on another server over one SSH connection, made
// at the first Run.
type SSHTarget struct {
	Name, Address string // the server's host name (for messages) and its address
	cfg           SSHConfig

	mu     sync.Mutex
	client *ssh.Client
}

// NewSSHTarget is the target for the server at address.
func NewSSHTarget(name, address string, cfg SSHConfig) *SSHTarget {
	if cfg.Port == 0 {
		cfg.Port = 22
	}
	if cfg.User == "" {
		cfg.User = "root"
	}
	if cfg.ConnectTimeout == 0 {
		cfg.ConnectTimeout = 10 * time.Second
	}
	if cfg.KnownHosts == "" {
		cfg.KnownHosts = DefaultKnownHosts
	}
	return &SSHTarget{Name: name, Address: address, cfg: cfg}
}

func (t *SSHTarget) hostPort() string {
	return net.JoinHostPort(t.Address, strconv.Itoa(t.cfg.Port))
}

// connect dials the server once; the host key must be in the known_hosts
// file as it is.
func (t *SSHTarget) connect(ctx context.Context) (*ssh.Client, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.client != nil {
		return t.client, nil
	}
	check, err := knownhosts.New(t.cfg.KnownHosts)
	if err != nil {
		return nil, hostKeyErrorf("the known hosts file %s does not read (%v); add the servers' host keys to it with ssh-keyscan, e.g. ssh-keyscan -p %d %s >> %s",
			t.cfg.KnownHosts, err, t.cfg.Port, t.Address, t.cfg.KnownHosts)
	}
	var keyErr error
	hostKey := func(hostname string, remote net.Addr, key ssh.PublicKey) error {
		if err := check(hostname, remote, key); err != nil {
			keyErr = t.hostKeyError(err, key)
			return keyErr
		}
		return nil
	}
	var auth []ssh.AuthMethod
	if signers := loadSigners(t.cfg.KeyFiles); len(signers) > 0 {
		auth = append(auth, ssh.PublicKeys(signers...))
	}
	if t.cfg.Password != "" {
		auth = append(auth, ssh.Password(t.cfg.Password))
	}
	if len(auth) == 0 {
		return nil, fmt.Errorf("no root password given to sign in to %s over SSH", t.Address)
	}
	conf := &ssh.ClientConfig{User: t.cfg.User, Auth: auth, HostKeyCallback: hostKey, Timeout: t.cfg.ConnectTimeout}
	dctx, cancel := context.WithTimeout(ctx, t.cfg.ConnectTimeout)
	defer cancel()
	conn, err := (&net.Dialer{}).DialContext(dctx, "tcp", t.hostPort())
	if err != nil {
		return nil, fmt.Errorf("cannot reach %s over SSH: %v; check that the server is up and sshd listens on port %d", t.hostPort(), err, t.cfg.Port)
	}
	conn.SetDeadline(time.Now().Add(t.cfg.ConnectTimeout))
	c, chans, reqs, err := ssh.NewClientConn(conn, t.hostPort(), conf)
	if err != nil {
		conn.Close()
		switch {
		case keyErr != nil:
			return nil, keyErr
		case strings.Contains(err.Error(), "unable to authenticate"):
			return nil, fmt.Errorf("%s refused the sign-in as %s over SSH; check the root password", t.hostPort(), t.cfg.User)
		}
		return nil, fmt.Errorf("SSH to %s failed: %v", t.hostPort(), err)
	}
	conn.SetDeadline(time.Time{})
	t.client = ssh.NewClient(c, chans, reqs)
	return t.client, nil
}

// hostKeyError is the sentence for a host key that is not trusted.
func (t *SSHTarget) hostKeyError(err error, key ssh.PublicKey) error {
	fp := ssh.FingerprintSHA256(key)
	var ke *knownhosts.KeyError
	if errors.As(err, &ke) && len(ke.Want) > 0 {
		w := ke.Want[0]
		return hostKeyErrorf("the host key of %s (%s, %s %s) is not the one in %s line %d: it changed, or another machine answers at that address; if the server was reinstalled, remove the old key with ssh-keygen -R '%s' -f %s and add the new one with ssh-keyscan -p %d %s >> %s",
			t.Name, t.hostPort(), key.Type(), fp, w.Filename, w.Line, knownhosts.Normalize(t.hostPort()), t.cfg.KnownHosts, t.cfg.Port, t.Address, t.cfg.KnownHosts)
	}
	if errors.As(err, &ke) {
		return hostKeyErrorf("the host key of %s (%s, %s %s) is unknown: it is not in %s; add it with ssh-keyscan -p %d %s >> %s after checking its fingerprint on the server (ssh-keygen -lf /etc/ssh/ssh_host_*_key.pub)",
			t.Name, t.hostPort(), key.Type(), fp, t.cfg.KnownHosts, t.cfg.Port, t.Address, t.cfg.KnownHosts)
	}
	return hostKeyErrorf("the host key of %s (%s) was refused: %v", t.Name, t.hostPort(), err)
}

// loadSigners reads the key files that exist and need no passphrase.
func loadSigners(files []string) []ssh.Signer {
	var out []ssh.Signer
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			continue
		}
		if s, err := ssh.ParsePrivateKey(data); err == nil {
			out = append(out, s)
		}
	}
	return out
}

// Run implements Target: the script runs in one SSH session, with stdin
// (secrets are given there, never on a command line).
func (t *SSHTarget) Run(ctx context.Context, script string, stdin io.Reader) (string, error) {
	c, err := t.connect(ctx)
	if err != nil {
		return "", err
	}
	sess, err := c.NewSession()
	if err != nil {
		return "", fmt.Errorf("SSH to %s: opening a session: %v", t.hostPort(), err)
	}
	defer sess.Close()
	var out, errb bytes.Buffer
	sess.Stdin, sess.Stdout, sess.Stderr = stdin, &out, &errb
	if err := sess.Start(script); err != nil {
		return "", fmt.Errorf("SSH to %s: starting the command: %v", t.hostPort(), err)
	}
	done := make(chan error, 1)
	go func() { done <- sess.Wait() }()
	select {
	case err = <-done:
	case <-ctx.Done():
		sess.Signal(ssh.SIGKILL)
		sess.Close()
		<-done
		return out.String(), &CommandError{Code: -1, Stderr: errb.String(), Err: fmt.Errorf("on %s: %w", t.Name, ctx.Err())}
	}
	if err != nil {
		code := -1
		var ee *ssh.ExitError
		if errors.As(err, &ee) {
			code = ee.ExitStatus()
		}
		return out.String(), &CommandError{Code: code, Stderr: errb.String(), Err: err}
	}
	return out.String(), nil
}

// Close implements Target.
func (t *SSHTarget) Close() error {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.client == nil {
		return nil
	}
	err := t.client.Close()
	t.client = nil
	return err
}
