// Tests of the packages as an operator meets them: the unit's lint, lintian
// and rpm's checks, and the .deb and .rpm installed, upgraded, removed and
// purged for real in a Debian root made with debootstrap (cached outside
// the checkout, keyed by its inputs).
package packaging_test

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"

	"aead.dev/minisign"

	"github.com/cloudlink/cld/updater"
)

// need fails (in CI) or skips (elsewhere) when a tool is missing; `make
// deps` installs them all.
func need(t *testing.T, tools ...string) {
	t.Helper()
	for _, tool := range tools {
		if _, err := exec.LookPath(tool); err != nil {
			if os.Getenv("CI") != "" {
				t.Fatalf("%s is not installed; `make deps` installs it", tool)
			}
			t.Skipf("%s is not installed; run `make deps`", tool)
		}
	}
	if os.Geteuid() != 0 {
		t.Skip("installing packages into a root needs root")
	}
}

func run(t *testing.T, name string, args ...string) string {
	t.Helper()
	out, err := runErr(name, args...)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// runErr is run for the builds, which are made outside any one test.
func runErr(name string, args ...string) (string, error) {
	out, err := exec.Command(name, args...).CombinedOutput()
	if err != nil {
		return string(out), fmt.Errorf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
	return string(out), nil
}

// workDir holds what the tests share (the packages, checktool), made by
// TestMain and removed when the tests are done.
var workDir string

// parallel is how many tests run at once unless -parallel says: all of
// them. They mostly wait on containers, package tools and builds, so
// go test's default (GOMAXPROCS, 2 on CI's machine) would run the
// containers one after the other.
const parallel = 8

func TestMain(m *testing.M) {
	flag.Parse()
	set := false
	flag.Visit(func(f *flag.Flag) { set = set || f.Name == "test.parallel" })
	if !set {
		flag.Set("test.parallel", fmt.Sprint(parallel))
	}
	dir, err := os.MkdirTemp("", "cld-packaging-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	workDir = dir
	code := m.Run()
	buildsRunning.Wait() // a build no test waited for (one failed first) must not write into a removed directory
	os.RemoveAll(dir)
	os.Exit(code)
}

// A shared build is made once per test binary, in a goroutine of its own,
// from the first test that asks for it; the tests that need it wait for it
// (so that the distinct builds a test asks for are made at the same time).
type shared[T any] struct {
	done chan struct{}
	v    T
	err  error
}

var (
	buildsMu      sync.Mutex
	builds        = map[string]any{}
	buildsRunning sync.WaitGroup
)

// startShared starts the build named key unless it is already started.
func startShared[T any](key string, build func() (T, error)) *shared[T] {
	buildsMu.Lock()
	defer buildsMu.Unlock()
	if b, ok := builds[key]; ok {
		return b.(*shared[T])
	}
	b := &shared[T]{done: make(chan struct{})}
	builds[key] = b
	buildsRunning.Add(1)
	go func() {
		defer buildsRunning.Done()
		defer close(b.done)
		b.v, b.err = build()
	}()
	return b
}

func (b *shared[T]) get(t *testing.T) T {
	t.Helper()
	v, err := b.wait()
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// wait returns the build's result once it is made.
func (b *shared[T]) wait() (T, error) {
	<-b.done
	return b.v, b.err
}

// all runs fns at the same time and returns once all are done, with their
// errors.
func all(fns ...func() error) error {
	errs := make([]error, len(fns))
	var wg sync.WaitGroup
	for i, fn := range fns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = fn()
		}()
	}
	wg.Wait()
	return errors.Join(errs...)
}

// background runs fn in a goroutine of its own and returns the wait for
// its error; the test's cleanup waits too (before its temporary
// directories go), should the test stop first.
func background(t *testing.T, fn func() error) (wait func() error) {
	var err error
	done := make(chan struct{})
	go func() {
		defer close(done)
		err = fn()
	}()
	wait = func() error {
		<-done
		return err
	}
	t.Cleanup(func() { wait() })
	return wait
}

// packages are built once per test binary, for amd64, with a build number
// of their own; those a test asks for are built at the same time.
type pkgs struct{ deb, rpm, bin string }

func buildPackages(t *testing.T, numbers ...string) []pkgs {
	t.Helper()
	started := startPackages(numbers...)
	out := make([]pkgs, len(numbers))
	for i, b := range started {
		out[i] = b.get(t)
	}
	return out
}

// startPackages starts the builds of the packages numbered numbers (those
// not started yet) and returns them, to be waited for with get.
func startPackages(numbers ...string) []*shared[pkgs] {
	started := make([]*shared[pkgs], len(numbers))
	for i, n := range numbers {
		started[i] = startShared("packages "+n, func() (pkgs, error) {
			return makePackages(filepath.Join(workDir, "dist-"+n), n, "", "", "deb,rpm")
		})
	}
	return started
}

// makePackages runs `make packages` for amd64 into dist, with build number
// build, the package formats ("deb,rpm" or one of them; pkgs has no path
// for the other) and, when not empty, the release key and extra build tags.
// nfpm-build is built once for all.
func makePackages(dist, build, key, tags, formats string) (pkgs, error) {
	nfpm, err := nfpmBuild().wait()
	if err != nil {
		return pkgs{}, err
	}
	args := []string{"-C", "..", "--no-print-directory", "packages", "PKG_ARCHES=amd64", "PKG_FORMATS=" + formats,
		"NFPM_BUILD=" + nfpm, "BUILD=" + build, "DIST=" + dist}
	if key != "" {
		args = append(args, "RELEASE_KEY="+key)
	}
	if tags != "" {
		args = append(args, "BUILD_TAGS="+tags)
	}
	if _, err := runErr("make", args...); err != nil {
		return pkgs{}, err
	}
	base, err := os.ReadFile("../VERSION")
	if err != nil {
		return pkgs{}, err
	}
	version := strings.TrimSpace(string(base)) + "+" + build
	p := pkgs{bin: filepath.Join(dist, "amd64", "cld")}
	if strings.Contains(formats, "deb") {
		p.deb = filepath.Join(dist, "cld_"+version+"-1_amd64.deb")
	}
	if strings.Contains(formats, "rpm") {
		p.rpm = filepath.Join(dist, "cld-"+version+"-1.x86_64.rpm")
	}
	for _, f := range []string{p.deb, p.rpm, p.bin} {
		if f == "" {
			continue
		}
		if _, err := os.Stat(f); err != nil {
			return pkgs{}, fmt.Errorf("make packages did not make %s: %v", f, err)
		}
	}
	return p, nil
}

// nfpmBuild is packaging/tools' nfpm-build, built once for every `make
// packages` of the tests.
func nfpmBuild() *shared[string] {
	return startShared("nfpm-build", func() (string, error) {
		out := filepath.Join(workDir, "nfpm-build")
		return out, goBuildErr("tools", out, ".")
	})
}

// checktool is packaging/testdata/checktool, built once for the container
// tests.
func checktool() *shared[string] {
	return startShared("checktool", func() (string, error) {
		out := filepath.Join(workDir, "checktool")
		return out, goBuildErr(".", out, "./testdata/checktool")
	})
}

func readFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestUnitLint runs systemd-analyze verify (any output fails: it only warns
// on bad values) and prints the offline security exposure, which must stay
// "OK" or better.
func TestUnitLint(t *testing.T) {
	t.Parallel()
	need(t, "systemd-analyze")
	p := buildPackages(t, "1")[0]
	dir := t.TempDir()
	unit := filepath.Join(dir, "cld.service")
	// The unit with ExecStart at the built binary, so that verify can check
	// that it is executable without installing it on this machine.
	text := strings.ReplaceAll(readFile(t, "cld.service"), "/usr/bin/cld", p.bin)
	if err := os.WriteFile(unit, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command("systemd-analyze", "verify", "--man=no", unit).CombinedOutput()
	if err != nil || len(bytes.TrimSpace(out)) != 0 {
		t.Errorf("systemd-analyze verify: %v\n%s", err, out)
	}
	sec := run(t, "systemd-analyze", "security", "--offline=true", unit)
	lines := strings.Split(strings.TrimSpace(sec), "\n")
	last := lines[len(lines)-1]
	t.Log(last)
	fmt.Println("unit exposure:", strings.TrimPrefix(last, "→ "))
	if !strings.Contains(last, " OK") && !strings.Contains(last, "SAFE") {
		t.Errorf("exposure is no longer OK: %s", last)
	}
}

// TestLintian: no errors on the .deb (the accepted warnings are listed in
// the README with their reasons).
func TestLintian(t *testing.T) {
	t.Parallel()
	need(t, "lintian")
	p := buildPackages(t, "1")[0]
	out, _ := exec.Command("lintian", "--tag-display-limit", "0", p.deb).CombinedOutput()
	var errs, warns []string
	for _, l := range strings.Split(string(out), "\n") {
		switch {
		case strings.HasPrefix(l, "E: "):
			errs = append(errs, l)
		case strings.HasPrefix(l, "W: "):
			warns = append(warns, l)
		}
	}
	for _, w := range warns {
		t.Log(w)
	}
	if len(errs) > 0 {
		t.Errorf("lintian errors:\n%s", strings.Join(errs, "\n"))
	}
}

// TestRPMChecks: rpm -K and rpm -qp --scripts succeed, and the scripts are
// ours.
func TestRPMChecks(t *testing.T) {
	t.Parallel()
	need(t, "rpm")
	p := buildPackages(t, "1")[0]
	if out := run(t, "rpm", "-K", p.rpm); !strings.Contains(out, "digests OK") {
		t.Errorf("rpm -K: %s", out)
	}
	out := run(t, "rpm", "-qp", "--scripts", p.rpm)
	for _, want := range []string{"postinstall scriptlet", "preuninstall scriptlet", "postuninstall scriptlet", "systemctl enable --now cld.service"} {
		if !strings.Contains(out, want) {
			t.Errorf("rpm --scripts lacks %q:\n%s", want, out)
		}
	}
	if out := run(t, "rpm", "-qp", "--qf", "%{PAYLOADCOMPRESSOR}", p.rpm); out != "xz" {
		t.Errorf("rpm payload compressed with %q, want xz (older rpm cannot read zstd)", out)
	}
}

var debootstrapMu sync.Mutex

// debootstrapRoot is a minimal Debian bookworm root with systemd, made once
// and cached outside the checkout under a name derived from its inputs.
func debootstrapRoot(t *testing.T) string {
	t.Helper()
	need(t, "debootstrap")
	// One test at a time, so that the first makes the root and the others
	// find it made.
	debootstrapMu.Lock()
	defer debootstrapMu.Unlock()
	mirror := aptMirror(t)
	args := []string{"--variant=minbase", "--include=systemd,systemd-sysv,dbus", "bookworm"}
	sum := sha256.Sum256([]byte(strings.Join(append(args, mirror), " ")))
	cache := os.Getenv("CLD_TEST_CACHE")
	if cache == "" {
		cache = "/var/cache/cld-test"
	}
	dir := filepath.Join(cache, "debootstrap-"+hex.EncodeToString(sum[:8]))
	if _, err := os.Stat(filepath.Join(dir, ".complete")); err == nil {
		return dir
	}
	if err := os.MkdirAll(cache, 0o755); err != nil {
		t.Fatal(err)
	}
	// And one process at a time: `make test` starts making the root while
	// its static gates run (TestDebianRoot), and the package tests wait
	// for it here.
	lock, err := os.OpenFile(dir+".lock", os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	defer lock.Close()
	if err := syscall.Flock(int(lock.Fd()), syscall.LOCK_EX); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, ".complete")); err == nil {
		return dir // made by the other process meanwhile
	}
	tmp := dir + ".tmp"
	os.RemoveAll(tmp)
	t.Logf("making a Debian root with debootstrap from %s (cached in %s)", mirror, dir)
	run(t, "debootstrap", append(args, tmp, mirror)...)
	if err := os.WriteFile(filepath.Join(tmp, ".complete"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	os.RemoveAll(dir)
	if err := os.Rename(tmp, dir); err != nil {
		t.Fatal(err)
	}
	return dir
}

// TestDebianRoot: the cached Debian root the container tests copy is
// complete (made now if it is not; `make test` runs this test on its own
// while its static gates run, so that the package tests find it made).
func TestDebianRoot(t *testing.T) {
	t.Parallel()
	root := debootstrapRoot(t)
	for _, f := range []string{"usr/bin/dpkg", "usr/lib/systemd/systemd", "usr/bin/dbus-daemon"} {
		if _, err := os.Stat(filepath.Join(root, f)); err != nil {
			t.Errorf("the Debian root %s lacks %s: %v (remove the directory; the next run makes it again)", root, f, err)
		}
	}
}

// aptMirror is the Debian mirror this machine's apt uses.
func aptMirror(t *testing.T) string {
	t.Helper()
	files, _ := filepath.Glob("/etc/apt/sources.list.d/*")
	files = append(files, "/etc/apt/sources.list")
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			continue
		}
		for _, l := range strings.Split(string(data), "\n") {
			l = strings.TrimSpace(l)
			if u, ok := strings.CutPrefix(l, "URIs:"); ok && strings.Contains(u, "debian") && !strings.Contains(u, "security") {
				return strings.Fields(u)[0]
			}
			if f := strings.Fields(l); len(f) >= 3 && f[0] == "deb" && !strings.Contains(f[1], "security") {
				return f[1]
			}
		}
	}
	return "http://deb.debian.org/debian"
}

// freshRoot is a private copy of the cached root.
func freshRoot(t *testing.T) string {
	t.Helper()
	base := debootstrapRoot(t)
	root := filepath.Join(t.TempDir(), "root")
	run(t, "cp", "-a", "--reflink=auto", base, root)
	return root
}

// files lists what an operator would find in root (the package managers'
// own databases and logs left out).
func files(t *testing.T, root string) []string {
	t.Helper()
	skip := []string{"/var/lib/dpkg", "/var/log", "/var/cache", "/var/lib/rpm", "/usr/lib/sysimage/rpm", "/root/.rpmdb", "/proc", "/sys", "/dev", "/run", "/tmp", "/etc/ld.so.cache", "/var/lib/systemd/deb-systemd-helper-enabled"}
	var out []string
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel := strings.TrimPrefix(path, root)
		for _, s := range skip {
			if rel == s || strings.HasPrefix(rel, s+"/") {
				if d.IsDir() {
					return filepath.SkipDir
				}
				return nil
			}
		}
		if rel != "" {
			out = append(out, rel)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func diff(before, after []string) (added, removed []string) {
	for _, f := range after {
		if !slices.Contains(before, f) {
			added = append(added, f)
		}
	}
	for _, f := range before {
		if !slices.Contains(after, f) {
			removed = append(removed, f)
		}
	}
	return added, removed
}

func exists(root, path string) bool {
	_, err := os.Lstat(filepath.Join(root, path))
	return err == nil
}

func chroot(t *testing.T, root string, args ...string) string {
	t.Helper()
	return run(t, "chroot", append([]string{root}, args...)...)
}

// copyIn puts a file into root's /tmp and returns its path there.
func copyIn(t *testing.T, root, file string) string {
	t.Helper()
	dst := filepath.Join("/tmp", filepath.Base(file))
	run(t, "cp", file, filepath.Join(root, dst))
	return dst
}

// plantState writes what a linked daemon keeps, to see an upgrade keep it.
func plantState(t *testing.T, root string) {
	t.Helper()
	for name, content := range map[string]string{"link.json": `{"format":1}`, "tunnels.json": `{"format":1,"enabled":["web"]}`} {
		if err := os.WriteFile(filepath.Join(root, "var/lib/cld", name), []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
	}
}

// selfUpdate installs a signed binary into root's update directory with
// the daemon's own code (updater.Dir.Install), as a self-update does.
func selfUpdate(t *testing.T, root string) {
	t.Helper()
	_, priv, err := minisign.GenerateKey(nil)
	if err != nil {
		t.Fatal(err)
	}
	bin := []byte("#!/bin/sh\necho cld 9.9.9\n")
	r := minisign.NewReader(bytes.NewReader(bin))
	io.Copy(io.Discard, r)
	sum := sha256.Sum256(bin)
	path := filepath.Join(t.TempDir(), "download")
	if err := os.WriteFile(path, bin, 0o600); err != nil {
		t.Fatal(err)
	}
	d := updater.Dir(filepath.Join(root, "var/lib/cld/update"))
	unlock, err := d.Lock()
	if err != nil {
		t.Fatal(err)
	}
	defer unlock()
	if err := d.Install(path, updater.Binary{Version: "9.9.9", Size: int64(len(bin)), SHA256: hex.EncodeToString(sum[:]), Signature: string(r.Sign(priv))}, nil); err != nil {
		t.Fatal(err)
	}
}

const enabledLink = "/etc/systemd/system/multi-user.target.wants/cld.service"

// TestDebLifecycle installs the .deb with dpkg in a Debian root (no systemd
// running there), upgrades it with a locally edited config, removes and
// purges it: afterwards the root is as before.
func TestDebLifecycle(t *testing.T) {
	t.Parallel()
	need(t, "chroot", "dpkg")
	started := startPackages("1", "2")
	root := freshRoot(t)
	v1, v2 := started[0].get(t), started[1].get(t)
	before := files(t, root)

	chroot(t, root, "dpkg", "-i", copyIn(t, root, v1.deb))
	if out := chroot(t, root, "cld", "version"); !strings.Contains(out, "+1") {
		t.Errorf("cld version after install: %s", out)
	}
	if !exists(root, enabledLink) {
		t.Error("the install did not enable cld.service")
	}
	if fi, err := os.Stat(filepath.Join(root, "var/lib/cld")); err != nil || fi.Mode().Perm() != 0o700 {
		t.Errorf("/var/lib/cld: %v %v", fi, err)
	}
	conf := filepath.Join(root, "etc/cld/cld.yaml")
	edited := readFile(t, conf) + "log_level: debug\n"
	if err := os.WriteFile(conf, []byte(edited), 0o600); err != nil {
		t.Fatal(err)
	}
	plantState(t, root)

	chroot(t, root, "dpkg", "-i", copyIn(t, root, v2.deb))
	if out := chroot(t, root, "cld", "version"); !strings.Contains(out, "+2") {
		t.Errorf("cld version after the upgrade: %s", out)
	}
	if readFile(t, conf) != edited {
		t.Error("the upgrade replaced the locally edited /etc/cld/cld.yaml")
	}
	if !exists(root, "var/lib/cld/link.json") || !exists(root, "var/lib/cld/tunnels.json") {
		t.Error("the upgrade lost the state")
	}

	chroot(t, root, "dpkg", "-r", "cld")
	if exists(root, "usr/bin/cld") || exists(root, enabledLink) {
		t.Error("dpkg -r left the binary or the enabled service")
	}
	if readFile(t, conf) != edited || !exists(root, "var/lib/cld/link.json") {
		t.Error("dpkg -r removed the configuration or the state (only a purge does)")
	}

	chroot(t, root, "dpkg", "-P", "cld")
	added, removed := diff(before, files(t, root))
	added = slices.DeleteFunc(added, func(f string) bool { return f == "/tmp/"+filepath.Base(v1.deb) || f == "/tmp/"+filepath.Base(v2.deb) })
	if len(added) > 0 || len(removed) > 0 {
		t.Errorf("after the purge: left %q, missing %q", added, removed)
	}
}

// TestRPMLifecycle does the same with rpm --root: install, upgrade with an
// edited config, erase. rpm has no purge: the erase keeps the state
// directory (with the link) and an edited config as cld.yaml.rpmsave, as
// the README says.
func TestRPMLifecycle(t *testing.T) {
	t.Parallel()
	need(t, "rpm", "chroot")
	started := startPackages("1", "2")
	root := freshRoot(t)
	v1, v2 := started[0].get(t), started[1].get(t)
	before := files(t, root)
	rpm := func(args ...string) string {
		return run(t, "rpm", append([]string{"--root", root, "--nodeps"}, args...)...)
	}
	run(t, "rpm", "--root", root, "--initdb")

	rpm("-i", v1.rpm)
	if out := chroot(t, root, "cld", "version"); !strings.Contains(out, "+1") {
		t.Errorf("cld version after install: %s", out)
	}
	// The rule for packages and self-update: a self-update (installed by
	// the daemon's own code into the state directory) leaves every file
	// the package owns as the package put it.
	selfUpdate(t, root)
	if out, err := exec.Command("rpm", "--root", root, "-V", "cld").CombinedOutput(); err != nil || len(out) > 0 {
		t.Errorf("rpm -V after a self-update: %v\n%s", err, out)
	}
	if !exists(root, enabledLink) {
		t.Error("the install did not enable cld.service")
	}
	conf := filepath.Join(root, "etc/cld/cld.yaml")
	edited := readFile(t, conf) + "log_level: debug\n"
	if err := os.WriteFile(conf, []byte(edited), 0o600); err != nil {
		t.Fatal(err)
	}
	plantState(t, root)

	rpm("-U", v2.rpm)
	if out := chroot(t, root, "cld", "version"); !strings.Contains(out, "+2") {
		t.Errorf("cld version after the upgrade: %s", out)
	}
	if readFile(t, conf) != edited || !exists(root, "var/lib/cld/link.json") {
		t.Error("the upgrade lost the edited config or the state")
	}
	if out := run(t, "rpm", "--root", root, "-q", "cld"); !strings.Contains(out, "+2") {
		t.Errorf("rpm -q after the upgrade: %s", out)
	}

	rpm("-e", "cld")
	added, removed := diff(before, files(t, root))
	want := []string{"/etc/cld", "/etc/cld/cld.yaml.rpmsave", "/var/lib/cld", "/var/lib/cld/link.json", "/var/lib/cld/tunnels.json",
		"/var/lib/cld/update", "/var/lib/cld/update/bin", "/var/lib/cld/update/bin/cld", "/var/lib/cld/update/installed.json", "/var/lib/cld/update/lock"}
	slices.Sort(added)
	if !slices.Equal(added, want) || len(removed) > 0 {
		t.Errorf("after rpm -e: left %q (want %q), missing %q", added, want, removed)
	}
}

// TestServiceUnderSystemd boots Debian's systemd in a root with
// systemd-nspawn and runs check-in-systemd.sh there: the package's install
// starts the service; restart, reload, the watchdog after SIGSTOP,
// Restart=on-failure after a crash, an upgrade restarting it with its
// state kept, the journal, and dpkg -r stopping it.
func TestServiceUnderSystemd(t *testing.T) {
	t.Parallel()
	need(t, "systemd-nspawn")
	started := startPackages("1", "2")
	root := freshRoot(t)
	p, p2 := started[0].get(t), started[1].get(t)
	run(t, "cp", p.deb, filepath.Join(root, "cld.deb")) // /tmp is a tmpfs in the container
	run(t, "cp", p2.deb, filepath.Join(root, "cld2.deb"))
	bootChecks(t, root, "check-in-systemd.sh", 300)
}
