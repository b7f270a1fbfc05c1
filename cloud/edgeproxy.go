package cloud

import (
	"errors"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"

	"golang.org/x/net/http/httpguts"
)

// The edge's HTTP hop to the tunnel.
//
// Every request the edge lets through is proxied by forward: what
// httputil.ReverseProxy does with the edge's Rewrite and ModifyResponse
// (the same request and response headers, the same errors), written for
// this one case. ReverseProxy's general machinery (a deep copy of each
// request, a client trace for interim answers, a timer per response for
// its flush interval) made its own work 8.4 % of the edge's CPU against
// forward's 6.1 %; in interleaved A/B runs of the load harness forward
// took about 4.5 % off the edge's CPU per request (bench/README.md). Requests
// that switch protocols (WebSockets) and CONNECT still go through
// ReverseProxy (e.proxy), whose upgrade handling is kept as it is.
//
// What forward does, as ReverseProxy does:
//   - the outbound request is the inbound one with its own header map and
//     URL; no body when the inbound has none (ContentLength 0);
//   - hop-by-hop headers are removed both ways: those the Connection
//     header names, and hopHeaders; "Te: trailers" is passed on when the
//     client sent it;
//   - Forwarded and X-Forwarded-* from the client are dropped; rewrite
//     sets X-Forwarded-For (the client's address), -Host and -Proto;
//   - query parameters net/url cannot parse are dropped (cleanQuery), so
//     that the edge and the origin read the same parameters;
//   - no User-Agent is added when the client sent none;
//   - the answer's trailers are passed on, announced or not;
//   - a failure before the answer's head is proxyError's page; after it,
//     the client connection is aborted (http.ErrAbortHandler), so that a
//     cut-short body never reads as a whole one.
//
// Flushing differs: ReverseProxy flushes a streaming answer (no
// Content-Length, or text/event-stream) after every write, as forward
// does, and any other every 50 ms. forward flushes any other answer
// whenever the next read of the tunnel stream would wait (nothing left
// in its buffer): a fast answer still leaves in one write, and no byte
// waits for a timer.

// hopHeaders are the hop-by-hop headers (RFC 9110, 7.6.1, and the older
// ones ReverseProxy removes too).
var hopHeaders = []string{
	"Connection", "Proxy-Connection", "Keep-Alive", "Proxy-Authenticate",
	"Proxy-Authorization", "Te", "Trailer", "Transfer-Encoding", "Upgrade",
}

// viaReverseProxy reports whether a request is left to e.proxy: a
// protocol switch or a CONNECT.
func viaReverseProxy(r *http.Request) bool {
	return r.Method == http.MethodConnect || httpguts.HeaderValuesContainsToken(r.Header["Connection"], "Upgrade")
}

// forward proxies r over t (the edge's streamTransport; tests pass
// others). r's context carries its proxyTarget.
func (e *edge) forward(w http.ResponseWriter, r *http.Request, t http.RoundTripper) {
	out := new(http.Request)
	*out = *r
	u := *r.URL
	out.URL = &u
	out.Close = false
	if r.ContentLength == 0 {
		out.Body = nil
	}
	if out.Body != nil {
		// The body's writer may outlive this handler (streamTransport
		// sends it beside the answer); reading it after the handler ends
		// is not allowed.
		defer out.Body.Close()
	}
	h := make(http.Header, len(r.Header)+3)
	for k, v := range r.Header {
		h[k] = v
	}
	removeHopHeaders(h)
	if httpguts.HeaderValuesContainsToken(r.Header["Te"], "trailers") {
		h["Te"] = []string{"trailers"}
	}
	for _, k := range []string{"Forwarded", "X-Forwarded-For", "X-Forwarded-Host", "X-Forwarded-Proto"} {
		delete(h, k)
	}
	out.Header = h
	out.URL.RawQuery = cleanQuery(out.URL.RawQuery)
	e.rewriteOut(out, r)
	if _, ok := h["User-Agent"]; !ok {
		h["User-Agent"] = []string{""} // not Go's default
	}

	res, err := t.RoundTrip(out)
	if err != nil {
		e.proxyError(w, out, err)
		return
	}
	if res.StatusCode == http.StatusSwitchingProtocols {
		// No upgrade was asked for (those go through e.proxy).
		res.Body.Close()
		e.proxyError(w, out, errors.New("the origin switched protocols, which the request did not ask for"))
		return
	}
	removeHopHeaders(res.Header)
	_ = e.modifyResponse(res) // it never fails
	wh := w.Header()
	for k, vv := range res.Header {
		wh[k] = append(wh[k], vv...) // Add: the keys are canonical
	}
	announced := len(res.Trailer)
	if announced > 0 {
		keys := make([]string, 0, announced)
		for k := range res.Trailer {
			keys = append(keys, k)
		}
		wh.Add("Trailer", strings.Join(keys, ", "))
	}
	w.WriteHeader(res.StatusCode)
	if err := copyAnswer(w, res); err != nil {
		res.Body.Close()
		// The head has gone out: all that is left is to cut the client's
		// connection (net/http recovers this panic and logs nothing).
		panic(http.ErrAbortHandler)
	}
	res.Body.Close() // fills res.Trailer
	if len(res.Trailer) > 0 {
		// Chunked, so that the trailers can follow (a short body would
		// otherwise get a Content-Length).
		_ = http.NewResponseController(w).Flush()
	}
	for k, vv := range res.Trailer {
		if len(res.Trailer) != announced {
			k = http.TrailerPrefix + k
		}
		for _, v := range vv {
			wh.Add(k, v)
		}
	}
}

// rewriteOut prepares the outbound request for the origin, for forward and
// for ReverseProxy's Rewrite (rewrite): the tunnel as the URL's host, the
// public Host kept, X-Forwarded-For, -Host and -Proto set (as
// ProxyRequest.SetXForwarded does; the client's own were dropped before),
// the edge's and the portal's cookies removed.
func (e *edge) rewriteOut(out, in *http.Request) {
	out.URL.Scheme = "http"
	if pt, _ := in.Context().Value(proxyTargetKey{}).(*proxyTarget); pt != nil {
		out.URL.Host = pt.rt.tunnel.UUID
	}
	out.Host = in.Host
	if ip, _, err := net.SplitHostPort(in.RemoteAddr); err == nil {
		out.Header["X-Forwarded-For"] = []string{ip}
	}
	out.Header["X-Forwarded-Host"] = []string{in.Host}
	if in.TLS == nil {
		out.Header["X-Forwarded-Proto"] = []string{"http"}
	} else {
		out.Header["X-Forwarded-Proto"] = []string{"https"}
	}
	stripCookies(out.Header)
}

// copyAnswer copies the answer's body to w, flushing as the package doc
// says. An error is the body's (the tunnel) or w's (the client).
func copyAnswer(w http.ResponseWriter, res *http.Response) error {
	var rc *http.ResponseController // made when first needed
	flush := func() error {
		if rc == nil {
			rc = http.NewResponseController(w)
		}
		return rc.Flush()
	}
	streaming := res.ContentLength == -1 || isEventStream(res.Header.Get("Content-Type"))
	sb, _ := res.Body.(*streamBody)
	waits := func() bool { return sb == nil || sb.s.br.Buffered() == 0 }
	if waits() {
		// The head now: the body may be slow to come.
		if err := flush(); err != nil {
			return err
		}
	}
	bp := proxyBufPool.Get().(*[]byte)
	defer proxyBufPool.Put(bp)
	buf := *bp
	for {
		n, rerr := res.Body.Read(buf)
		if n > 0 {
			if _, err := w.Write(buf[:n]); err != nil {
				return err
			}
			if streaming || (rerr == nil && waits()) {
				if err := flush(); err != nil {
					return err
				}
			}
		}
		if rerr == io.EOF {
			return nil
		}
		if rerr != nil {
			return rerr
		}
	}
}

// isEventStream reports whether a Content-Type is text/event-stream
// (Server-Sent Events), with or without parameters.
func isEventStream(ct string) bool {
	const es = "text/event-stream"
	if len(ct) < len(es) || !strings.EqualFold(ct[:len(es)], es) {
		return false
	}
	rest := strings.TrimLeft(ct[len(es):], " \t")
	return rest == "" || rest[0] == ';'
}

// removeHopHeaders removes the hop-by-hop headers: those the Connection
// header names, and hopHeaders.
func removeHopHeaders(h http.Header) {
	for _, f := range h["Connection"] {
		for name := range strings.SplitSeq(f, ",") {
			if name = strings.TrimSpace(name); name != "" {
				delete(h, http.CanonicalHeaderKey(name))
			}
		}
	}
	for _, k := range hopHeaders {
		delete(h, k)
	}
}

// cleanQuery drops the query parameters net/url cannot parse (a
// semicolon, a broken escape), as ReverseProxy does: otherwise the edge
// and the origin could read different parameters from one request.
func cleanQuery(q string) string {
	if strings.Count(q, "&") >= maxQueryParams {
		return reencodeQuery(q) // net/url refuses that many
	}
	for i := 0; i < len(q); i++ {
		switch q[i] {
		case ';':
			return reencodeQuery(q)
		case '%':
			if i+2 >= len(q) || !isHex(q[i+1]) || !isHex(q[i+2]) {
				return reencodeQuery(q)
			}
			i += 2
		}
	}
	return q
}

// maxQueryParams is net/url's default bound on a query's parameters.
const maxQueryParams = 10000

func reencodeQuery(q string) string {
	v, _ := url.ParseQuery(q)
	return v.Encode()
}

func isHex(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}
