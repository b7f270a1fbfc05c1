package msl

import (
	"errors"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/cloudlink/cld/platforms"
)

// DefaultGatewayDir is where CloudLink Gateway core instances are
// installed, one directory each (the layout platforms/gateway drives:
// <instance>/VERSION, <instance>/etc/clgw.conf with REST_PORT and
// REST_SCHEME).
const DefaultGatewayDir = "/opt/mitel/clgw"

// GatewayInstall is the co-located CloudLink Gateway core as installed.
type GatewayInstall struct {
	// Instances are the instances' names, sorted.
	Instances []string
	// Version is the instance's version (with several: theirs when they
	// all have the same, else "").
	Version string
	// Address is the REST interface of the one instance
	// (REST_SCHEME://127.0.0.1:REST_PORT); "" with several instances (the
	// gateway driver warns of them) or without a usable REST_PORT.
	Address string
}

// ReadGateway finds the gateway core's instances under root/dir: each
// directory holding VERSION or etc/clgw.conf. nil when there is none.
func ReadGateway(root, dir string) (*GatewayInstall, error) {
	entries, err := os.ReadDir(filepath.Join(root, filepath.FromSlash(dir)))
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	g := &GatewayInstall{}
	var versions []string
	for _, e := range entries {
		if !e.IsDir() {
			continue
		}
		base := path.Join(dir, e.Name())
		v, verr := platforms.ReadFile(root, path.Join(base, "VERSION"))
		conf, cerr := platforms.ReadKeyValues(root, path.Join(base, "etc/clgw.conf"))
		if errors.Is(verr, platforms.ErrNotDetected) && errors.Is(cerr, platforms.ErrNotDetected) {
			continue
		}
		v, _, _ = strings.Cut(v, "\n")
		g.Instances = append(g.Instances, e.Name())
		versions = append(versions, strings.TrimSpace(v))
		g.Address = restAddress(conf)
	}
	switch len(g.Instances) {
	case 0:
		return nil, nil
	case 1:
	default:
		g.Address = ""
	}
	if !slices.ContainsFunc(versions, func(v string) bool { return v != versions[0] }) {
		g.Version = versions[0]
	}
	return g, nil
}

// restAddress is the REST interface's local address in a clgw.conf.
func restAddress(conf map[string]string) string {
	port, err := strconv.Atoi(conf["REST_PORT"])
	if err != nil || port < 1 || port > 65535 {
		return ""
	}
	scheme := strings.ToLower(conf["REST_SCHEME"])
	switch scheme {
	case "":
		scheme = "http"
	case "http", "https":
	default:
		return ""
	}
	return scheme + "://127.0.0.1:" + strconv.Itoa(port)
}
