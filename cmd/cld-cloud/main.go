// Command cld-cloud is the reference CloudLink platform: it serves the
// OAuth sign-in, the system registry and the portal over HTTPS with its own
// CA, and manages its accounts and users.
//
//	cld-cloud serve --data DIR --listen HOST:PORT [--demo] [--hostname NAME]... [--token-ttl 1h]
//	cld-cloud account add --data DIR --id N --name NAME --region R [--partner-id P]
//	cld-cloud account list --data DIR
//	cld-cloud user add --data DIR --email E --account N [--admin] [--password-stdin]
//	cld-cloud user list --data DIR
//	cld-cloud report list --data DIR --system ID
//	cld-cloud report show --data DIR --system ID [--id REPORT]
//	cld-cloud directory --data DIR --account N [--json]
//	cld-cloud clock offset --data DIR DURATION
//	cld-cloud clock show --data DIR
//	cld-cloud release keygen --out DIR
//	cld-cloud release publish --data DIR --stage S --binary FILE --key KEY --version V [--arch A] [--min-version V] [--notes T]
//	cld-cloud release list --data DIR [--stage S]
//	cld-cloud release withdraw --data DIR --stage S --version V
//	cld-cloud system stage --data DIR --system ID --stage S
//
// Exit codes: 0 success, 1 the operation failed, 2 usage error.
package main

import (
	"os"

	"github.com/cloudlink/cld/cmd/internal/cpuprofile"
)

func main() {
	stop := func() {}
	if len(os.Args) > 1 && os.Args[1] == "serve" {
		stop = cpuprofile.Start(os.Stderr)
	}
	code := run(os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}
