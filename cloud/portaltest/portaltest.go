// Package portaltest walks the reference cloud's pages the way a browser
// does, for the tests of other packages that run the real binaries: it
// follows redirects and fills in the portal's sign-in and account forms
// (the tunnel edge's sign-in, the link flow's account step).
package portaltest

import (
	"io"
	"net/http"
	"net/url"
	"strings"

	"golang.org/x/net/html"
)

// User is who signs in on the portal's forms.
type User struct {
	Email, Password string
	Account         string // the account number chosen on an account step
}

// maxForms bounds the forms one Browse fills in.
const maxForms = 6

// Browse GETs u with c (which should have a cookie jar), and as long as
// the page holds a POST form asking for a password or an account, fills it
// in for user and sends it. It returns the status and body (at most 1 MiB)
// of the first page without such a form.
func Browse(c *http.Client, u string, user User) (int, string, error) {
	res, err := c.Get(u)
	if err != nil {
		return 0, "", err
	}
	for step := 0; ; step++ {
		body, _ := io.ReadAll(io.LimitReader(res.Body, 1<<20))
		res.Body.Close()
		action, values, ok := signInForm(string(body))
		if !ok || step >= maxForms {
			return res.StatusCode, string(body), nil
		}
		for k, v := range map[string]string{"email": user.Email, "password": user.Password, "account_id": user.Account, "account": user.Account} {
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

// signInForm finds the first POST form with a password or account field:
// its action and the values its fields carry.
func signInForm(page string) (string, url.Values, bool) {
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
