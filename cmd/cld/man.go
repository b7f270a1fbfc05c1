package main

import (
	"bytes"
	"fmt"
	"strings"
)

// manCommands are the commands the man page describes, in its order; each
// one's section is its own usage (`cld help COMMAND`).
var manCommands = []string{"run", "status", "link", "unlink", "tunnel", "inventory", "update", "gateway", "mxone", "pm", "doctor", "dashboard-user", "support-bundle", "version"}

// manPage is cld(8) of the release version in roff, made from the same text as `cld -h` and each
// command's -h, so that the two cannot disagree (packaging/cld.8 is this,
// committed; a test fails when it is stale).
func manPage(version string) string {
	var b strings.Builder
	w := func(format string, a ...any) { fmt.Fprintf(&b, format+"\n", a...) }
	w(`.TH CLD 8 "" "cld %s" "System Administration"`, version)
	w(".SH NAME")
	w(`cld \- the CloudLink daemon and its command-line interface`)
	w(".SH SYNOPSIS")
	w(`.B cld
.RI [ "global flags" ]
.I command
.RI [ flags ]`)
	w(".SH DESCRIPTION")
	w(`cld links a telephony host to a CloudLink account, sends inventory reports, updates itself on a schedule, warns about clock drift and opens reverse tunnels so that the cloud portal can reach the host's management web interfaces. \fBcld run\fR is the daemon (the systemd service \fBcld\fR); the other commands talk to it over its local API.`)
	w(".SH OVERVIEW")
	w(".nf")
	b.WriteString(roffText(usageText))
	w(".fi")
	w(".SH COMMANDS")
	for _, cmd := range manCommands {
		var out bytes.Buffer
		run([]string{"help", cmd}, strings.NewReader(""), &out, &out)
		w(".SS %s", cmd)
		w(".nf")
		b.WriteString(roffText(out.String()))
		w(".fi")
	}
	w(".SH FILES")
	for _, f := range [][2]string{
		{"/etc/cld/cld.yaml", "the configuration (0600); \\fBsystemctl reload cld\\fR applies a change"},
		{"/var/lib/cld", "the state (0700): the link's credentials, dashboard accounts, tunnels, inventory outbox, the self-update's state"},
		{"/var/lib/cld/update", "the self-updates: bin/cld (run by the launcher in /usr/bin/cld when newer and verified), bin/cld.prev, installed.json, outcome.json, download/"},
		{"/run/cld/cld.sock", "the local API's socket (0600)"},
	} {
		w(".TP\n.I %s\n%s", f[0], f[1])
	}
	w(".SH EXIT STATUS")
	w("0 success, 1 the operation failed (the message says why and what to do), 2 a usage error; \\fBcld run\\fR exits 75 to be started again after a self-update.")
	w(".SH SEE ALSO")
	w(`.BR systemctl (1),
.BR journalctl (1)`)
	return b.String()
}

// roffText makes plain text safe inside .nf: backslashes doubled, lines
// that start with a dot or quote escaped.
func roffText(s string) string {
	var b strings.Builder
	for _, l := range strings.Split(strings.TrimRight(s, "\n"), "\n") {
		l = strings.ReplaceAll(l, `\`, `\e`)
		if strings.HasPrefix(l, ".") || strings.HasPrefix(l, "'") {
			l = `\&` + l
		}
		b.WriteString(l + "\n")
	}
	return b.String()
}
