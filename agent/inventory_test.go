package agent

import (
	"compress/gzip"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jonboulle/clockwork"

	"github.com/cloudlink/cld/agent/api"
	"github.com/cloudlink/cld/agent/client"
	"github.com/cloudlink/cld/agent/config"
	"github.com/cloudlink/cld/agent/outbox"
	"github.com/cloudlink/cld/agent/reporter"
	"github.com/cloudlink/cld/cloud/cloudapi"
	"github.com/cloudlink/cld/inventory"
)

// invCloud is the tunnel tests' fake cloud plus the inventory endpoint: it
// checks gzip and the device token, stores every report once by ID and
// counts every POST; it can be down (connections closed) or refuse reports.
type invCloud struct {
	fc  *fakeCloud
	srv *httptest.Server

	mu      sync.Mutex
	down    bool
	refuse  int // answer inventory POSTs with this status (400, 413, 503) when set
	posts   []string
	stored  []inventory.Report
	byID    map[string]bool
	badGzip int
}

func newInvCloud(t *testing.T) *invCloud {
	c := &invCloud{fc: newFakeCloud(t), byID: map[string]bool{}}
	inner := c.fc.srv.Config.Handler
	c.srv = httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c.mu.Lock()
		down := c.down
		c.mu.Unlock()
		if down {
			if hj, ok := w.(http.Hijacker); ok {
				conn, _, _ := hj.Hijack()
				conn.Close()
				return
			}
		}
		if r.Method == http.MethodPost && r.URL.Path == cloudapi.PathSystemInventory {
			c.inventory(w, r)
			return
		}
		inner.ServeHTTP(w, r)
	}))
	c.srv.Config.ErrorLog = log.New(io.Discard, "", 0)
	c.srv.StartTLS()
	t.Cleanup(c.srv.Close)
	return c
}

func (c *invCloud) inventory(w http.ResponseWriter, r *http.Request) {
	if r.Header.Get("Authorization") != "Bearer device-token" {
		w.WriteHeader(401)
		fmt.Fprint(w, `{"error":"invalid_token"}`)
		return
	}
	if r.Header.Get("Content-Encoding") != "gzip" {
		c.mu.Lock()
		c.badGzip++
		c.mu.Unlock()
		w.WriteHeader(400)
		fmt.Fprint(w, `{"error":"invalid_report","error_description":"not gzip"}`)
		return
	}
	zr, err := gzip.NewReader(r.Body)
	var rep inventory.Report
	if err == nil {
		err = json.NewDecoder(zr).Decode(&rep)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if err != nil {
		c.badGzip++
		w.WriteHeader(400)
		fmt.Fprintf(w, `{"error":"invalid_report","error_description":%q}`, err.Error())
		return
	}
	c.posts = append(c.posts, rep.ID)
	switch c.refuse {
	case 0:
	case 401:
		w.WriteHeader(401)
		fmt.Fprint(w, `{"error":"system_revoked","error_description":"This system was removed from its account by admin@acme.test."}`)
		return
	case 400:
		w.WriteHeader(400)
		fmt.Fprint(w, `{"error":"invalid_report","error_description":"the field host.hostname is missing"}`)
		return
	default:
		w.WriteHeader(c.refuse)
		fmt.Fprint(w, `{"error":"server_error","error_description":"no"}`)
		return
	}
	dup := c.byID[rep.ID]
	if !dup {
		c.byID[rep.ID] = true
		c.stored = append(c.stored, rep)
	}
	json.NewEncoder(w).Encode(cloudapi.InventoryAccepted{ID: rep.ID, Duplicate: dup, ReceivedAt: time.Now()})
}

func (c *invCloud) setDown(v bool) {
	c.mu.Lock()
	c.down = v
	c.mu.Unlock()
}

func (c *invCloud) setRefuse(code int) {
	c.mu.Lock()
	c.refuse = code
	c.mu.Unlock()
}

func (c *invCloud) reports() []inventory.Report {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Clone(c.stored)
}

func (c *invCloud) postCount(id string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := 0
	for _, p := range c.posts {
		if p == id {
			n++
		}
	}
	return n
}

func (c *invCloud) triggers() []string {
	var out []string
	for _, r := range c.reports() {
		out = append(out, r.Trigger)
	}
	return out
}

// invRig is an agent with the test platform, the fake edge and invCloud,
// on a fake clock in UTC.
type invRig struct {
	*running
	t     *testing.T
	cfg   config.Config
	cloud *invCloud
	edge  *fakeEdge
	clock *clockwork.FakeClock
	plat  func() []Option
	api   *client.Client
}

// invEpoch is a Wednesday, 00:00 UTC.
var invEpoch = time.Date(2024, 9, 18, 0, 0, 0, 0, time.UTC)

func newInvRig(t *testing.T) *invRig {
	t.Helper()
	rig := &invRig{t: t, cloud: newInvCloud(t), edge: newFakeEdge(), clock: clockwork.NewFakeClockAt(invEpoch)}
	sm, mbg := listenLocal(t), listenLocal(t)
	rig.cfg = testConfig(t, t.TempDir())
	rig.cfg.Cloud = rig.cloud.srv.URL
	rig.plat = func() []Option {
		return []Option{WithPlatform(testPlatform(t, sm.Addr().String(), mbg.Addr().String()))}
	}
	rig.start()
	return rig
}

func (rig *invRig) start() {
	rig.t.Helper()
	opts := append([]Option{WithClock(rig.clock), withoutClockCheck, WithHTTPClient(rig.cloud.srv.Client()), withServe(rig.edge.serve),
		withInventoryTuning(func(tu *reporter.Tuning) { tu.Loc, tu.Clock = time.UTC, rig.clock })}, rig.plat()...)
	rig.running = mustAgent(rig.t, rig.cfg, opts...)
	rig.api = client.NewHandler(rig.running.APIHandler())
}

func (rig *invRig) restart() {
	rig.t.Helper()
	rig.running.stop()
	rig.start()
}

func (rig *invRig) link() {
	rig.t.Helper()
	if _, err := rig.running.link.Link(context.Background(), api.LinkRequest{Username: "admin@acme.test", Password: "pw"}); err != nil {
		rig.t.Fatal(err)
	}
}

// waitReports waits until the cloud stored n reports and returns them.
func (rig *invRig) waitReports(n int) []inventory.Report {
	rig.t.Helper()
	eventually(rig.t, fmt.Sprintf("%d reports stored", n), func() bool { return len(rig.cloud.reports()) >= n })
	return rig.cloud.reports()
}

// advance moves the fake clock in steps, letting the loops run between.
func (rig *invRig) advance(total, step time.Duration) {
	for d := time.Duration(0); d < total; d += step {
		rig.clock.Advance(step)
		time.Sleep(time.Millisecond) // lets woken loops set their next timers (not a logic wait)
	}
}

func (rig *invRig) outboxID() string {
	rig.t.Helper()
	o, err := outbox.Open(filepath.Join(rig.cfg.StateDir, reporter.OutboxFile), time.Now())
	if err != nil {
		rig.t.Fatal(err)
	}
	e, _ := o.Peek()
	return e.ID
}

func TestInventoryOnLinkStartAndDaily(t *testing.T) {
	rig := newInvRig(t)
	if got := rig.cloud.reports(); len(got) != 0 {
		t.Fatalf("an unlinked daemon sent %d reports", len(got))
	}
	rig.link()
	reps := rig.waitReports(1)
	if r := reps[0]; r.Trigger != reporter.TriggerLink || r.SystemID != "sys-1" || r.ID == "" || r.Platform == nil || r.Platform.Name != "Test host" {
		t.Fatalf("link report: %+v", r)
	}
	eventually(t, "Last set", func() bool {
		inv := rig.Status(context.Background()).Inventory
		return inv.Last != nil && !inv.Pending && inv.Next != nil
	})
	inv := rig.Status(context.Background()).Inventory
	m := reporter.DailyMinute("sys-1")
	wantNext := invEpoch.Add(time.Duration(m) * time.Minute)
	if !inv.Next.Equal(wantNext) {
		t.Fatalf("Next = %v, want %v (minute %d of the day)", inv.Next, wantNext, m)
	}
	if !inv.Last.Equal(invEpoch) {
		t.Fatalf("Last = %v, want %v", inv.Last, invEpoch)
	}

	rig.restart()
	reps = rig.waitReports(2)
	if reps[1].Trigger != reporter.TriggerStart {
		t.Fatalf("after a restart: %q, want start", reps[1].Trigger)
	}
	// Last and Next survived the restart.
	if inv := rig.Status(context.Background()).Inventory; inv.Last == nil || inv.Next == nil || !inv.Next.Equal(wantNext) {
		t.Fatalf("after restart: %+v", inv)
	}

	// Just before the daily time nothing is sent; at it, the daily report.
	rig.advance(wantNext.Sub(rig.clock.Now())-time.Minute, time.Hour)
	if n := len(rig.cloud.reports()); n != 2 {
		t.Fatalf("%d reports before the daily time: %v", n, rig.cloud.triggers())
	}
	rig.advance(2*time.Minute, time.Minute)
	reps = rig.waitReports(3)
	if reps[2].Trigger != reporter.TriggerDaily {
		t.Fatalf("daily: %v", rig.cloud.triggers())
	}
	eventually(t, "Next moves a day on", func() bool {
		inv := rig.Status(context.Background()).Inventory
		return inv.Next != nil && inv.Next.Equal(wantNext.Add(24*time.Hour))
	})
}

func TestInventoryTunnelChangesDebounced(t *testing.T) {
	rig := newInvRig(t)
	rig.link()
	rig.waitReports(1)
	if _, err := rig.tunnels.Start("sm"); err != nil {
		t.Fatal(err)
	}
	if _, err := rig.tunnels.Start("mbg"); err != nil {
		t.Fatal(err)
	}
	eventually(t, "tunnels started with public URLs", func() bool {
		for _, tn := range rig.tunnels.List().Tunnels {
			if tn.Status != api.TunnelStarted || tn.PublicURL == "" {
				return false
			}
		}
		return true
	})
	// Several status changes happened; none is reported before the quiet period.
	if n := len(rig.cloud.reports()); n != 1 {
		t.Fatalf("reported before the quiet period: %v", rig.cloud.triggers())
	}
	// The loop notices the last change asynchronously: advance until the
	// report comes (the quiet period after that change).
	for start := rig.clock.Now(); len(rig.cloud.reports()) < 2; {
		if rig.clock.Since(start) > reporter.DefaultTuning().MaxDelay {
			t.Fatal("no change report within the longest delay")
		}
		rig.advance(time.Second, time.Second)
		time.Sleep(5 * time.Millisecond) // guard only: delivery is asynchronous
	}
	reps := rig.waitReports(2)
	r := reps[1]
	if r.Trigger != reporter.TriggerChange {
		t.Fatalf("trigger %q", r.Trigger)
	}
	joined := strings.Join(r.Changes, "; ")
	if !strings.Contains(joined, "tunnel sm: stopped → started") || !strings.Contains(joined, "tunnel mbg: stopped → started") {
		t.Fatalf("changes: %q", r.Changes)
	}
	// Nothing else changes: no further report.
	rig.advance(2*reporter.DefaultTuning().MaxDelay, 5*time.Second)
	if got := rig.cloud.triggers(); len(got) != 2 {
		t.Fatalf("reports after the changes settled: %v", got)
	}
}

func TestInventoryChangeMaxDelay(t *testing.T) {
	rig := newInvRig(t)
	rig.link()
	rig.waitReports(1)
	t0 := rig.clock.Now()
	if _, err := rig.tunnels.Start("sm"); err != nil {
		t.Fatal(err)
	}
	// mbg flaps every 5 s, so the quiet period never ends: the report goes
	// the maximum delay (reporter.DefaultTuning) after the first change all the same.
	for i := 0; len(rig.cloud.reports()) < 2; i++ {
		if rig.clock.Since(t0) > reporter.DefaultTuning().MaxDelay+10*time.Second {
			t.Fatalf("no report %s after the first change", rig.clock.Since(t0))
		}
		on := i%2 == 0
		if on {
			rig.tunnels.Start("mbg")
		} else {
			rig.tunnels.Stop("mbg")
		}
		eventually(t, "mbg settled", func() bool {
			return (tunnelOf(t, rig.Agent, "mbg").Status == api.TunnelStarted) == on
		})
		rig.advance(5*time.Second, 5*time.Second)
		time.Sleep(20 * time.Millisecond) // the report's delivery is asynchronous; the loop above only guards
	}
	r := rig.cloud.reports()[1]
	if at := r.GeneratedAt.Sub(t0); r.Trigger != reporter.TriggerChange || at < reporter.DefaultTuning().MaxDelay-5*time.Second || at > reporter.DefaultTuning().MaxDelay+5*time.Second {
		t.Fatalf("%s report made %s after the first change, want about %s", r.Trigger, at, reporter.DefaultTuning().MaxDelay)
	}
}

// TestInventoryOutageAndRestarts is the acceptance case on the fake cloud:
// the cloud is down for an hour of simulated time and the daemon restarted
// twice in between; once the cloud is back, the newest report arrives,
// exactly once, and the superseded ones never do.
func TestInventoryOutageAndRestarts(t *testing.T) {
	rig := newInvRig(t)
	rig.link()
	rig.waitReports(1)
	rig.cloud.setDown(true)

	rig.advance(10*time.Minute, time.Minute)
	rig.restart()
	eventually(t, "the start report queued", func() bool { return rig.Status(context.Background()).Inventory.Pending })
	first := rig.outboxID()
	rig.advance(20*time.Minute, time.Minute)
	eventually(t, "the failed attempt is shown", func() bool {
		inv := rig.Status(context.Background()).Inventory
		return inv.Pending && strings.Contains(inv.LastError, "Could not reach CloudLink")
	})

	rig.restart()
	eventually(t, "a newer report supersedes", func() bool { return rig.outboxID() != first && rig.outboxID() != "" })
	newest := rig.outboxID()
	rig.advance(30*time.Minute, time.Minute)
	if n := len(rig.cloud.reports()); n != 1 {
		t.Fatalf("reports stored while down: %d", n)
	}

	rig.cloud.setDown(false)
	rig.advance(reporter.DefaultTuning().RetryMax+time.Minute, 30*time.Second)
	rig.waitReports(2)
	eventually(t, "outbox empty", func() bool { return !rig.Status(context.Background()).Inventory.Pending })
	rig.advance(reporter.DefaultTuning().RetryMax*2, time.Minute)
	reps := rig.cloud.reports()
	if len(reps) != 2 || reps[1].ID != newest || reps[1].Trigger != reporter.TriggerStart {
		t.Fatalf("stored %d reports (%v), want the link report and %s", len(reps), rig.cloud.triggers(), newest)
	}
	if n := rig.cloud.postCount(newest); n != 1 {
		t.Fatalf("the newest report was posted %d times after the cloud came back", n)
	}
	if n := rig.cloud.postCount(first); n != 0 {
		t.Fatalf("the superseded report reached the cloud %d times", n)
	}
	if inv := rig.Status(context.Background()).Inventory; inv.LastError != "" || inv.Last == nil {
		t.Fatalf("after delivery: %+v", inv)
	}
}

func TestInventoryRetriesKeepTheID(t *testing.T) {
	rig := newInvRig(t)
	rig.cloud.setRefuse(503)
	rig.link()
	eventually(t, "two failed attempts", func() bool {
		rig.advance(reporter.DefaultTuning().RetryMin*4, reporter.DefaultTuning().RetryMin)
		c := rig.cloud
		c.mu.Lock()
		defer c.mu.Unlock()
		return len(c.posts) >= 3
	})
	id := rig.outboxID()
	rig.cloud.setRefuse(0)
	rig.advance(reporter.DefaultTuning().RetryMax+time.Minute, 30*time.Second)
	reps := rig.waitReports(1)
	if reps[0].ID != id || reps[0].Trigger != reporter.TriggerLink {
		t.Fatalf("stored %+v, want %s", reps[0], id)
	}
	rig.cloud.mu.Lock()
	for _, p := range rig.cloud.posts {
		if p != id {
			t.Errorf("a retry carried another ID: %s", p)
		}
	}
	rig.cloud.mu.Unlock()
}

func TestInventoryRefusedReportIsDropped(t *testing.T) {
	rig := newInvRig(t)
	rig.cloud.setRefuse(400)
	rig.link()
	eventually(t, "the refusal warning", func() bool { return rig.Health().Has(reporter.WarnRejected) })
	inv := rig.Status(context.Background()).Inventory
	if inv.Pending || !strings.Contains(inv.LastError, "host.hostname is missing") {
		t.Fatalf("after a refusal: %+v", inv)
	}
	rig.advance(reporter.DefaultTuning().RetryMax*2, time.Minute)
	rig.cloud.mu.Lock()
	n := len(rig.cloud.posts)
	rig.cloud.mu.Unlock()
	if n != 1 {
		t.Fatalf("a refused report was retried: %d posts", n)
	}
	// A submitted report goes through and clears the warning.
	rig.cloud.setRefuse(0)
	inv, err := rig.api.SubmitInventory(context.Background())
	if err != nil || inv.Pending || inv.LastError != "" || inv.Last == nil {
		t.Fatalf("submit: %+v, %v", inv, err)
	}
	if rig.Health().Has(reporter.WarnRejected) {
		t.Fatal("the warning stayed after an accepted report")
	}
	if reps := rig.cloud.reports(); len(reps) != 1 || reps[0].Trigger != reporter.TriggerManual {
		t.Fatalf("%v", rig.cloud.triggers())
	}
}

func TestInventorySubmitAndPreview(t *testing.T) {
	rig := newInvRig(t)
	ctx := context.Background()
	if _, err := rig.api.InventoryPreview(ctx); err == nil {
		t.Fatal("preview while unlinked: want not_linked")
	} else if ae, ok := err.(*api.Error); !ok || ae.Code != api.CodeNotLinked {
		t.Fatalf("preview while unlinked: %v", err)
	}
	if _, err := rig.api.SubmitInventory(ctx); err == nil {
		t.Fatal("submit while unlinked: want not_linked")
	} else if ae, ok := err.(*api.Error); !ok || ae.Code != api.CodeNotLinked {
		t.Fatalf("submit while unlinked: %v", err)
	}
	rig.link()
	rig.waitReports(1)
	doc, err := rig.api.InventoryPreview(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var r inventory.Report
	if err := json.Unmarshal(doc, &r); err != nil || r.Trigger != reporter.TriggerManual || r.SystemID != "sys-1" || r.SchemaVersion != inventory.SchemaVersion {
		t.Fatalf("preview %s: %v", doc, err)
	}
	if strings.Contains(string(doc), "s1") && strings.Contains(string(doc), `"s1"`) {
		t.Fatalf("the preview carries the client secret: %s", doc)
	}

	rig.cloud.setDown(true)
	inv, err := rig.api.SubmitInventory(ctx)
	if err != nil || !inv.Pending || !strings.Contains(inv.LastError, "Could not reach CloudLink") {
		t.Fatalf("submit with the cloud down: %+v, %v", inv, err)
	}
	rig.cloud.setDown(false)
	inv, err = rig.api.SubmitInventory(ctx)
	if err != nil || inv.Pending || inv.LastError != "" {
		t.Fatalf("submit: %+v, %v", inv, err)
	}
	if got := rig.cloud.triggers(); len(got) != 2 || got[1] != reporter.TriggerManual {
		t.Fatalf("stored: %v", got)
	}
	// The state files are private.
	for _, f := range []string{reporter.StateFile, reporter.OutboxFile} {
		fi, err := os.Stat(filepath.Join(rig.cfg.StateDir, f))
		if err != nil || fi.Mode().Perm() != 0o600 {
			t.Errorf("%s: %v %v", f, fi, err)
		}
	}
}

func TestInventoryRevokedSystem(t *testing.T) {
	rig := newInvRig(t)
	rig.cloud.setRefuse(401)
	rig.link()
	eventually(t, "unlinked by the revocation", func() bool {
		st := rig.Status(context.Background())
		return st.State == api.StateUnlinked && strings.Contains(st.Reason, "removed from its account by admin@acme.test")
	})
}
