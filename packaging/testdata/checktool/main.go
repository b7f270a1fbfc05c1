// Command checktool is what check-update-in-systemd.sh needs inside the
// container's minimal Debian root, which has neither curl nor jq; the
// self-update test (TestSelfUpdateUnderSystemd) builds it static and copies
// it in.
//
//	checktool json PATH < FILE
//	    print the value at PATH (keys joined by dots, e.g. last_update.result)
//	    of the JSON document on stdin; a string bare, anything else as JSON;
//	    nothing for a missing key or null
//	checktool portal --cloud URL --ca FILE --email E --password P --account N
//	    sign in to the reference cloud's portal as a person would (e-mail and
//	    password, then the account number) and print its systems table, one
//	    line "HOST DAEMON-VERSION" a system
package main

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"html"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"regexp"
	"strings"
	"time"
)

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: checktool json PATH | portal --cloud URL --ca FILE --email E --password P --account N")
		os.Exit(2)
	}
	var err error
	switch os.Args[1] {
	case "json":
		err = jsonPath(os.Args[2:])
	case "portal":
		err = portal(os.Args[2:])
	default:
		err = fmt.Errorf("unknown command %q", os.Args[1])
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "checktool:", err)
		os.Exit(1)
	}
}

func jsonPath(args []string) error {
	if len(args) != 1 {
		return errors.New("json needs one PATH")
	}
	var v any
	if err := json.NewDecoder(os.Stdin).Decode(&v); err != nil {
		return err
	}
	for _, k := range strings.Split(args[0], ".") {
		m, ok := v.(map[string]any)
		if !ok {
			return nil
		}
		v = m[k]
	}
	switch v := v.(type) {
	case nil:
	case string:
		fmt.Println(v)
	default:
		b, _ := json.Marshal(v)
		fmt.Println(string(b))
	}
	return nil
}

var (
	pendingRE = regexp.MustCompile(`name="pending" value="([^"]+)"`)
	rowRE     = regexp.MustCompile(`(?s)<tr>\s*<td><span class="host">([^<]*)</span>.*?<span class="reason">Daemon ([^<]*)</span>`)
	alertRE   = regexp.MustCompile(`(?s)<div class="alert error" role="alert">(.*?)</div>`)
)

func portal(args []string) error {
	fs := flag.NewFlagSet("portal", flag.ContinueOnError)
	cloud := fs.String("cloud", "", "the cloud's base URL")
	caFile := fs.String("ca", "", "the cloud's CA certificate (PEM)")
	email := fs.String("email", "", "the portal user")
	password := fs.String("password", "", "the user's password")
	account := fs.String("account", "", "the account number, when the sign-in asks for it")
	if err := fs.Parse(args); err != nil {
		return err
	}
	pem, err := os.ReadFile(*caFile)
	if err != nil {
		return err
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		return fmt.Errorf("%s holds no certificate", *caFile)
	}
	jar, _ := cookiejar.New(nil)
	c := &http.Client{Jar: jar, Timeout: 20 * time.Second,
		Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	base := strings.TrimSuffix(*cloud, "/")
	page, err := post(c, base+"/portal/signin", url.Values{"email": {*email}, "password": {*password}, "action": {"signin"}})
	if err != nil {
		return err
	}
	if m := pendingRE.FindStringSubmatch(page); m != nil {
		if page, err = post(c, base+"/portal/signin", url.Values{"pending": {html.UnescapeString(m[1])}, "account": {*account}, "action": {"continue"}}); err != nil {
			return err
		}
	}
	if !strings.Contains(page, `<table class="systems">`) {
		if m := alertRE.FindStringSubmatch(page); m != nil {
			return fmt.Errorf("the sign-in failed: %s", html.UnescapeString(strings.TrimSpace(m[1])))
		}
		if !strings.Contains(page, "No system is linked") {
			return fmt.Errorf("the portal did not show the systems table:\n%s", page)
		}
	}
	for _, m := range rowRE.FindAllStringSubmatch(page, -1) {
		fmt.Println(html.UnescapeString(m[1]), html.UnescapeString(strings.TrimSpace(m[2])))
	}
	return nil
}

// post sends the form and returns the page it ends on (redirects followed).
func post(c *http.Client, u string, form url.Values) (string, error) {
	resp, err := c.PostForm(u, form)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return "", err
	}
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("%s answered %s:\n%s", u, resp.Status, body)
	}
	return string(body), nil
}
