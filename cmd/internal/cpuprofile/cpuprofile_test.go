package cpuprofile

import (
	"bytes"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"testing"
)

func TestCPUProfile(t *testing.T) {
	t.Setenv(Env, filepath.Join(t.TempDir(), "cpu-%p.out"))
	stop := Start(io.Discard)
	x := 0
	for i := range 10_000_000 {
		x += i % 7
	}
	_ = x
	stop()
	stop() // twice is harmless
	want := filepath.Join(filepath.Dir(os.Getenv(Env)), "cpu-"+strconv.Itoa(os.Getpid())+".out")
	b, err := os.ReadFile(want)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.HasPrefix(b, []byte{0x1f, 0x8b}) {
		t.Fatalf("%s is not a gzipped pprof profile (%d bytes)", want, len(b))
	}
}

func TestCPUProfileOff(t *testing.T) {
	t.Setenv(Env, "")
	Start(io.Discard)() // nothing to stop
	var out bytes.Buffer
	t.Setenv(Env, filepath.Join(t.TempDir(), "missing", "cpu.out"))
	Start(&out)()
	if !bytes.Contains(out.Bytes(), []byte("no CPU profile")) {
		t.Fatalf("no warning for an unwritable file: %q", out.String())
	}
}

func TestHeapProfile(t *testing.T) {
	t.Setenv(Env, "")
	t.Setenv(HeapEnv, filepath.Join(t.TempDir(), "heap-%p.out"))
	keep := make([][]byte, 0, 64)
	for range 64 {
		keep = append(keep, make([]byte, 64<<10))
	}
	stop := Start(io.Discard)
	stop()
	_ = keep
	want := filepath.Join(filepath.Dir(os.Getenv(HeapEnv)), "heap-"+strconv.Itoa(os.Getpid())+".out")
	b, err := os.ReadFile(want)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.HasPrefix(b, []byte{0x1f, 0x8b}) {
		t.Fatalf("%s is not a gzipped pprof profile (%d bytes)", want, len(b))
	}
}
