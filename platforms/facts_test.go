package platforms

import (
	"os"
	"path/filepath"
	"testing"
)

func TestAtLeast(t *testing.T) {
	for _, tc := range []struct {
		v, min string
		want   bool
	}{
		{"11.0.110", "11.0.110", true}, {"11.0.109", "11.0.110", false}, {"12.1", "12.1", true},
		{"12.0.5", "12.1", false}, {"10.1 SP1", "10.1 SP1", true}, {"10.1", "10.1 SP1", false},
		{"V10R3 FR33 HF3", "V10R3 FR33 HF3", true}, {"V10R3 FR32 HF9", "V10R3 FR33 HF3", false},
		{"V11R0.22", "V11.R0.22", true}, {"8.2 SP2", "8.2 SP2", true}, {"9.0", "8.2 SP2", true},
		{"", "1.0", false}, {"unknown", "1.0", false},
	} {
		if got := AtLeast(tc.v, tc.min); got != tc.want {
			t.Errorf("AtLeast(%q, %q) = %v, want %v", tc.v, tc.min, got, tc.want)
		}
	}
}

func TestReadKeyValues(t *testing.T) {
	root := t.TempDir()
	os.MkdirAll(filepath.Join(root, "etc"), 0o755)
	os.WriteFile(filepath.Join(root, "etc/os-release"), []byte("# c\nNAME=\"Mitel Standard Linux\"\nVERSION_ID='11.0'\n\nBAD LINE\n"), 0o644)
	kv, err := ReadKeyValues(root, "/etc/os-release")
	if err != nil || kv["NAME"] != "Mitel Standard Linux" || kv["VERSION_ID"] != "11.0" || len(kv) != 2 {
		t.Fatalf("%v %v", kv, err)
	}
	if _, err := ReadKeyValues(root, "/etc/missing"); err != ErrNotDetected {
		t.Errorf("missing file: %v", err)
	}
}
