package chaos

import (
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"strings"

	"golang.org/x/net/html"
)

func newJar() *cookiejar.Jar { j, _ := cookiejar.New(nil); return j }

// browse GETs u like a browser: redirects followed, the portal's sign-in
// forms filled in (the demo admin), until a page without such a form.
func browse(c *http.Client, u string) (int, string, error) {
	res, err := c.Get(u)
	if err != nil {
		return 0, "", err
	}
	for step := 0; ; step++ {
		body, _ := io.ReadAll(io.LimitReader(res.Body, 1<<20))
		res.Body.Close()
		action, values, ok := postForm(string(body))
		if !ok || step > 6 {
			return res.StatusCode, string(body), nil
		}
		for k, v := range map[string]string{"email": admin, "password": password, "account_id": "100001", "account": "100001"} {
			if values.Has(k) && values.Get(k) == "" || k == "password" && values.Has(k) {
				values.Set(k, v)
			}
		}
		next, err := res.Request.URL.Parse(action)
		if err != nil {
			return 0, "", err
		}
		if res, err = c.PostForm(next.String(), values); err != nil {
			return 0, "", err
		}
	}
}

// postForm finds the first POST form with a password or account field.
func postForm(page string) (string, url.Values, bool) {
	doc, err := html.Parse(strings.NewReader(page))
	if err != nil {
		return "", nil, false
	}
	attr := func(n *html.Node, key string) string {
		for _, a := range n.Attr {
			if a.Key == key {
				return a.Val
			}
		}
		return ""
	}
	var action string
	var values url.Values
	var walk func(n *html.Node, cur url.Values)
	walk = func(n *html.Node, cur url.Values) {
		if values != nil {
			return
		}
		if n.Type == html.ElementNode && n.Data == "form" && strings.EqualFold(attr(n, "method"), "post") {
			v := url.Values{}
			for c := n.FirstChild; c != nil; c = c.NextSibling {
				walk(c, v)
			}
			if v.Has("password") || v.Has("account_id") || v.Has("account") {
				action, values = attr(n, "action"), v
			}
			return
		}
		if cur != nil && n.Type == html.ElementNode && (n.Data == "input" || n.Data == "select") && attr(n, "name") != "" {
			if ty := attr(n, "type"); ty != "submit" && ty != "button" {
				cur.Set(attr(n, "name"), attr(n, "value"))
			}
		}
		for c := n.FirstChild; c != nil; c = c.NextSibling {
			walk(c, cur)
		}
	}
	walk(doc, nil)
	return action, values, values != nil
}

// TestProcessTunnel runs the real binaries: cld-cloud with its tunnel edge
// and `cld run` with a generic platform from its config file. A tunnel
// started with the CLI answers on its public URL; after the cloud is killed
// with -9 and started again 2 s later, the tunnel is back by itself (time
// measured); a stopped tunnel does not answer.
