package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"time"
)

// proc is a process of the bench (the cloud, the daemon, a peer's server
// or agent), logging into dir/name.log.
type proc struct {
	dir, name, bin string
	args           []string
	env            []string // more environment, after the bench's own
	cmd            *exec.Cmd
	done           chan struct{}
}

func startProc(dir, name, bin string, args ...string) (*proc, error) {
	p := &proc{dir: dir, name: name, bin: bin, args: args}
	return p, p.start()
}

func (p *proc) start() error {
	logf, err := os.OpenFile(filepath.Join(p.dir, p.name+".log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return err
	}
	p.cmd = exec.Command(p.bin, p.args...)
	p.cmd.Stdout, p.cmd.Stderr = logf, logf
	p.cmd.Env = append(os.Environ(), p.env...)
	if err := p.cmd.Start(); err != nil {
		logf.Close()
		return fmt.Errorf("starting %s: %w", p.name, err)
	}
	done := make(chan struct{})
	p.done = done
	go func() { p.cmd.Wait(); logf.Close(); close(done) }()
	return nil
}

func (p *proc) pid() int { return p.cmd.Process.Pid }

// restart kills the process with -9, starts it again and waits until it
// listens on addr.
func (p *proc) restart(addr string) error {
	p.cmd.Process.Kill()
	<-p.done
	if err := p.start(); err != nil {
		return err
	}
	return waitForFast(30*time.Second, func() error { return dial(addr) })
}

func (p *proc) stop() {
	if p == nil || p.cmd == nil || p.cmd.Process == nil {
		return
	}
	p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(2 * time.Second):
		p.cmd.Process.Kill()
		<-p.done
	}
}
