package portaltest

import (
	"fmt"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"strings"
	"testing"
)

// TestBrowseSignsIn: a page behind a sign-in form and an account step is
// reached with the user's values; a page without a form is returned as
// it is; a form that never stops asking ends after maxForms.
func TestBrowseSignsIn(t *testing.T) {
	var posts []string
	mux := http.NewServeMux()
	mux.HandleFunc("GET /page", func(w http.ResponseWriter, r *http.Request) {
		if c, err := r.Cookie("s"); err == nil && c.Value == "ok" {
			fmt.Fprint(w, "<p>the page</p>")
			return
		}
		fmt.Fprint(w, `<form method="post" action="/signin"><input name="email"><input type="password" name="password"><input type="hidden" name="next" value="/page"><button type="submit" name="go">Sign in</button></form>`)
	})
	mux.HandleFunc("POST /signin", func(w http.ResponseWriter, r *http.Request) {
		posts = append(posts, r.FormValue("email")+"/"+r.FormValue("password")+"/"+r.FormValue("next")+"/"+r.FormValue("go"))
		fmt.Fprint(w, `<form method="POST" action="/account"><select name="account_id"></select></form>`)
	})
	mux.HandleFunc("POST /account", func(w http.ResponseWriter, r *http.Request) {
		posts = append(posts, "account "+r.FormValue("account_id"))
		http.SetCookie(w, &http.Cookie{Name: "s", Value: "ok", Path: "/"})
		http.Redirect(w, r, "/page", http.StatusSeeOther)
	})
	mux.HandleFunc("GET /loop", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, `<form method="post" action="/loop"><input type="password" name="password"></form>`)
	})
	mux.HandleFunc("POST /loop", func(w http.ResponseWriter, r *http.Request) {
		posts = append(posts, "loop")
		fmt.Fprint(w, `<form method="post" action="/loop"><input type="password" name="password"></form>`)
	})
	srv := httptest.NewServer(mux)
	defer srv.Close()
	jar, _ := cookiejar.New(nil)
	c := &http.Client{Jar: jar}
	user := User{Email: "admin@demo.test", Password: "pw", Account: "100001"}

	code, body, err := Browse(c, srv.URL+"/page", user)
	if err != nil || code != 200 || body != "<p>the page</p>" {
		t.Fatalf("Browse = %d %q %v", code, body, err)
	}
	if got := strings.Join(posts, ", "); got != "admin@demo.test/pw//page/, account 100001" {
		t.Fatalf("posted %s", got)
	}
	posts = nil
	if code, body, err := Browse(c, srv.URL+"/page", user); err != nil || code != 200 || body != "<p>the page</p>" || len(posts) != 0 {
		t.Fatalf("signed in: Browse = %d %q %v, posted %v", code, body, err, posts)
	}
	if _, _, err := Browse(c, srv.URL+"/loop", user); err != nil || len(posts) != maxForms {
		t.Fatalf("a form that keeps asking: %v, %d posts (want %d)", err, len(posts), maxForms)
	}
}
