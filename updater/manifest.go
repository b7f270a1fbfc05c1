package updater

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/url"
	"strconv"
	"strings"

	"aead.dev/minisign"
)

// MaxManifestBytes bounds a manifest read from the cloud.
const MaxManifestBytes = 1 << 20

// Manifest is a release stage's newest release as the cloud publishes it.
type Manifest struct {
	Stage      string `json:"stage"`       // production, beta, development
	Version    string `json:"version"`     // semantic version with the build number, e.g. 0.2.0+81
	Commit     string `json:"commit"`      // the release's source commit
	Notes      string `json:"notes"`       // what changed, for the dashboard
	MinVersion string `json:"min_version"` // the oldest version that may update to it ("" for any)
	// Artifacts are the binaries per architecture (GOARCH: amd64, arm64).
	Artifacts map[string]Artifact `json:"artifacts"`
}

// Artifact is one architecture's binary.
type Artifact struct {
	URL       string `json:"url"`       // https, or a path on the cloud
	Size      int64  `json:"size"`      // bytes
	SHA256    string `json:"sha256"`    // hex
	Signature string `json:"signature"` // minisign signature of the binary (text)
}

// ErrNotNewer is wrapped by Choose's refusal of a release that is not newer
// than the running version.
var ErrNotNewer = errors.New("a downgrade is refused")

// ErrManifest is wrapped by every error about a manifest that is not
// well-formed.
var ErrManifest = errors.New("the release manifest is not valid")

// ParseManifest decodes and checks a manifest strictly: unknown fields,
// a second JSON value, a version that does not parse, an artifact without
// URL, size, checksum or signature are errors.
func ParseManifest(data []byte) (*Manifest, error) {
	if len(data) > MaxManifestBytes {
		return nil, fmt.Errorf("%w: larger than %d bytes", ErrManifest, MaxManifestBytes)
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	var m Manifest
	if err := dec.Decode(&m); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrManifest, err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("%w: data after the JSON object", ErrManifest)
	}
	if _, err := ParseVersion(m.Version); err != nil {
		return nil, fmt.Errorf("%w: version: %v", ErrManifest, err)
	}
	if m.MinVersion != "" {
		if _, err := ParseVersion(m.MinVersion); err != nil {
			return nil, fmt.Errorf("%w: min_version: %v", ErrManifest, err)
		}
	}
	if len(m.Artifacts) == 0 {
		return nil, fmt.Errorf("%w: no artifacts", ErrManifest)
	}
	for arch, a := range m.Artifacts {
		switch {
		case arch == "" || strings.ContainsAny(arch, "/ "):
			return nil, fmt.Errorf("%w: architecture %q", ErrManifest, arch)
		case a.URL == "":
			return nil, fmt.Errorf("%w: %s has no url", ErrManifest, arch)
		case a.Size <= 0:
			return nil, fmt.Errorf("%w: %s has no size", ErrManifest, arch)
		case len(a.SHA256) != 64 || !isHex(a.SHA256):
			return nil, fmt.Errorf("%w: %s's sha256 is not 64 hex digits", ErrManifest, arch)
		case a.Signature == "":
			return nil, fmt.Errorf("%w: %s has no signature", ErrManifest, arch)
		}
		if u, err := url.Parse(a.URL); err != nil || (u.Scheme != "" && u.Scheme != "https") {
			return nil, fmt.Errorf("%w: %s's url %q is not https or a path", ErrManifest, arch, a.URL)
		}
	}
	return &m, nil
}

func isHex(s string) bool {
	_, err := hex.DecodeString(s)
	return err == nil
}

// Choose is the artifact to install on arch when running version current:
// refused (with a sentence) for a release that is not newer, one whose
// minimum version current is below, or one without a binary for arch.
func (m *Manifest) Choose(current, arch string) (Artifact, error) {
	cur, err := ParseVersion(current)
	if err != nil {
		return Artifact{}, fmt.Errorf("the running version %q does not parse: %v", current, err)
	}
	next, _ := ParseVersion(m.Version)
	if next.Compare(cur) <= 0 {
		return Artifact{}, fmt.Errorf("the release %s is not newer than the running %s: %w", m.Version, current, ErrNotNewer)
	}
	if m.MinVersion != "" {
		if min, _ := ParseVersion(m.MinVersion); cur.Compare(min) < 0 {
			return Artifact{}, fmt.Errorf("the release %s updates only from %s or later; this host runs %s: install the package of %s first", m.Version, m.MinVersion, current, m.MinVersion)
		}
	}
	a, ok := m.Artifacts[arch]
	if !ok {
		return Artifact{}, fmt.Errorf("the release %s has no binary for %s", m.Version, arch)
	}
	return a, nil
}

// Verify checks a downloaded binary against its artifact: its size, its
// SHA-256 and its minisign signature by pub. The binary is read once.
func (a Artifact) Verify(pub minisign.PublicKey, binary io.Reader) error {
	h := sha256.New()
	r := minisign.NewReader(io.TeeReader(binary, h))
	n, err := io.Copy(io.Discard, r)
	if err != nil {
		return fmt.Errorf("reading the download: %w", err)
	}
	if n != a.Size {
		return fmt.Errorf("the download is %d bytes, the manifest says %d: truncated or not the release's binary", n, a.Size)
	}
	if got := hex.EncodeToString(h.Sum(nil)); got != strings.ToLower(a.SHA256) {
		return fmt.Errorf("the download's SHA-256 %s is not the manifest's %s", got, a.SHA256)
	}
	if !r.Verify(pub, []byte(a.Signature)) {
		return errors.New("the download's signature does not verify against this cld's release key: not a release of this publisher, or altered")
	}
	return nil
}

// Version is a semantic version with the build number as its metadata
// (0.2.0+81); releases compare by version, then by build number.
type Version struct {
	Major, Minor, Patch, Build int
	Pre                        string
}

// ParseVersion reads MAJOR.MINOR.PATCH[-PRE][+BUILD] (a leading v allowed).
func ParseVersion(s string) (Version, error) {
	var v Version
	rest := strings.TrimPrefix(s, "v")
	if core, build, ok := strings.Cut(rest, "+"); ok {
		n, err := strconv.Atoi(build)
		if err != nil || n < 0 {
			return v, fmt.Errorf("%q: the build number %q is not a whole number", s, build)
		}
		v.Build, rest = n, core
	}
	if core, pre, ok := strings.Cut(rest, "-"); ok {
		if pre == "" {
			return v, fmt.Errorf("%q: an empty pre-release", s)
		}
		v.Pre, rest = pre, core
	}
	parts := strings.Split(rest, ".")
	if len(parts) != 3 {
		return v, fmt.Errorf("%q is not MAJOR.MINOR.PATCH[+BUILD]", s)
	}
	nums := []*int{&v.Major, &v.Minor, &v.Patch}
	for i, p := range parts {
		n, err := strconv.Atoi(p)
		if err != nil || n < 0 || (len(p) > 1 && p[0] == '0') {
			return v, fmt.Errorf("%q is not MAJOR.MINOR.PATCH[+BUILD]", s)
		}
		*nums[i] = n
	}
	return v, nil
}

// Compare is -1, 0 or +1 as v is older, the same as or newer than w: by
// major, minor, patch, then a pre-release before its release, then build.
func (v Version) Compare(w Version) int {
	for _, d := range [][2]int{{v.Major, w.Major}, {v.Minor, w.Minor}, {v.Patch, w.Patch}} {
		if c := cmpInt(d[0], d[1]); c != 0 {
			return c
		}
	}
	switch {
	case v.Pre != w.Pre && v.Pre == "":
		return 1
	case v.Pre != w.Pre && w.Pre == "":
		return -1
	case v.Pre != w.Pre:
		return strings.Compare(v.Pre, w.Pre)
	}
	return cmpInt(v.Build, w.Build)
}

func cmpInt(a, b int) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}
