package main

import (
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"text/tabwriter"
	"time"

	"aead.dev/minisign"

	"github.com/cloudlink/cld/cloud/store"
	"github.com/cloudlink/cld/updater"
)

// The release channel's commands: keygen, publish, list, withdraw, and a
// system's stage.

func cmdRelease(e env, args []string) error {
	if len(args) == 0 {
		fmt.Fprintf(e.stderr, "%s: \"release\" needs a subcommand: keygen, publish, list or withdraw\n\n%s", programName, usageText)
		return errUsage
	}
	switch args[0] {
	case "keygen":
		return cmdReleaseKeygen(e, args[1:])
	case "publish":
		return cmdReleasePublish(e, args[1:])
	case "list":
		return cmdReleaseList(e, args[1:])
	case "withdraw":
		return cmdReleaseWithdraw(e, args[1:])
	}
	fmt.Fprintf(e.stderr, "%s: unknown command %q; use keygen, publish, list or withdraw\n\n%s", programName, "release "+args[0], usageText)
	return errUsage
}

func cmdReleaseKeygen(e env, args []string) error {
	fs := newFlags(e, "release keygen", "--out DIR")
	out := fs.String("out", "", "directory for release.key (private, 0600) and release.pub")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if *out == "" {
		return usagef(fs, "--out is required")
	}
	keyPath, pubPath := filepath.Join(*out, "release.key"), filepath.Join(*out, "release.pub")
	if _, err := os.Stat(keyPath); err == nil {
		return fmt.Errorf("%s exists; keep it (daemons trust its public key) or move it away first", keyPath)
	}
	pub, priv, err := minisign.GenerateKey(rand.Reader)
	if err != nil {
		return err
	}
	privText, err := priv.MarshalText()
	if err != nil {
		return err
	}
	pubText, err := pub.MarshalText()
	if err != nil {
		return err
	}
	if err := os.MkdirAll(*out, 0o700); err != nil {
		return err
	}
	if err := os.WriteFile(keyPath, append(privText, '\n'), 0o600); err != nil {
		return err
	}
	if err := os.WriteFile(pubPath, append(pubText, '\n'), 0o644); err != nil {
		return err
	}
	fmt.Fprintf(e.stdout, "Wrote the release key %s (keep it secret) and its public key %s (build it into cld).\n", keyPath, pubPath)
	return nil
}

func cmdReleasePublish(e env, args []string) error {
	fs := newFlags(e, "release publish", "--data DIR --stage S --binary FILE --key KEY --version V [--arch A] [--min-version V] [--notes TEXT] [--commit C]")
	dir := fs.String("data", "", "data directory of the cloud")
	var r store.Release
	fs.StringVar(&r.Stage, "stage", "", "production, beta or development")
	binPath := fs.String("binary", "", "the cld binary to publish")
	keyPath := fs.String("key", "", "the release key (cld-cloud release keygen)")
	fs.StringVar(&r.Version, "version", "", "the binary's version, e.g. 0.2.0+81")
	fs.StringVar(&r.Arch, "arch", "amd64", "the binary's architecture (GOARCH)")
	fs.StringVar(&r.MinVersion, "min-version", "", "the oldest version that may update to it")
	fs.StringVar(&r.Notes, "notes", "", "release notes")
	fs.StringVar(&r.Commit, "commit", "", "the source commit")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	switch {
	case *dir == "" || *binPath == "" || *keyPath == "" || r.Version == "":
		return usagef(fs, "--data, --binary, --key and --version are required")
	case !store.ValidStage(r.Stage):
		return usagef(fs, "--stage must be production, beta or development")
	}
	if _, err := updater.ParseVersion(r.Version); err != nil {
		return usagef(fs, "--version: %v", err)
	}
	if r.MinVersion != "" {
		if _, err := updater.ParseVersion(r.MinVersion); err != nil {
			return usagef(fs, "--min-version: %v", err)
		}
	}
	keyText, err := os.ReadFile(*keyPath)
	if err != nil {
		return err
	}
	var priv minisign.PrivateKey
	if err := priv.UnmarshalText(keyText); err != nil {
		return fmt.Errorf("%s is not an unencrypted minisign private key (cld-cloud release keygen makes one): %w", *keyPath, err)
	}
	bin, err := os.ReadFile(*binPath)
	if err != nil {
		return err
	}
	sum := sha256.Sum256(bin)
	r.SHA256 = hex.EncodeToString(sum[:])
	sr := minisign.NewReader(bytes.NewReader(bin))
	if _, err := io.Copy(io.Discard, sr); err != nil {
		return err
	}
	r.Signature = string(sr.Sign(priv))
	st, err := openStore(e, *dir)
	if err != nil {
		return err
	}
	defer st.Close()
	got, err := st.PublishRelease(e.ctx, r, bin, time.Now())
	if errors.Is(err, store.ErrExists) {
		return fmt.Errorf("%s %s for %s is published already; publish a newer version", r.Stage, r.Version, r.Arch)
	}
	if err != nil {
		return err
	}
	fmt.Fprintf(e.stdout, "Published %s %s for %s (%d bytes, SHA-256 %s), release %d.\n", got.Stage, got.Version, got.Arch, got.Size, got.SHA256[:16], got.ID)
	return nil
}

func cmdReleaseList(e env, args []string) error {
	fs := newFlags(e, "release list", "--data DIR [--stage S]")
	dir := fs.String("data", "", "data directory of the cloud")
	stage := fs.String("stage", "", "only this stage")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if *dir == "" {
		return usagef(fs, "--data is required")
	}
	st, err := openStore(e, *dir)
	if err != nil {
		return err
	}
	defer st.Close()
	rels, err := st.Releases(e.ctx, *stage)
	if err != nil {
		return err
	}
	if len(rels) == 0 {
		fmt.Fprintln(e.stdout, "No releases yet. Publish one with: cld-cloud release publish --data DIR --stage production --binary FILE --key KEY --version V")
		return nil
	}
	tw := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tSTAGE\tVERSION\tARCH\tSIZE\tPUBLISHED\tSTATE")
	for _, r := range rels {
		state := "offered"
		if !r.WithdrawnAt.IsZero() {
			state = "withdrawn " + r.WithdrawnAt.UTC().Format(time.RFC3339)
		}
		fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%d\t%s\t%s\n", r.ID, r.Stage, r.Version, r.Arch, r.Size, r.PublishedAt.UTC().Format(time.RFC3339), state)
	}
	return tw.Flush()
}

func cmdReleaseWithdraw(e env, args []string) error {
	fs := newFlags(e, "release withdraw", "--data DIR --stage S --version V")
	dir := fs.String("data", "", "data directory of the cloud")
	stage := fs.String("stage", "", "the release's stage")
	version := fs.String("version", "", "the release's version")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if *dir == "" || *stage == "" || *version == "" {
		return usagef(fs, "--data, --stage and --version are required")
	}
	st, err := openStore(e, *dir)
	if err != nil {
		return err
	}
	defer st.Close()
	if err := st.WithdrawRelease(e.ctx, *stage, *version, time.Now()); errors.Is(err, store.ErrNotFound) {
		return fmt.Errorf("%s offers no %s (see cld-cloud release list)", *stage, *version)
	} else if err != nil {
		return err
	}
	fmt.Fprintf(e.stdout, "Withdrew %s %s; systems are offered the previous release again.\n", *stage, *version)
	return nil
}

func cmdSystemStage(e env, args []string) error {
	fs := newFlags(e, "system stage", "--data DIR --system ID --stage S")
	dir := fs.String("data", "", "data directory of the cloud")
	system := fs.String("system", "", "the system's ID")
	stage := fs.String("stage", "", "production, beta or development")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if *dir == "" || *system == "" || !store.ValidStage(*stage) {
		return usagef(fs, "--data, --system and --stage (production, beta or development) are required")
	}
	st, err := openStore(e, *dir)
	if err != nil {
		return err
	}
	defer st.Close()
	if err := st.SetSystemStage(e.ctx, *system, *stage); errors.Is(err, store.ErrNotFound) {
		return fmt.Errorf("no system %s (see the portal's systems page)", *system)
	} else if err != nil {
		return err
	}
	fmt.Fprintf(e.stdout, "System %s now follows the %s stage.\n", *system, *stage)
	return nil
}
