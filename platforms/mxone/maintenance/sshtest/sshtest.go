// Package sshtest is an in-process SSH server for the tests of the MX-ONE
// maintenance (platforms/mxone/maintenance and cmd/cld's menu test): it
// stands for one MX-ONE server's sshd. Password authentication only, as
// the given user; every exec request runs with `sh -c` in the server's
// directory with the server's environment (its own PATH and CLD_CONFIG),
// standard input, output, error and the exit status passed through.
package sshtest

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/subtle"
	"errors"
	"fmt"
	"io"
	"net"
	"os/exec"
	"sync"
	"time"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"
)

// Config is one server.
type Config struct {
	Addr     string   // where to listen, e.g. 127.0.0.12:0
	Dir      string   // the commands' working directory
	Env      []string // the commands' whole environment
	User     string   // default root
	Password string
}

// Server is a running SSH server.
type Server struct {
	Addr    string        // host:port it listens on
	HostKey ssh.PublicKey // its host key

	cfg    Config
	ln     net.Listener
	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu    sync.Mutex
	conns map[net.Conn]bool
	execs []string
}

// Start starts a server with a new ed25519 host key.
func Start(cfg Config) (*Server, error) {
	if cfg.User == "" {
		cfg.User = "root"
	}
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, err
	}
	signer, err := ssh.NewSignerFromKey(priv)
	if err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	s := &Server{Addr: ln.Addr().String(), HostKey: signer.PublicKey(), cfg: cfg, ln: ln, ctx: ctx, cancel: cancel, conns: map[net.Conn]bool{}}
	conf := &ssh.ServerConfig{PasswordCallback: func(c ssh.ConnMetadata, pw []byte) (*ssh.Permissions, error) {
		if c.User() == cfg.User && subtle.ConstantTimeCompare(pw, []byte(cfg.Password)) == 1 {
			return nil, nil
		}
		return nil, errors.New("wrong user or password")
	}}
	conf.AddHostKey(signer)
	s.wg.Add(1)
	go s.accept(conf)
	return s, nil
}

// KnownHostsLine is the server's line for a known_hosts file.
func (s *Server) KnownHostsLine() string {
	return knownhosts.Line([]string{knownhosts.Normalize(s.Addr)}, s.HostKey)
}

// Execs are the commands run so far.
func (s *Server) Execs() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.execs...)
}

// Close stops the server, its connections and their commands.
func (s *Server) Close() {
	s.cancel()
	s.ln.Close()
	s.mu.Lock()
	for c := range s.conns {
		c.Close()
	}
	s.mu.Unlock()
	s.wg.Wait()
}

func (s *Server) accept(conf *ssh.ServerConfig) {
	defer s.wg.Done()
	for {
		c, err := s.ln.Accept()
		if err != nil {
			return
		}
		s.mu.Lock()
		s.conns[c] = true
		s.mu.Unlock()
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			defer func() {
				c.Close()
				s.mu.Lock()
				delete(s.conns, c)
				s.mu.Unlock()
			}()
			s.serve(c, conf)
		}()
	}
}

func (s *Server) serve(c net.Conn, conf *ssh.ServerConfig) {
	c.SetDeadline(time.Now().Add(10 * time.Second))
	sc, chans, reqs, err := ssh.NewServerConn(c, conf)
	if err != nil {
		return
	}
	c.SetDeadline(time.Time{})
	defer sc.Close()
	var wg sync.WaitGroup
	defer wg.Wait()
	wg.Add(1)
	go func() { defer wg.Done(); ssh.DiscardRequests(reqs) }()
	for nc := range chans {
		if nc.ChannelType() != "session" {
			nc.Reject(ssh.UnknownChannelType, "only sessions")
			continue
		}
		ch, creqs, err := nc.Accept()
		if err != nil {
			continue
		}
		wg.Add(1)
		go func() { defer wg.Done(); s.session(ch, creqs) }()
	}
}

// session answers one session's requests: env is ignored, exec runs.
func (s *Server) session(ch ssh.Channel, reqs <-chan *ssh.Request) {
	defer ch.Close()
	for req := range reqs {
		if req.Type != "exec" {
			req.Reply(false, nil)
			continue
		}
		var p struct{ Command string }
		if err := ssh.Unmarshal(req.Payload, &p); err != nil {
			req.Reply(false, nil)
			continue
		}
		req.Reply(true, nil)
		s.mu.Lock()
		s.execs = append(s.execs, p.Command)
		s.mu.Unlock()
		code := s.run(p.Command, ch)
		ch.SendRequest("exit-status", false, ssh.Marshal(struct{ Status uint32 }{uint32(code)}))
		return
	}
}

func (s *Server) run(command string, ch ssh.Channel) int {
	cmd := exec.CommandContext(s.ctx, "sh", "-c", command)
	cmd.Dir, cmd.Env = s.cfg.Dir, s.cfg.Env
	cmd.Stdout, cmd.Stderr = ch, ch.Stderr()
	cmd.WaitDelay = 5 * time.Second
	stdin, err := cmd.StdinPipe()
	if err != nil {
		fmt.Fprintln(ch.Stderr(), err)
		return 255
	}
	if err := cmd.Start(); err != nil {
		fmt.Fprintln(ch.Stderr(), err)
		return 127
	}
	go func() { io.Copy(stdin, ch); stdin.Close() }()
	err = cmd.Wait()
	var ee *exec.ExitError
	switch {
	case err == nil:
		return 0
	case errors.As(err, &ee) && ee.ExitCode() >= 0:
		return ee.ExitCode()
	}
	fmt.Fprintln(ch.Stderr(), err)
	return 255
}
