package packaging_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/cloudlink/cld/internal/gobuild"
)

// Build numbers of the self-update test's builds: the package (v1), a v2
// that exits at its start, and the good v2, newer than both.
const (
	updateV1    = "101"
	updateVBad  = "102"
	updateVGood = "103"
)

// TestSelfUpdateUnderSystemd is the self-update end to end with real
// processes under a real systemd (check-update-in-systemd.sh in a booted
// Debian root): the reference cloud serves inside the container, the v1
// package's daemon links to it and finds each release at its scheduled
// check (the schedule's clock skewed ahead: a cldtest build), a v2 that
// exits at its start is rolled back to v1 within a minute, and a good v2
// runs under systemd with the package's files untouched (dpkg --verify)
// and shows in the cloud's portal.
func TestSelfUpdateUnderSystemd(t *testing.T) {
	t.Parallel()
	need(t, "systemd-nspawn")
	start := time.Now()
	tool := checktool()
	tmp := t.TempDir()

	// cld-cloud (its keygen makes the release key the builds need) while
	// the root is copied.
	cloudBin := filepath.Join(tmp, "cld-cloud")
	cloudBuilt := background(t, func() error { return goBuildErr("..", cloudBin, "./cmd/cld-cloud") })
	root := freshRoot(t)
	if err := cloudBuilt(); err != nil {
		t.Fatal(err)
	}
	keys := filepath.Join(tmp, "keys")
	run(t, cloudBin, "release", "keygen", "--out", keys)
	pubLines := strings.Fields(readFile(t, filepath.Join(keys, "release.pub")))
	pub := pubLines[len(pubLines)-1]

	// The three builds of cld at the same time.
	base := strings.TrimSpace(readFile(t, "../VERSION"))
	var v1 pkgs
	v2bin, bad := filepath.Join(tmp, "cld-v2"), filepath.Join(tmp, "cld-bad")
	err := all(
		func() (err error) { v1, err = packageBuild(filepath.Join(tmp, "v1"), updateV1, pub); return err },
		func() error {
			// v2 reaches the host as a release, not a package: the binary
			// `make packages` would put in it.
			return goBuildErr("..", v2bin, "./cmd/cld", "-tags", "nethttpomithttp2,cldtest", "-ldflags",
				"-s -w"+stamp(base+"+"+updateVGood, updateVGood, pub))
		},
		func() error {
			return goBuildErr("..", bad, "./cmd/cld", "-tags", "nethttpomithttp2,cldtest", "-ldflags",
				"-s -w -X main.testFault=exit"+stamp(base+"+"+updateVBad, updateVBad, pub))
		})
	if err != nil {
		t.Fatal(err)
	}
	checktool := tool.get(t)
	t.Logf("built v1 %s, v2 %s, the failing %s, cld-cloud and checktool in %s", v1.deb, v2bin, bad, time.Since(start).Round(time.Second))

	for src, dst := range map[string]string{v1.deb: "cld1.deb", v2bin: "cld-v2", bad: "cld-v2bad", cloudBin: "cld-cloud",
		checktool: "checktool", filepath.Join(keys, "release.key"): "release.key"} {
		run(t, "cp", src, filepath.Join(root, dst))
	}
	env := "V1=" + base + "+" + updateV1 + "\nV2=" + base + "+" + updateVGood + "\nVBAD=" + base + "+" + updateVBad + "\n"
	if err := os.WriteFile(filepath.Join(root, "cld-update.env"), []byte(env), 0o644); err != nil {
		t.Fatal(err)
	}
	boot := time.Now()
	bootChecks(t, root, "check-update-in-systemd.sh", 420)
	t.Logf("the checks in the container took %s (%s in all)", time.Since(boot).Round(time.Second), time.Since(start).Round(time.Second))
}

// packageBuild makes the amd64 .deb of a cldtest build (the update
// schedule's clock can be skewed) with the test's release key.
func packageBuild(dist, build, key string) (pkgs, error) {
	return makePackages(dist, build, key, "cldtest", "deb")
}

// stamp is the -X flags of the Makefile's build facts that the updater
// reads: the version, the build number and the release key.
func stamp(version, build, key string) string {
	const pkg = "github.com/cloudlink/cld/agent/build"
	return " -X " + pkg + ".Version=" + version + " -X " + pkg + ".Number=" + build + " -X " + pkg + ".ReleaseKey=" + key
}

// goBuildErr builds a static amd64 binary of pkg (in dir) to out. Not
// -trimpath (`make packages` builds what ships with it): these are the
// tests' own binaries, built as chaos builds its cld and cld-cloud, so a
// cold run compiles their packages once for both.
func goBuildErr(dir, out, pkg string, flags ...string) error {
	return gobuild.Build(out, pkg, gobuild.Options{Dir: dir, Flags: flags,
		Env: []string{"CGO_ENABLED=0", "GOOS=linux", "GOARCH=amd64"}})
}
