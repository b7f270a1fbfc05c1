package updater

import (
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"strings"
	"testing"

	"aead.dev/minisign"
)

type release struct {
	pub    minisign.PublicKey
	priv   minisign.PrivateKey
	binary []byte
	m      Manifest
}

func newRelease(t testing.TB, version string) *release {
	t.Helper()
	pub, priv, err := minisign.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	bin := bytes.Repeat([]byte("cld binary "+version+" "), 5000)
	sum := sha256.Sum256(bin)
	r := minisign.NewReader(bytes.NewReader(bin))
	if _, err := io.Copy(io.Discard, r); err != nil {
		t.Fatal(err)
	}
	sig := r.Sign(priv)
	return &release{pub: pub, priv: priv, binary: bin, m: Manifest{
		Stage: "production", Version: version, Commit: "abc", MinVersion: "0.1.0",
		Artifacts: map[string]Artifact{"amd64": {URL: "/releases/cld-amd64", Size: int64(len(bin)), SHA256: hex.EncodeToString(sum[:]), Signature: string(sig)}},
	}}
}

func (r *release) json(t testing.TB) []byte {
	t.Helper()
	b, err := json.Marshal(r.m)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestManifestChooseAndVerify(t *testing.T) {
	rel := newRelease(t, "0.2.0+81")
	m, err := ParseManifest(rel.json(t))
	if err != nil {
		t.Fatal(err)
	}
	a, err := m.Choose("0.1.0+57", "amd64")
	if err != nil {
		t.Fatal(err)
	}
	if err := a.Verify(rel.pub, bytes.NewReader(rel.binary)); err != nil {
		t.Fatalf("a good release: %v", err)
	}
	other := newRelease(t, "0.2.0+81")
	bad := append([]byte(nil), rel.binary...)
	bad[100] ^= 1
	for name, tc := range map[string]struct {
		pub  minisign.PublicKey
		bin  []byte
		art  func(Artifact) Artifact
		want string
	}{
		"another key":    {other.pub, rel.binary, nil, "signature does not verify"},
		"bad signature":  {rel.pub, rel.binary, func(a Artifact) Artifact { a.Signature = other.m.Artifacts["amd64"].Signature; return a }, "signature does not verify"},
		"wrong checksum": {rel.pub, bad, nil, "SHA-256"},
		"truncated":      {rel.pub, rel.binary[:len(rel.binary)-10], nil, "truncated"},
	} {
		art := a
		if tc.art != nil {
			art = tc.art(a)
		}
		if err := art.Verify(tc.pub, bytes.NewReader(tc.bin)); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want %q", name, err, tc.want)
		}
	}
	for _, tc := range []struct{ current, arch, want string }{
		{"0.2.0+81", "amd64", "downgrade"},
		{"0.3.0", "amd64", "downgrade"},
		{"0.0.9+3", "amd64", "only from 0.1.0"},
		{"0.1.0+57", "arm64", "no binary for arm64"},
	} {
		if _, err := m.Choose(tc.current, tc.arch); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Choose(%s, %s): %v, want %q", tc.current, tc.arch, err, tc.want)
		}
	}
}

func TestVersionOrder(t *testing.T) {
	order := []string{"0.1.0-rc1", "0.1.0", "0.1.0+2", "0.1.0+10", "0.1.1", "0.2.0+1", "1.0.0"}
	for i := range order {
		for j := range order {
			a, _ := ParseVersion(order[i])
			b, _ := ParseVersion(order[j])
			if got, want := a.Compare(b), cmpInt(i, j); got != want {
				t.Errorf("%s vs %s = %d, want %d", order[i], order[j], got, want)
			}
		}
	}
	for _, bad := range []string{"", "1", "1.2", "1.2.3.4", "01.2.3", "1.2.x", "1.2.3+x", "1.2.3-", "-1.2.3"} {
		if _, err := ParseVersion(bad); err == nil {
			t.Errorf("ParseVersion(%q) accepted", bad)
		}
	}
}

func TestManifestRefusesMalformed(t *testing.T) {
	rel := newRelease(t, "0.2.0+81")
	good := rel.json(t)
	for name, data := range map[string][]byte{
		"not json":      []byte("nope"),
		"unknown field": bytes.Replace(good, []byte(`{"stage"`), []byte(`{"x":1,"stage"`), 1),
		"two values":    append(append([]byte(nil), good...), good...),
		"bad version":   bytes.Replace(good, []byte(`"0.2.0+81"`), []byte(`"two"`), 1),
		"no artifacts":  []byte(`{"version":"0.2.0","artifacts":{}}`),
		"http url":      bytes.Replace(good, []byte(`"/releases/cld-amd64"`), []byte(`"http://x/cld"`), 1),
	} {
		if _, err := ParseManifest(data); !errors.Is(err, ErrManifest) {
			t.Errorf("%s: %v", name, err)
		}
	}
}

// FuzzParseManifest: any input is a manifest that passes the checks, or
// ErrManifest; never a panic.
func FuzzParseManifest(f *testing.F) {
	f.Add(newRelease(f, "0.2.0+81").json(f))
	f.Add([]byte(`{"version":"1.0.0","artifacts":{"amd64":{"url":"/x","size":1,"sha256":"` + strings.Repeat("0", 64) + `","signature":"s"}}}`))
	f.Add([]byte(`{}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		m, err := ParseManifest(data)
		if err != nil {
			if !errors.Is(err, ErrManifest) {
				t.Fatalf("an error that is not ErrManifest: %v", err)
			}
			return
		}
		if _, err := ParseVersion(m.Version); err != nil || len(m.Artifacts) == 0 {
			t.Fatalf("accepted a manifest that fails its own checks: %+v", m)
		}
		_, _ = m.Choose("0.0.1", "amd64")
	})
}
