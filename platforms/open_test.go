package platforms

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
)

// fileAdapter detects its platform when root holds its marker file; a
// marker saying "old" is an unsupported version.
type fileAdapter struct{ typ string }

type plainPlatform struct{ typ string }

func (p plainPlatform) Type() string      { return p.typ }
func (p plainPlatform) Name() string      { return p.typ }
func (p plainPlatform) Version() string   { return "1.0" }
func (p plainPlatform) Tunnels() []Tunnel { return nil }

func (a fileAdapter) Type() string { return a.typ }
func (a fileAdapter) Detect(root string) (Platform, error) {
	v, err := ReadFile(root, "/etc/"+a.typ)
	if err != nil {
		return nil, err
	}
	if v == "old" {
		return nil, &UnsupportedError{Platform: a.typ, Found: "0.9", Needed: "1.0 or later"}
	}
	return plainPlatform(a), nil
}
func (a fileAdapter) Configure(cfg Config) (Platform, error) { return a.Detect(cfg.Root) }

func hostWith(t *testing.T, markers map[string]string) string {
	root := t.TempDir()
	os.MkdirAll(filepath.Join(root, "etc"), 0o755)
	for name, v := range markers {
		os.WriteFile(filepath.Join(root, "etc", name), []byte(v), 0o644)
	}
	return root
}

// Auto selection: exactly one adapter must recognize the host; none and
// two are errors that name the candidates; a forced type detects under
// the root it is given; a refusal is the adapter's own error.
func TestOpenSelection(t *testing.T) {
	adapters := []Adapter{fileAdapter{"alpha"}, fileAdapter{"beta"}}
	auto := Config{Type: Auto}
	if p, err := Open(auto, hostWith(t, map[string]string{"beta": "ok"}), adapters...); err != nil || p.Type() != "beta" {
		t.Errorf("one match: %v %v", p, err)
	}
	_, err := Open(Config{}, hostWith(t, nil), adapters...)
	var nd *NotDetectedError
	if !errors.As(err, &nd) || !strings.Contains(err.Error(), "tried: alpha, beta") {
		t.Errorf("none: %v", err)
	}
	_, err = Open(auto, hostWith(t, map[string]string{"alpha": "ok", "beta": "ok"}), adapters...)
	var amb *AmbiguousError
	if !errors.As(err, &amb) || !errors.Is(err, ErrConfig) || !strings.Contains(err.Error(), "(alpha, beta)") || !strings.Contains(err.Error(), "set platform: {type: NAME}") {
		t.Errorf("two: %v", err)
	}
	_, err = Open(auto, hostWith(t, map[string]string{"alpha": "old"}), adapters...)
	var un *UnsupportedError
	if !errors.As(err, &un) || !strings.Contains(err.Error(), "alpha 0.9 is not supported: cld needs 1.0 or later") {
		t.Errorf("unsupported: %v", err)
	}
	// Forced: the other adapter's files do not matter.
	var doc struct {
		Platform Config `yaml:"platform"`
	}
	yaml.Unmarshal([]byte("platform: {type: alpha}\n"), &doc)
	if p, err := Open(doc.Platform, hostWith(t, map[string]string{"alpha": "ok", "beta": "ok"}), adapters...); err != nil || p.Type() != "alpha" {
		t.Errorf("forced: %v %v", p, err)
	}
	yaml.Unmarshal([]byte("platform: {type: auto}\n"), &doc)
	if p, err := Open(doc.Platform, hostWith(t, map[string]string{"alpha": "ok"}), adapters...); err != nil || p.Type() != "alpha" {
		t.Errorf("type auto in the file: %v %v", p, err)
	}
}
