package localapi

import (
	"context"
	"testing"

	"github.com/cloudlink/cld/agent/api"
	"github.com/cloudlink/cld/agent/client"
)

func (f *fake) Doctor(context.Context) api.Doctor {
	return api.Doctor{OK: false, Checks: []api.Check{
		{ID: "dns", Title: "DNS resolves the cloud's domain", Status: api.CheckFail, Detail: "x.invalid does not resolve", Remedy: "Configure DNS"},
		{ID: "state_dir", Title: "The state directory is writable", Status: api.CheckPass, Detail: "ok"},
	}}
}

func TestDoctorRoute(t *testing.T) {
	c := client.NewHandler(NewHandler(&fake{}, quiet()))
	d, err := c.Doctor(context.Background())
	if err != nil || d.OK || len(d.Checks) != 2 || d.Checks[0].Remedy != "Configure DNS" || d.Checks[1].Status != api.CheckPass {
		t.Fatalf("Doctor = %+v, %v", d, err)
	}
}
