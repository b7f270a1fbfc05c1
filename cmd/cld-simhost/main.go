// Command cld-simhost serves a simulated telephony host's management web
// UIs (platforms/simhost) on local HTTPS ports with a self-signed
// certificate, for the demo and the tests of reverse tunnels:
//
//	cld-simhost [--listen-server-manager HOST:PORT] [--listen-mbg HOST:PORT]
//	            [--dir DIR] [--username admin] [--password admin]
//
// An empty listen address leaves that UI out. The certificate is written to
// DIR/cert.pem when --dir is given. It runs until SIGINT or SIGTERM.
//
// Exit codes: 0 success, 1 serving failed, 2 usage error.
package main

import "os"

func main() { os.Exit(run(os.Args[1:], os.Stdout, os.Stderr)) }
