package cloudclient

import (
	"net/http"
	"time"
)

// ObserveDates returns a client with hc's trust, proxy and connections whose
// every answer's Date header is passed to observe, with when the request
// left and when the answer's header arrived on the host's clock now: the
// clock-drift monitor's coarse check between measurements.
func ObserveDates(hc *http.Client, now func() time.Time, observe func(date string, sent, received time.Time)) *http.Client {
	rt := hc.Transport
	if rt == nil {
		rt = http.DefaultTransport
	}
	return &http.Client{
		Transport:     &dateObserver{rt: rt, now: now, observe: observe},
		CheckRedirect: hc.CheckRedirect,
		Jar:           hc.Jar,
		Timeout:       hc.Timeout,
	}
}

type dateObserver struct {
	rt      http.RoundTripper
	now     func() time.Time
	observe func(date string, sent, received time.Time)
}

func (d *dateObserver) RoundTrip(req *http.Request) (*http.Response, error) {
	t0 := d.now()
	resp, err := d.rt.RoundTrip(req)
	if err == nil && resp != nil {
		d.observe(resp.Header.Get("Date"), t0, d.now())
	}
	return resp, err
}

// CloseIdleConnections passes on to the wrapped transport.
func (d *dateObserver) CloseIdleConnections() {
	if c, ok := d.rt.(interface{ CloseIdleConnections() }); ok {
		c.CloseIdleConnections()
	}
}
