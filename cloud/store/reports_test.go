package store

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"
)

func TestReports(t *testing.T) {
	ctx := context.Background()
	s := open(t, t.TempDir())
	a, u := seed(t, s)
	sys, _, err := s.RegisterSystem(ctx, System{Account: a, InstallationID: "i1", Hostname: "h", ClientID: "sys-1",
		SecretHash: "x", UserID: u.ID, UserEmail: u.Email, Role: RoleAccountAdmin}, t0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.LatestReport(ctx, sys.ID); !errors.Is(err, ErrNotFound) {
		t.Fatalf("latest of none: %v", err)
	}
	exp := t0.Add(365 * 24 * time.Hour)
	r1 := Report{SystemID: sys.ID, ID: "r1", ReceivedAt: t0, GeneratedAt: t0.Add(-time.Second), SchemaVersion: 1,
		Trigger: "link", Hostname: "mcd56", PlatformType: "msl", PlatformName: "MiVoice Business", PlatformVersion: "10.2",
		ApplicationTypes: "cloudlink-daemon, mivoice-business", DaemonVersion: "1.8.34", LicenseType: "PERPETUAL",
		LicenseExpires: exp, SWAStatus: "ACTIVE", JSON: []byte(`{"id":"r1"}`)}
	got, dup, err := s.AddReport(ctx, r1)
	if err != nil || dup || got.Seq == 0 || got.Size != 11 || got.SHA256 == "" {
		t.Fatalf("add: %+v %v %v", got, dup, err)
	}
	// The same ID again: stored once, the first one answered.
	r1b := r1
	r1b.ReceivedAt, r1b.JSON = t0.Add(time.Minute), []byte(`{"id":"r1","x":1}`)
	again, dup, err := s.AddReport(ctx, r1b)
	if err != nil || !dup || !again.ReceivedAt.Equal(t0) || again.Seq != got.Seq {
		t.Fatalf("duplicate: %+v %v %v", again, dup, err)
	}
	r2 := Report{SystemID: sys.ID, ID: "r2", ReceivedAt: t0.Add(time.Hour), SchemaVersion: 1, Trigger: "change",
		Changes: []string{"tunnel a: stopped → started"}, JSON: []byte(`{"id":"r2"}`)}
	if _, _, err := s.AddReport(ctx, r2); err != nil {
		t.Fatal(err)
	}
	l, err := s.LatestReport(ctx, sys.ID)
	if err != nil || l.ID != "r2" || string(l.JSON) != `{"id":"r2"}` || len(l.Changes) != 1 || l.Changes[0] != r2.Changes[0] {
		t.Fatalf("latest: %+v %v", l, err)
	}
	old, err := s.Report(ctx, sys.ID, "r1")
	if err != nil || string(old.JSON) != `{"id":"r1"}` || !old.LicenseExpires.Equal(exp) || old.PlatformName != "MiVoice Business" ||
		!old.GeneratedAt.Equal(t0.Add(-time.Second)) || old.ApplicationTypes != r1.ApplicationTypes {
		t.Fatalf("r1: %+v %v", old, err)
	}
	if _, err := s.Report(ctx, sys.ID, "nope"); !errors.Is(err, ErrNotFound) {
		t.Fatal(err)
	}
	hist, err := s.Reports(ctx, sys.ID)
	if err != nil || len(hist) != 2 || hist[0].ID != "r2" || hist[1].ID != "r1" || hist[0].JSON != nil {
		t.Fatalf("history: %+v %v", hist, err)
	}
	latest, err := s.LatestReports(ctx, a.ID)
	if err != nil || len(latest) != 1 || latest[sys.ID].ID != "r2" {
		t.Fatalf("latest of account: %+v %v", latest, err)
	}
	if _, _, err := s.AddReport(ctx, Report{SystemID: "nope", ID: "x", JSON: []byte("{}")}); !errors.Is(err, ErrNotFound) {
		t.Fatalf("unknown system: %v", err)
	}

	// History is bounded: the oldest go.
	for i := range MaxReportsPerSystem + 5 {
		if _, _, err := s.AddReport(ctx, Report{SystemID: sys.ID, ID: fmt.Sprintf("b%03d", i), ReceivedAt: t0.Add(2 * time.Hour),
			JSON: []byte("{}")}); err != nil {
			t.Fatal(err)
		}
	}
	n, err := s.ReportCount(ctx, sys.ID)
	if err != nil || n != MaxReportsPerSystem {
		t.Fatalf("count %d %v", n, err)
	}
	if _, err := s.Report(ctx, sys.ID, "b004"); !errors.Is(err, ErrNotFound) {
		t.Errorf("b004 kept: %v", err)
	}
	if l, err := s.LatestReport(ctx, sys.ID); err != nil || l.ID != fmt.Sprintf("b%03d", MaxReportsPerSystem+4) {
		t.Errorf("latest %s %v", l.ID, err)
	}
}
