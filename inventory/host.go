package inventory

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net/netip"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strconv"
	"strings"

	"github.com/shirou/gopsutil/v4/common"
	"github.com/shirou/gopsutil/v4/cpu"
	"github.com/shirou/gopsutil/v4/disk"
	"github.com/shirou/gopsutil/v4/host"
	"github.com/shirou/gopsutil/v4/mem"
	psnet "github.com/shirou/gopsutil/v4/net"
)

// env is what the collectors share: the config and the file system roots.
type env struct {
	cfg  *Config
	root string // "/" on the real host
	real bool   // the real host: system calls may fill what files cannot
}

func newEnv(cfg *Config) *env {
	root := filepath.Clean(cfg.Root)
	if cfg.Root == "" {
		root = "/"
	}
	return &env{cfg: cfg, root: root, real: root == "/"}
}

// path is name (e.g. "proc/meminfo") under the root.
func (e *env) path(name string) string { return filepath.Join(e.root, name) }

// read returns the trimmed content of name under the root.
func (e *env) read(name string) (string, error) {
	b, err := os.ReadFile(e.path(name))
	if err != nil {
		return "", err
	}
	return strings.TrimSpace(string(b)), nil
}

// ps is ctx carrying the roots for gopsutil (its context form, so the
// process environment is never touched).
func (e *env) ps(ctx context.Context) context.Context {
	return context.WithValue(ctx, common.EnvKey, common.EnvMap{
		common.HostProcEnvKey: e.path("proc"),
		common.HostSysEnvKey:  e.path("sys"),
		common.HostEtcEnvKey:  e.path("etc"),
		common.HostRootEnvKey: e.root,
	})
}

// hasDir reports whether name under the root is a directory with entries.
func (e *env) hasDir(name string) bool {
	f, err := os.Open(e.path(name))
	if err != nil {
		return false
	}
	defer f.Close()
	names, _ := f.Readdirnames(1)
	return len(names) > 0
}

// hostOf is the report's Host section, created on first use.
func hostOf(r *Report) *Host {
	if r.Host == nil {
		r.Host = &Host{}
	}
	return r.Host
}

// collectHost reads the host name, OS, kernel, architecture, uptime and
// whether the daemon runs in a container.
func collectHost(ctx context.Context, e *env) (func(*Report), error) {
	if !e.hasDir("proc") && !e.hasDir("etc") {
		return nil, noData("no /proc or /etc under %s", e.root)
	}
	var h Host
	h.Hostname, _ = e.read("proc/sys/kernel/hostname")
	if h.Hostname == "" {
		h.Hostname, _ = e.read("etc/hostname")
	}
	if h.Hostname == "" && e.real {
		h.Hostname, _ = os.Hostname()
	}
	h.OS = osRelease(e)
	h.Kernel, _ = e.read("proc/sys/kernel/osrelease")
	if h.Kernel == "" && e.real {
		h.Kernel, _ = host.KernelVersionWithContext(ctx)
	}
	h.Arch, _ = e.read("proc/sys/kernel/arch")
	if h.Arch == "" && e.real {
		h.Arch, _ = host.KernelArch()
	}
	if up, err := e.read("proc/uptime"); err == nil {
		if f, _, ok := strings.Cut(up, " "); ok {
			if s, err := strconv.ParseFloat(f, 64); err == nil && s >= 0 {
				h.UptimeSeconds = uint64(s)
			}
		}
	}
	if h.UptimeSeconds == 0 && e.real {
		h.UptimeSeconds, _ = host.UptimeWithContext(ctx)
	}
	h.Container = container(ctx, e)
	if reflect.ValueOf(h).IsZero() {
		return nil, noData("no host facts under %s", e.root)
	}
	return func(r *Report) {
		x := hostOf(r)
		x.Hostname, x.OS, x.Kernel, x.Arch, x.UptimeSeconds, x.Container = h.Hostname, h.OS, h.Kernel, h.Arch, h.UptimeSeconds, h.Container
	}, ctx.Err()
}

// osRelease is "ID VERSION" from os-release, with Debian's point release.
func osRelease(e *env) string {
	var kv map[string]string
	for _, name := range []string{"etc/os-release", "usr/lib/os-release"} {
		b, err := os.ReadFile(e.path(name))
		if err != nil {
			continue
		}
		kv = map[string]string{}
		sc := bufio.NewScanner(bytes.NewReader(b))
		for sc.Scan() {
			k, v, ok := strings.Cut(strings.TrimSpace(sc.Text()), "=")
			if !ok || strings.HasPrefix(k, "#") {
				continue
			}
			kv[k] = strings.Trim(v, `"'`)
		}
		break
	}
	if kv == nil {
		return ""
	}
	id, version := kv["ID"], kv["VERSION_ID"]
	if id == "debian" {
		if v, err := e.read("etc/debian_version"); err == nil && v != "" && v[0] >= '0' && v[0] <= '9' {
			version = v
		}
	}
	if id == "" {
		id = kv["NAME"]
	}
	return strings.TrimSpace(id + " " + version)
}

// containerSystems are gopsutil's virtualization systems that are
// containers (the others are virtual machines).
var containerSystems = []string{"docker", "lxc", "podman", "rkt", "openvz", "linux-vserver", "systemd-nspawn", "containerd", "kubepods"}

// container names the container the daemon runs in, "" on a host or VM.
func container(ctx context.Context, e *env) string {
	if e.real {
		// gopsutil caches its answer for the process, so it is asked only
		// about the real host.
		if sys, role, err := host.VirtualizationWithContext(ctx); err == nil && role == "guest" && slices.Contains(containerSystems, sys) {
			return sys
		}
	}
	// The same signs, read under the root (also for what gopsutil misses).
	if _, err := os.Stat(e.path(".dockerenv")); err == nil {
		return "docker"
	}
	if _, err := os.Stat(e.path("run/.containerenv")); err == nil {
		return "podman"
	}
	if b, err := os.ReadFile(e.path("proc/1/environ")); err == nil {
		for _, kv := range bytes.Split(b, []byte{0}) {
			if v, ok := bytes.CutPrefix(kv, []byte("container=")); ok && len(v) > 0 && len(v) < 40 {
				return string(v)
			}
		}
	}
	if b, err := os.ReadFile(e.path("proc/self/cgroup")); err == nil {
		s := string(b)
		for _, c := range []string{"kubepods", "docker", "lxc", "containerd"} {
			if strings.Contains(s, c) {
				return c
			}
		}
	}
	return ""
}

// collectCPU reads the CPU model and the number of logical CPUs.
func collectCPU(ctx context.Context, e *env) (func(*Report), error) {
	if _, err := os.Stat(e.path("proc/cpuinfo")); err != nil {
		return nil, sourceErr("proc/cpuinfo", err)
	}
	pctx := e.ps(ctx)
	infos, err := cpu.InfoWithContext(pctx)
	if err != nil {
		return nil, fmt.Errorf("reading the CPUs: %w", err)
	}
	n, err := cpu.CountsWithContext(pctx, true)
	if err != nil {
		return nil, fmt.Errorf("counting the CPUs: %w", err)
	}
	model := ""
	if len(infos) > 0 {
		model = strings.Join(strings.Fields(infos[0].ModelName), " ")
	}
	if model == "" && n == 0 {
		return nil, noData("no CPU in /proc/cpuinfo")
	}
	return func(r *Report) { h := hostOf(r); h.CPUModel, h.CPUCores = model, n }, ctx.Err()
}

// collectMemory reads the total memory.
func collectMemory(ctx context.Context, e *env) (func(*Report), error) {
	if _, err := os.Stat(e.path("proc/meminfo")); err != nil {
		return nil, sourceErr("proc/meminfo", err)
	}
	vm, err := mem.VirtualMemoryWithContext(e.ps(ctx))
	if err != nil {
		return nil, fmt.Errorf("reading the memory: %w", err)
	}
	if vm.Total == 0 {
		return nil, noData("no MemTotal in /proc/meminfo")
	}
	return func(r *Report) { hostOf(r).MemoryBytes = vm.Total }, ctx.Err()
}

// collectDisk reads the size and free space of the file system that holds
// the state directory.
func collectDisk(ctx context.Context, e *env) (func(*Report), error) {
	if e.cfg.StateDir == "" {
		return nil, noData("no state directory")
	}
	u, err := disk.UsageWithContext(e.ps(ctx), e.cfg.StateDir)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, noData("the state directory %s does not exist", e.cfg.StateDir)
		}
		return nil, fmt.Errorf("reading the disk of %s: %w", e.cfg.StateDir, err)
	}
	return func(r *Report) { h := hostOf(r); h.DiskBytes, h.DiskFreeBytes = u.Total, u.Free }, ctx.Err()
}

// collectNetwork lists the addresses of the interfaces that are up, without
// loopback.
func collectNetwork(ctx context.Context, e *env) (func(*Report), error) {
	list := e.cfg.Interfaces
	if list == nil {
		if !e.real {
			return nil, noData("interfaces are read only on the real host")
		}
		list = realInterfaces
	}
	ifs, err := list(ctx)
	if err != nil {
		return nil, fmt.Errorf("listing the network interfaces: %w", err)
	}
	addrs := Addresses(ifs)
	if len(addrs) == 0 {
		return nil, noData("no interface is up with an address")
	}
	return func(r *Report) { hostOf(r).Addresses = addrs }, ctx.Err()
}

// realInterfaces lists the host's interfaces through gopsutil.
func realInterfaces(ctx context.Context) ([]Interface, error) {
	list, err := psnet.InterfacesWithContext(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]Interface, 0, len(list))
	for _, i := range list {
		x := Interface{Name: i.Name, Up: slices.Contains(i.Flags, "up"), Loop: slices.Contains(i.Flags, "loopback")}
		for _, a := range i.Addrs {
			x.Addrs = append(x.Addrs, a.Addr)
		}
		out = append(out, x)
	}
	return out, nil
}

// Addresses are the IP addresses of the interfaces that are up, without
// loopback and link-local addresses, deduplicated, in interface order.
func Addresses(ifs []Interface) []string {
	var out []string
	for _, i := range ifs {
		if !i.Up || i.Loop {
			continue
		}
		for _, a := range i.Addrs {
			var ip netip.Addr
			if p, err := netip.ParsePrefix(a); err == nil {
				ip = p.Addr()
			} else if ip, err = netip.ParseAddr(a); err != nil {
				continue
			}
			ip = ip.Unmap()
			if ip.IsLoopback() || ip.IsLinkLocalUnicast() || ip.IsUnspecified() || ip.IsMulticast() {
				continue
			}
			s := ip.WithZone("").String()
			if !slices.Contains(out, s) {
				out = append(out, s)
			}
		}
	}
	return out
}

// collectTimeZone reads the host's time zone name.
func collectTimeZone(ctx context.Context, e *env) (func(*Report), error) {
	tz, _ := e.read("etc/timezone")
	if tz == "" {
		if target, err := os.Readlink(e.path("etc/localtime")); err == nil {
			if _, name, ok := strings.Cut(target, "zoneinfo/"); ok {
				tz = name
			}
		}
	}
	if tz == "" && e.real {
		tz = os.Getenv("TZ")
	}
	if tz == "" || len(tz) > 64 || strings.ContainsAny(tz, "\n\x00") {
		return nil, noData("no /etc/timezone or /etc/localtime link")
	}
	return func(r *Report) { hostOf(r).TimeZone = tz }, ctx.Err()
}

// sourceErr is no_data for an absent file, else a failure.
func sourceErr(name string, err error) error {
	if errors.Is(err, fs.ErrNotExist) {
		return noData("no /%s", name)
	}
	return fmt.Errorf("/%s: %w", name, err)
}
