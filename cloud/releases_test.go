package cloud

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	"aead.dev/minisign"

	"github.com/cloudlink/cld/cloud/cloudapi"
	"github.com/cloudlink/cld/cloud/store"
	"github.com/cloudlink/cld/updater"
)

// bearerClient adds a device token to every request.
type bearerClient struct {
	rt    http.RoundTripper
	token string
}

func (b bearerClient) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	r.Header.Set("Authorization", "Bearer "+b.token)
	return b.rt.RoundTrip(r)
}

// TestReleaseChannel: a published, signed release reaches a linked system
// of its stage as a manifest the updater accepts; its binary downloads with
// range requests and verifies; a withdrawn release and another stage's are
// not offered.
func TestReleaseChannel(t *testing.T) {
	ts := NewTestServer(t)
	rr := register(t, ts, adminToken(t, ts), "11111111-1111-4111-8111-111111111111", "pbx1")
	tok := deviceToken(t, ts, rr)
	hc := &http.Client{Transport: bearerClient{ts.Client().Transport, tok}}
	ctx := context.Background()

	get := func() *http.Response {
		t.Helper()
		resp, err := hc.Get(ts.URL + cloudapi.PathSystemRelease)
		if err != nil {
			t.Fatal(err)
		}
		return resp
	}
	if resp := get(); resp.StatusCode != http.StatusNoContent {
		t.Fatalf("no release yet: %d", resp.StatusCode)
	}

	pub, priv, err := minisign.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	bin := bytes.Repeat([]byte("a cld binary "), 80_000)
	sum := sha256.Sum256(bin)
	r := minisign.NewReader(bytes.NewReader(bin))
	if _, err := io.Copy(io.Discard, r); err != nil {
		t.Fatal(err)
	}
	rel := store.Release{Stage: store.StageProduction, Version: "0.2.0+9", Arch: "amd64", MinVersion: "0.1.0",
		SHA256: hex.EncodeToString(sum[:]), Signature: string(r.Sign(priv))}
	if _, err := ts.Server.store.PublishRelease(ctx, rel, bin, time.Now()); err != nil {
		t.Fatal(err)
	}
	beta := rel
	beta.Stage, beta.Version = store.StageBeta, "0.3.0+1"
	if _, err := ts.Server.store.PublishRelease(ctx, beta, bin, time.Now()); err != nil {
		t.Fatal(err)
	}

	resp := get()
	data := new(bytes.Buffer)
	data.ReadFrom(resp.Body)
	resp.Body.Close()
	m, err := updater.ParseManifest(data.Bytes())
	if err != nil || m.Version != "0.2.0+9" || m.Stage != "production" {
		t.Fatalf("manifest %s: %+v %v", data, m, err)
	}
	a, err := m.Choose("0.1.0+5", "amd64")
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "cld.new")
	os.WriteFile(path, bin[:1000], 0o600) // a download cut short earlier: resumed with a range
	if err := updater.Download(ctx, hc, ts.URL+a.URL, nil, path, a.Size, 2, nil); err != nil {
		t.Fatal(err)
	}
	f, _ := os.Open(path)
	defer f.Close()
	if err := a.Verify(pub, f); err != nil {
		t.Fatalf("the downloaded release does not verify: %v", err)
	}
	// Without a device token the binary is not served.
	if resp, err := ts.Client().Get(ts.URL + a.URL); err != nil || resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("a download without a token: %v %v", resp.StatusCode, err)
	}

	// The system moves to beta: it is offered beta's release.
	if err := ts.Server.store.SetSystemStage(ctx, rr.SystemID, store.StageBeta); err != nil {
		t.Fatal(err)
	}
	resp = get()
	data.Reset()
	data.ReadFrom(resp.Body)
	resp.Body.Close()
	if m, err := updater.ParseManifest(data.Bytes()); err != nil || m.Version != "0.3.0+1" {
		t.Errorf("beta's manifest: %+v %v", m, err)
	}
	// Withdrawn: nothing offered, and its binary is gone.
	if err := ts.Server.store.WithdrawRelease(ctx, store.StageBeta, "0.3.0+1", time.Now()); err != nil {
		t.Fatal(err)
	}
	if resp := get(); resp.StatusCode != http.StatusNoContent {
		t.Errorf("after the withdrawal: %d", resp.StatusCode)
	}
}
