// Command cld is the CloudLink daemon and its command-line interface.
//
//	cld run [flags]                  run the daemon
//	cld status [--json]              show the link state
//	cld link --username U …          link this host to a CloudLink account
//	cld unlink                       disconnect this host from CloudLink
//	cld dashboard-user --username U  set a dashboard account
//	cld tunnel list|start|stop|…     the host's tunnels
//	cld inventory status|preview|submit  inventory reports
//	cld doctor [--json]              prerequisite checks with remedies
//	cld version                      show the version
//
// Every command except run talks to the daemon's local API over its unix
// socket (agent/client). Exit codes: 0 success, 1 the operation failed (the
// message says why and what to do), 2 usage error.
package main

import (
	"os"

	"github.com/cloudlink/cld/cmd/internal/cpuprofile"
)

func main() {
	stop := func() {}
	if len(os.Args) > 1 && os.Args[1] == "run" {
		stop = cpuprofile.Start(os.Stderr)
	}
	code := run(os.Args[1:], os.Stdin, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}
