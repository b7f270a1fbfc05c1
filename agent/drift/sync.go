package drift

import (
	"context"
	"errors"
	"fmt"
	"os/exec"
	"strings"
	"time"

	"github.com/godbus/dbus/v5"
)

// Sync is what the host says of its clock.
type Sync struct {
	// Synchronized is nil when no source could tell.
	Synchronized *bool
	// Source names where the answer came from: "systemd-timedated (D-Bus)",
	// "timedatectl", or "" when unknown.
	Source string
	// Err says why it is unknown (for the doctor's detail).
	Err error
}

// SyncReader reads the host's synchronization state.
type SyncReader func(ctx context.Context) Sync

// HostSync asks systemd-timedated over D-Bus (org.freedesktop.timedate1,
// property NTPSynchronized), else runs `timedatectl show -p NTPSynchronized
// --value`, else reports unknown.
func HostSync(ctx context.Context) Sync {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	b, derr := timedated(ctx)
	if derr == nil {
		return Sync{Synchronized: &b, Source: "systemd-timedated (D-Bus)"}
	}
	b, terr := timedatectl(ctx)
	if terr == nil {
		return Sync{Synchronized: &b, Source: "timedatectl"}
	}
	return Sync{Err: fmt.Errorf("systemd-timedated over D-Bus: %v; timedatectl: %v", derr, terr)}
}

func timedated(ctx context.Context) (bool, error) {
	conn, err := dbus.ConnectSystemBus(dbus.WithContext(ctx))
	if err != nil {
		return false, err
	}
	defer conn.Close()
	obj := conn.Object("org.freedesktop.timedate1", "/org/freedesktop/timedate1")
	var v dbus.Variant
	err = obj.CallWithContext(ctx, "org.freedesktop.DBus.Properties.Get", 0, "org.freedesktop.timedate1", "NTPSynchronized").Store(&v)
	if err != nil {
		return false, err
	}
	b, ok := v.Value().(bool)
	if !ok {
		return false, fmt.Errorf("NTPSynchronized is %s, not a boolean", v.Signature())
	}
	return b, nil
}

// timedatectlPath is the command run; tests may point it elsewhere.
var timedatectlPath = "timedatectl"

func timedatectl(ctx context.Context) (bool, error) {
	out, err := exec.CommandContext(ctx, timedatectlPath, "show", "-p", "NTPSynchronized", "--value").Output()
	if err != nil {
		var ee *exec.ExitError
		if errors.As(err, &ee) && len(ee.Stderr) > 0 {
			return false, fmt.Errorf("%v: %s", err, firstLine(string(ee.Stderr)))
		}
		return false, err
	}
	return ParseTimedatectl(string(out))
}

// ParseTimedatectl reads the output of `timedatectl show -p NTPSynchronized
// --value` ("yes" or "no").
func ParseTimedatectl(out string) (bool, error) {
	switch strings.TrimSpace(out) {
	case "yes":
		return true, nil
	case "no":
		return false, nil
	}
	return false, fmt.Errorf("unexpected output %q", truncate(strings.TrimSpace(out), 40))
}

func firstLine(s string) string {
	s, _, _ = strings.Cut(strings.TrimSpace(s), "\n")
	return s
}
