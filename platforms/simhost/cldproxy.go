package simhost

import (
	"fmt"
	"net/http"
	"net/http/httputil"
	"net/url"
	"strings"
)

// cldProxy is the host web server's part that serves cld under its path
// (MX-ONE's SNM web server at CLD_PATH, /cld): the daemon's dashboard and
// the Provisioning Manager API behind it, over the host's HTTPS. It passes
// the path without the prefix and says the prefix, host and scheme in
// X-Forwarded-Prefix, -Host and -Proto, as the daemon expects of a trusted
// proxy on the same machine.
func cldProxy(prefix, target string, next http.Handler) (http.Handler, error) {
	u, err := url.Parse(target)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("simhost: the daemon's dashboard URL %q is not an http:// URL such as http://127.0.0.1:8080", target)
	}
	prefix = "/" + strings.Trim(prefix, "/")
	rp := &httputil.ReverseProxy{
		Rewrite: func(r *httputil.ProxyRequest) {
			r.SetURL(u)
			p := strings.TrimPrefix(r.In.URL.Path, prefix)
			if p == "" {
				p = "/"
			}
			r.Out.URL.Path, r.Out.URL.RawPath = singleJoin(u.Path, p), ""
			r.SetXForwarded()
			r.Out.Header.Set("X-Forwarded-Prefix", prefix)
		},
		ErrorHandler: func(w http.ResponseWriter, r *http.Request, err error) {
			http.Error(w, "cld does not answer on "+target+": "+err.Error(), http.StatusBadGateway)
		},
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == prefix || strings.HasPrefix(r.URL.Path, prefix+"/") {
			rp.ServeHTTP(w, r)
			return
		}
		next.ServeHTTP(w, r)
	}), nil
}

func singleJoin(a, b string) string {
	return strings.TrimSuffix(a, "/") + "/" + strings.TrimPrefix(b, "/")
}
