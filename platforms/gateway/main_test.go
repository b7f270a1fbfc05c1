package gateway

import (
	"context"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cloudlink/cld/internal/gobuild"
	"go.uber.org/goleak"
)

var (
	fakegwDir  string
	fakegwOnce sync.Once
	fakegwBin  string
	fakegwErr  error
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m, goleak.Cleanup(func(int) {
		if fakegwDir != "" {
			_ = os.RemoveAll(fakegwDir)
		}
	}))
}

// fakegw builds the stand-in gateway core (testdata/fakegw) once.
func fakegw(t *testing.T) string {
	t.Helper()
	fakegwOnce.Do(func() {
		fakegwDir, fakegwErr = os.MkdirTemp("", "fakegw")
		if fakegwErr != nil {
			return
		}
		fakegwBin = filepath.Join(fakegwDir, "clgw-core")
		fakegwErr = gobuild.Build(fakegwBin, "./testdata/fakegw", gobuild.Options{})
	})
	if fakegwErr != nil {
		t.Fatal(fakegwErr)
	}
	return fakegwBin
}

// testLogger discards logs unless CLD_TEST_LOG is set.
func testLogger(t testing.TB) *slog.Logger {
	if os.Getenv("CLD_TEST_LOG") != "" {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug})).With("test", t.Name())
	}
	return slog.New(slog.NewTextHandler(io.Discard, nil))
}

// copyTree copies the fixture testdata/name into a new temporary root.
func copyTree(t *testing.T, name string) string {
	t.Helper()
	root := t.TempDir()
	src := filepath.Join("testdata", name)
	err := filepath.WalkDir(src, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		dst := filepath.Join(root, rel)
		if d.IsDir() {
			return os.MkdirAll(dst, 0o755)
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		data, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		return os.WriteFile(dst, data, info.Mode().Perm())
	})
	if err != nil {
		t.Fatal(err)
	}
	return root
}

// writeFile writes root/rel, making its directory.
func writeFile(t *testing.T, root, rel, content string, mode os.FileMode) {
	t.Helper()
	p := filepath.Join(root, filepath.FromSlash(rel))
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(content), mode); err != nil {
		t.Fatal(err)
	}
}

// freePort is a TCP port on 127.0.0.1 that was free a moment ago.
func freePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// eventually polls cond (a state reached by a background goroutine or
// process) until it holds; the timeout only guards against a hang.
func eventually(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting until %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// testContext ends with the test (and after a minute at most).
func testContext(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	t.Cleanup(cancel)
	return ctx
}

// starts are the PIDs the fake core wrote to its starts.log.
func starts(t *testing.T, instDir string) []string {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(instDir, "starts.log"))
	if os.IsNotExist(err) {
		return nil
	}
	if err != nil {
		t.Fatal(err)
	}
	return strings.Fields(string(data))
}
