package agent

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"

	"github.com/cloudlink/cld/agent/api"
	"github.com/cloudlink/cld/agent/provisioning"
	"github.com/cloudlink/cld/cloud"
	"github.com/cloudlink/cld/cloud/cloudapi"
	"github.com/cloudlink/cld/cloud/store"
)

const pmUser, pmPass = "pm-admin", "pm-password-1"

func pmUsers(n int, tag string) []cloudapi.DirectoryUser {
	us := make([]cloudapi.DirectoryUser, n)
	for i := range us {
		us[i] = cloudapi.DirectoryUser{Email: fmt.Sprintf("u%04d@example.com", i), Extension: fmt.Sprint(20000 + i), FirstName: "First" + tag, LastName: fmt.Sprint(i), Services: []string{cloudapi.ServiceZoomClient}}
	}
	return us
}

func pmDevices(n int) []cloudapi.DirectoryDevice {
	ds := make([]cloudapi.DirectoryDevice, n)
	for i := range ds {
		ds[i] = cloudapi.DirectoryDevice{ID: fmt.Sprintf("phone-%04d", i), Extension: fmt.Sprint(20000 + i), Type: "sip"}
	}
	return ds
}

// pmSync posts a sync to the agent's PM API as PM does.
func pmSync(t *testing.T, h http.Handler, users []cloudapi.DirectoryUser, devices []cloudapi.DirectoryDevice) provisioning.SyncResult {
	t.Helper()
	body, _ := json.Marshal(map[string]any{"users": users, "devices": devices})
	req := httptest.NewRequest("POST", provisioning.Prefix+"/sync", strings.NewReader(string(body)))
	req.SetBasicAuth(pmUser, pmPass)
	req.Header.Set("Content-Type", "application/json")
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	var r provisioning.SyncResult
	if rec.Code != 200 || json.Unmarshal(rec.Body.Bytes(), &r) != nil {
		t.Fatalf("sync: %d %s", rec.Code, rec.Body)
	}
	return r
}

func cloudDirectory(t *testing.T, ts *cloud.TestServer) store.Directory {
	t.Helper()
	d, err := ts.Server.Store().Directory(context.Background(), cloud.DemoAccountID)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// wantCloudDirectory checks the cloud holds exactly these users and devices.
func wantCloudDirectory(t *testing.T, ts *cloud.TestServer, users []cloudapi.DirectoryUser, devices []cloudapi.DirectoryDevice) store.Directory {
	t.Helper()
	d := cloudDirectory(t, ts)
	if len(d.Users) != len(users) || len(d.Devices) != len(devices) {
		t.Fatalf("the cloud has %d users and %d devices, want %d and %d", len(d.Users), len(d.Devices), len(users), len(devices))
	}
	want := map[string]cloudapi.DirectoryUser{}
	for _, u := range users {
		want[u.Email] = u
	}
	for _, got := range d.Users {
		w, ok := want[got.Email]
		if !ok || got.Extension != w.Extension || got.FirstName != w.FirstName || got.LastName != w.LastName || got.Role != w.Role || !slices.Equal(got.Services, w.Services) {
			t.Fatalf("cloud user %+v, want %+v", got, w)
		}
	}
	return d
}

// TestProvisioningWithReferenceCloud: 5000 users and 5000 devices synced
// through the PM API arrive at the reference cloud in one batch; the same
// sync again sends nothing; a change sends only itself; changes made
// while the cloud is down arrive once it is back, nothing lost or doubled.
func TestProvisioningWithReferenceCloud(t *testing.T) {
	ts := cloud.NewTestServer(t)
	r := mustAgent(t, cloudConfig(t, ts), withoutClockCheck)
	ctx := context.Background()
	if _, err := r.link.Link(ctx, adminLogin); err != nil {
		t.Fatal(err)
	}
	if _, err := r.provisioning.SetCredential(api.PMCredential{Username: pmUser, Password: pmPass}); err != nil {
		t.Fatal(err)
	}
	h := r.ProvisioningHandler()
	users, devices := pmUsers(cloudapi.MaxDirectoryUsers, ""), pmDevices(cloudapi.MaxDirectoryDevices)
	res := pmSync(t, h, users, devices)
	if res.Users.Created != 5000 || res.Devices.Created != 5000 || len(res.Errors) != 0 {
		t.Fatalf("first sync: %+v", res)
	}
	pmStatus := func() api.Provisioning { return *r.Status(ctx).Provisioning }
	eventually(t, "the directory in the cloud", func() bool { return pmStatus().Pending == 0 })
	d := wantCloudDirectory(t, ts, users, devices)
	if d.Summary.Batches != 1 {
		t.Fatalf("%d batches for the first sync", d.Summary.Batches)
	}

	res = pmSync(t, h, users, devices)
	if res.Users.Unchanged != 5000 || res.Devices.Unchanged != 5000 || res.Pending != 0 {
		t.Fatalf("identical sync: %+v", res)
	}
	if st := pmStatus(); st.Pending != 0 || st.Sending || st.BatchesSent != 1 {
		t.Fatalf("after the identical sync: %+v", st)
	}

	users[7].LastName = "Changed"
	res = pmSync(t, h, users, devices[1:])
	if res.Users.Changed != 1 || res.Devices.Deleted != 1 || res.Pending != 2 {
		t.Fatalf("changing sync: %+v", res)
	}
	eventually(t, "the change in the cloud", func() bool { return pmStatus().Pending == 0 })
	if d := wantCloudDirectory(t, ts, users, devices[1:]); d.Summary.Batches != 2 {
		t.Fatalf("%d batches after one change, want 2", d.Summary.Batches)
	}
	if st := pmStatus(); st.LastChanges != 2 {
		t.Fatalf("the change's batch had %d changes, want 2", st.LastChanges)
	}

	ts.Stop()
	users = pmUsers(4000, "-outage")
	pmSync(t, h, users, devices[:10])
	eventually(t, "a failed send", func() bool { return pmStatus().LastError != "" })
	if !r.health.Has(provisioning.WarnSyncFailed) {
		t.Fatal("no warning while the cloud is down")
	}
	users[0].Role = "admin"
	pmSync(t, h, users, devices[:10])
	ts.Start()
	eventually(t, "the outage's changes in the cloud", func() bool { st := pmStatus(); return st.Pending == 0 && !st.Sending })
	wantCloudDirectory(t, ts, users, devices[:10])
	if r.health.Has(provisioning.WarnSyncFailed) {
		t.Fatal("the warning stays after the cloud took the changes")
	}
}
