package store

import (
	"context"
	"errors"
	"testing"
	"time"
)

func TestReleases(t *testing.T) {
	s := open(t, t.TempDir())
	ctx := context.Background()
	t0 := time.Unix(1_700_000_000, 0)
	pub := func(version, arch string, at time.Time) Release {
		t.Helper()
		r, err := s.PublishRelease(ctx, Release{Stage: StageProduction, Version: version, Arch: arch, SHA256: "ab", Signature: "sig"}, []byte("bin "+version+" "+arch), at)
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	if _, err := s.LatestRelease(ctx, StageProduction); !errors.Is(err, ErrNotFound) {
		t.Errorf("latest of an empty stage: %v", err)
	}
	pub("0.1.0+1", "amd64", t0)
	r2 := pub("0.2.0+5", "amd64", t0.Add(time.Hour))
	pub("0.2.0+5", "arm64", t0.Add(time.Hour))
	if _, err := s.PublishRelease(ctx, Release{Stage: StageProduction, Version: "0.2.0+5", Arch: "amd64"}, []byte("x"), t0); !errors.Is(err, ErrExists) {
		t.Errorf("a second publish: %v", err)
	}
	if _, err := s.PublishRelease(ctx, Release{Stage: "nightly", Version: "1.0.0", Arch: "amd64"}, []byte("x"), t0); err == nil {
		t.Error("an unknown stage was accepted")
	}
	latest, err := s.LatestRelease(ctx, StageProduction)
	if err != nil || len(latest) != 2 || latest[0].Version != "0.2.0+5" {
		t.Fatalf("latest: %+v %v", latest, err)
	}
	got, bin, err := s.ReleaseBinary(ctx, r2.ID)
	if err != nil || string(bin) != "bin 0.2.0+5 amd64" || got.Size != int64(len(bin)) {
		t.Errorf("binary: %+v %q %v", got, bin, err)
	}
	if err := s.WithdrawRelease(ctx, StageProduction, "0.2.0+5", t0.Add(2*time.Hour)); err != nil {
		t.Fatal(err)
	}
	if latest, _ := s.LatestRelease(ctx, StageProduction); len(latest) != 1 || latest[0].Version != "0.1.0+1" {
		t.Errorf("latest after the withdrawal: %+v", latest)
	}
	if err := s.WithdrawRelease(ctx, StageProduction, "0.2.0+5", t0); !errors.Is(err, ErrNotFound) {
		t.Errorf("a second withdrawal: %v", err)
	}
	if st, err := s.SystemStage(ctx, "nope"); err != nil || st != StageProduction {
		t.Errorf("default stage: %q %v", st, err)
	}
	if err := s.SetSystemStage(ctx, "nope", StageBeta); !errors.Is(err, ErrNotFound) {
		t.Errorf("the stage of an unknown system: %v", err)
	}
}
