package agent

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/cloudlink/cld/agent/api"
	"github.com/cloudlink/cld/platforms"
	"github.com/cloudlink/cld/tunnel"
)

func scrape(t *testing.T, h http.Handler, path string) (int, string) {
	t.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, path, nil))
	return rec.Code, rec.Body.String()
}

// sample finds one sample of the family name whose labels include want.
func sample(t *testing.T, text, name string, want ...string) float64 {
	t.Helper()
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(strings.NewReader(text))
	if err != nil {
		t.Fatalf("the exposition does not parse: %v\n%s", err, text)
	}
	f, ok := fams[name]
	if !ok {
		t.Fatalf("no family %s in:\n%s", name, text)
	}
next:
	for _, m := range f.GetMetric() {
		labels := map[string]string{}
		for _, l := range m.GetLabel() {
			labels[l.GetName()] = l.GetValue()
		}
		for i := 0; i+1 < len(want); i += 2 {
			if labels[want[i]] != want[i+1] {
				continue next
			}
		}
		if c := m.GetCounter(); c != nil {
			return c.GetValue()
		}
		return m.GetGauge().GetValue()
	}
	t.Fatalf("no sample %s%v in:\n%s", name, want, text)
	return 0
}

// TestMetricsAndProbes: /metrics parses with the Prometheus text parser
// and its counters move when a tunnel carries traffic; /healthz and
// /readyz answer what a supervisor can act on.
func TestMetricsAndProbes(t *testing.T) {
	origin := newOrigin(t, "origin")
	web := platforms.Tunnel{ID: "web", Component: "PBX", Name: "Web", LocalAddress: origin.URL, AcceptSelfSigned: true}
	rig := newTunnelRig(t, withServe(tunnel.Serve), WithPlatform(genericPlatform(t, web)))
	h := rig.APIHandler()
	ctx := context.Background()

	code, text := scrape(t, h, "/metrics")
	if code != http.StatusOK || sample(t, text, "cld_link_state", "state", "unlinked") != 1 || sample(t, text, "cld_build_info") != 1 {
		t.Fatalf("unlinked: %d\n%s", code, text)
	}
	if code, body := scrape(t, h, "/readyz"); code != http.StatusOK {
		t.Errorf("readyz unlinked: %d %s", code, body)
	}

	rig.link(t)
	if _, err := rig.api.StartTunnel(ctx, "web"); err != nil {
		t.Fatal(err)
	}
	rig.waitStatus(t, "web", api.TunnelStarted)
	for range 3 {
		c, err := rig.cloud.edge.Open(ctx, "sys-1", "web", "203.0.113.9:5555")
		if err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(c, "GET /x HTTP/1.1\r\nHost: public.example\r\nConnection: close\r\n\r\n")
		io.ReadAll(c)
		c.Close()
	}
	var streams, toEdge float64
	eventually(t, "the counters move", func() bool {
		_, text = scrape(t, h, "/metrics")
		streams = sample(t, text, "cld_tunnel_streams_total", "tunnel", "web")
		toEdge = sample(t, text, "cld_tunnel_bytes_total", "tunnel", "web", "direction", "to_edge")
		return streams == 3 && toEdge > 0
	})
	if sample(t, text, "cld_tunnel_session_up") != 1 || sample(t, text, "cld_tunnel_sessions_total") < 1 ||
		sample(t, text, "cld_link_state", "state", "linked") != 1 || sample(t, text, "cld_tunnel_started", "tunnel", "web") != 1 ||
		sample(t, text, "cld_tunnel_bytes_total", "tunnel", "web", "direction", "from_edge") <= 0 {
		t.Errorf("linked, one tunnel started:\n%s", text)
	}
	sample(t, text, "cld_inventory_reports_sent_total")
	if code, body := scrape(t, h, "/healthz"); code != http.StatusOK || !strings.Contains(body, `"ok":true`) {
		t.Errorf("healthz: %d %s", code, body)
	}

	// The cloud goes away: not ready, with the reason; still healthy.
	rig.cloud.srv.Close()
	rig.clock.Advance(rig.cfg.HeartbeatInterval)
	var p api.Probe
	eventually(t, "readyz says the cloud is unreachable", func() bool {
		rig.clock.Advance(rig.cfg.HeartbeatInterval)
		code, body := scrape(t, h, "/readyz")
		p = api.Probe{}
		json.Unmarshal([]byte(body), &p)
		return code == http.StatusServiceUnavailable && !p.OK && len(p.Reasons) > 0
	})
	if !strings.Contains(strings.Join(p.Reasons, " "), "CloudLink") {
		t.Errorf("readyz reasons: %q", p.Reasons)
	}
	if code, _ := scrape(t, h, "/healthz"); code != http.StatusOK {
		t.Errorf("healthz with the cloud down: %d", code)
	}
}
