package chaos

import (
	"net/http"
	"net/http/cookiejar"

	"github.com/cloudlink/cld/cloud/portaltest"
)

func newJar() *cookiejar.Jar { j, _ := cookiejar.New(nil); return j }

// browse GETs u like a browser, signed in on the portal as the demo admin.
func browse(c *http.Client, u string) (int, string, error) {
	return portaltest.Browse(c, u, portaltest.User{Email: admin, Password: password, Account: "100001"})
}
