package main

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"aead.dev/minisign"

	"github.com/cloudlink/cld/cloud/store"
	"github.com/cloudlink/cld/updater"
)

// TestReleaseCommands: keygen, publish (signed with the key, verifiable
// with its public key), list, withdraw, and the refusals.
func TestReleaseCommands(t *testing.T) {
	dir, keys := t.TempDir(), t.TempDir()
	bin := filepath.Join(t.TempDir(), "cld")
	os.WriteFile(bin, []byte(strings.Repeat("binary ", 10_000)), 0o755)
	wantCode(t, cli(t, "", "release", "keygen", "--out", keys), exitOK, "release.key")
	if fi, err := os.Stat(filepath.Join(keys, "release.key")); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("release.key: %v %v", fi, err)
	}
	wantCode(t, cli(t, "", "release", "keygen", "--out", keys), exitFailed, "exists")
	key := filepath.Join(keys, "release.key")
	wantCode(t, cli(t, "", "release", "publish", "--data", dir, "--stage", "production", "--binary", bin, "--key", key, "--version", "0.2.0+7", "--min-version", "0.1.0"), exitOK, "Published production 0.2.0+7 for amd64")
	wantCode(t, cli(t, "", "release", "publish", "--data", dir, "--stage", "production", "--binary", bin, "--key", key, "--version", "0.2.0+7"), exitFailed, "published already")
	wantCode(t, cli(t, "", "release", "publish", "--data", dir, "--stage", "nightly", "--binary", bin, "--key", key, "--version", "0.2.0"), exitUsage, "production, beta or development")
	wantCode(t, cli(t, "", "release", "publish", "--data", dir, "--stage", "beta", "--binary", bin, "--key", key, "--version", "two"), exitUsage, "--version")
	wantCode(t, cli(t, "", "release", "list", "--data", dir), exitOK, "production", "0.2.0+7", "offered")

	st, err := store.Open(context.Background(), dir)
	if err != nil {
		t.Fatal(err)
	}
	rels, err := st.LatestRelease(context.Background(), store.StageProduction)
	st.Close()
	if err != nil || len(rels) != 1 {
		t.Fatalf("latest: %+v %v", rels, err)
	}
	pub, err := minisign.PublicKeyFromFile(filepath.Join(keys, "release.pub"))
	if err != nil {
		t.Fatal(err)
	}
	f, _ := os.Open(bin)
	defer f.Close()
	a := updater.Artifact{URL: "/x", Size: rels[0].Size, SHA256: rels[0].SHA256, Signature: rels[0].Signature}
	if err := a.Verify(pub, f); err != nil {
		t.Errorf("the published release does not verify with release.pub: %v", err)
	}

	wantCode(t, cli(t, "", "release", "withdraw", "--data", dir, "--stage", "production", "--version", "0.2.0+7"), exitOK, "Withdrew")
	wantCode(t, cli(t, "", "release", "withdraw", "--data", dir, "--stage", "production", "--version", "0.2.0+7"), exitFailed, "offers no")
	wantCode(t, cli(t, "", "release", "list", "--data", dir), exitOK, "withdrawn")
	wantCode(t, cli(t, "", "system", "stage", "--data", dir, "--system", "nope", "--stage", "beta"), exitFailed, "no system nope")
	wantCode(t, cli(t, "", "release"), exitUsage, "keygen, publish")
}
