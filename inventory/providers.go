package inventory

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"slices"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/cloudlink/cld/platforms"
)

// collectPlatform fills Platform, Applications and License from the
// platform source. On a nested platform (SMBC's child) only the child is
// listed, with its parent's type in Platform.Parent.
func collectPlatform(ctx context.Context, e *env) (func(*Report), error) {
	src := e.cfg.Providers.Platform
	if src == nil {
		return nil, noData("no platform source")
	}
	p, err := src(ctx)
	switch {
	case errors.Is(err, ErrNoData):
		return nil, err
	case errors.Is(err, fs.ErrNotExist):
		return nil, noData("%v", err)
	case err != nil:
		return nil, err
	case p == nil:
		return nil, noData("no platform detected or configured on this host")
	}
	plat := &Platform{Type: p.Type(), Name: p.Name(), Version: p.Version()}
	var apps []Application
	var lic *License
	if d, ok := p.(platforms.Describer); ok {
		plat.Parent = d.Parent()
		for _, a := range d.Applications() {
			apps = append(apps, Application{Type: a.Type, Version: a.Version})
		}
		if l := d.License(); l != nil {
			lic = &License{Type: l.Type, SWAStatus: l.SWAStatus, Expires: timePtr(l.Expires), SWAExpiry: timePtr(l.SWAExpiry)}
			if *lic == (License{}) {
				lic = nil
			}
		}
	}
	return func(r *Report) { r.Platform, r.Applications, r.License = plat, apps, lic }, ctx.Err()
}

func timePtr(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	t = t.UTC()
	return &t
}

func collectTunnels(ctx context.Context, e *env) (func(*Report), error) {
	f := e.cfg.Providers.Tunnels
	if f == nil {
		return nil, noData("no tunnel source")
	}
	ts, err := f(ctx)
	if err != nil {
		return nil, err
	}
	ts = slices.Clone(ts)
	return func(r *Report) { r.Tunnels = ts }, ctx.Err()
}

func collectClock(ctx context.Context, e *env) (func(*Report), error) {
	f := e.cfg.Providers.Clock
	if f == nil {
		return nil, noData("no clock source")
	}
	c, err := f(ctx)
	if err != nil {
		return nil, err
	}
	if c == nil {
		return nil, noData("the clock drift is not measured yet")
	}
	cc := *c
	if cc.MeasuredAt != nil {
		m := cc.MeasuredAt.UTC()
		cc.MeasuredAt = &m
	}
	return func(r *Report) { r.Clock = &cc }, ctx.Err()
}

func collectWarnings(ctx context.Context, e *env) (func(*Report), error) {
	f := e.cfg.Providers.Warnings
	if f == nil {
		return nil, noData("no warning source")
	}
	ws, err := f(ctx)
	if err != nil {
		return nil, err
	}
	ws = slices.Clone(ws)
	return func(r *Report) { r.Warnings = ws }, ctx.Err()
}

func collectDaemon(ctx context.Context, e *env) (func(*Report), error) {
	d := e.cfg.Daemon
	return func(r *Report) { r.Daemon = &d }, nil
}

// PlatformFile is a PlatformSource that reads the `platform:` section of the
// daemon's YAML config file at path for every report and opens it with the
// adapters (platforms.Open, detection under root when the section names no
// type). An absent file is "no_data"; an invalid one fails with the file
// and line.
func PlatformFile(path, root string, adapters ...platforms.Adapter) PlatformSource {
	return func(ctx context.Context) (platforms.Platform, error) {
		data, err := os.ReadFile(path)
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return nil, noData("the platform file %s is absent", path)
			}
			return nil, err
		}
		var doc struct {
			Platform platforms.Config `yaml:"platform"`
		}
		if err := yaml.Unmarshal(data, &doc); err != nil {
			return nil, fmt.Errorf("%s: %s", path, strings.TrimPrefix(err.Error(), "yaml: "))
		}
		doc.Platform.Source = path
		p, err := platforms.Open(doc.Platform, root, adapters...)
		if errors.Is(err, platforms.ErrNotDetected) {
			return nil, noData("%v", err)
		}
		return p, err
	}
}

func collectUpdate(ctx context.Context, e *env) (func(*Report), error) {
	f := e.cfg.Providers.Update
	if f == nil {
		return nil, noData("no self-update")
	}
	u, err := f(ctx)
	if err != nil {
		return nil, err
	}
	if u == nil {
		return nil, noData("no self-update")
	}
	return func(r *Report) { r.UpdateSchedule = u }, nil
}

func collectGateway(ctx context.Context, e *env) (func(*Report), error) {
	f := e.cfg.Providers.Gateway
	if f == nil {
		return nil, noData("no gateway source")
	}
	g, err := f(ctx)
	if err != nil {
		return nil, err
	}
	if g == nil {
		return nil, noData("no CloudLink Gateway is installed")
	}
	return func(r *Report) { r.Gateway = g }, nil
}

func collectAccess(ctx context.Context, e *env) (func(*Report), error) {
	f := e.cfg.Providers.Access
	if f == nil {
		return nil, noData("no access audit")
	}
	a, err := f(ctx)
	if err != nil {
		return nil, err
	}
	if a == nil {
		return nil, noData("no access audit")
	}
	return func(r *Report) { r.Access = a }, nil
}
