package cloudclient

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/cloudlink/cld/cloud/cloudapi"
)

// answer is a round tripper that gives every request the same fuzzed
// response, as a hostile or broken cloud (or something in the path) would.
type answer struct {
	status int
	ctype  string
	body   []byte
}

func (a answer) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.Body != nil {
		io.Copy(io.Discard, req.Body)
		req.Body.Close()
	}
	h := http.Header{}
	if a.ctype != "" {
		h.Set("Content-Type", a.ctype)
	}
	h.Set(cloudapi.HeaderStage, "production")
	return &http.Response{
		Status: strconv.Itoa(a.status) + " " + http.StatusText(a.status), StatusCode: a.status,
		Header: h, Body: io.NopCloser(bytes.NewReader(a.body)), ContentLength: int64(len(a.body)),
		Request: req, ProtoMajor: 1, ProtoMinor: 1,
	}, nil
}

// planted is a secret the daemon sends; no error may repeat it unless the
// cloud's own answer did.
const planted = "planted-secret-8f2c1e"

// FuzzCloudAnswer gives each of the client's calls (tokens, registration,
// the system's record, tunnels, inventory, directory, release, revocation)
// a fuzzed answer: the client returns a value or an error, never panics,
// never takes an error status for success, and its errors do not repeat
// the secrets it sent.
func FuzzCloudAnswer(f *testing.F) {
	f.Add(uint8(0), 200, "application/json", []byte(`{"access_token":"a","token_type":"Bearer","expires_in":3600}`))
	f.Add(uint8(1), 200, "application/json", []byte(`{"access_token":"a","token_type":"bearer","expires_in":"x"}`))
	f.Add(uint8(3), 201, "application/json", []byte(`{"system_id":"s","client_id":"c","client_secret":"x"}`))
	f.Add(uint8(4), 200, "application/json", []byte(`{"system_id":"s","account":{"id":1}}`))
	f.Add(uint8(5), 200, "application/json", []byte(`{"tunnels":[{"id":"web","public_url":"https://x"}]}`))
	f.Add(uint8(6), 202, "application/json", []byte(`{"report_id":"r"}`))
	f.Add(uint8(8), 204, "", []byte{})
	f.Add(uint8(8), 200, "application/json", []byte(`{"version":"1.2.3"}`))
	f.Add(uint8(2), 400, "application/json", []byte(`{"error":"invalid_grant","error_description":"no"}`))
	f.Add(uint8(3), 500, "text/html", []byte(`<html>proxy error</html>`))
	f.Add(uint8(9), 429, "application/json", []byte(`{"code":"rate_limited","description":"slow down"}`))
	f.Add(uint8(7), 200, "application/json", []byte(`[`))
	f.Fuzz(func(t *testing.T, call uint8, status int, ctype string, body []byte) {
		if status < 100 || status > 599 {
			return
		}
		c := New("https://cloud.test", &http.Client{Transport: answer{status: status, ctype: ctype, body: body}})
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		done := make(chan struct{})
		defer close(done)
		go func() {
			select {
			case <-done:
			case <-time.After(10 * time.Second):
				panic(fmt.Sprintf("call %d with status %d, %q, %q: no return after 10 s", call%11, status, ctype, body))
			}
		}()
		var err error
		switch call % 11 {
		case 0:
			var tok any
			tok, err = c.PasswordToken(ctx, "admin@example.com", planted, 100001)
			_ = tok
		case 1:
			tok, e := c.DeviceToken(ctx, "client", planted)
			if e == nil {
				TokenLifetime(tok)
			}
			err = e
		case 2:
			_, err = c.Exchange(ctx, "http://127.0.0.1:8087/link/callback", "code", planted)
		case 3:
			_, err = c.Register(ctx, planted, cloudapi.RegisterRequest{})
		case 4:
			_, err = c.Self(ctx, planted)
		case 5:
			_, err = c.PutTunnels(ctx, planted, cloudapi.TunnelsRequest{})
		case 6:
			_, err = c.PostInventory(ctx, planted, []byte{0x1f, 0x8b})
		case 7:
			_, err = c.PostDirectory(ctx, planted, cloudapi.DirectoryBatch{ID: "b"})
		case 8:
			_, _, err = c.Release(ctx, planted)
		case 9:
			err = c.RevokeToken(ctx, planted, "refresh_token")
		case 10:
			err = c.Unregister(ctx, planted)
		}
		if ctx.Err() != nil {
			t.Fatalf("call %d: still waiting after 5 s for an answer already complete (%v)", call%11, err)
		}
		if err == nil && (status < 200 || status > 299) && call%11 != 9 {
			t.Fatalf("call %d: status %d taken for success", call%11, status)
		}
		if err != nil {
			var ce *Error
			if errors.As(err, &ce) && ce.Status != 0 && ce.Status != status && status >= 200 {
				t.Fatalf("call %d: the error names status %d, the answer was %d", call%11, ce.Status, status)
			}
			if strings.Contains(err.Error(), planted) && !bytes.Contains(body, []byte(planted)) {
				t.Fatalf("call %d: the error repeats a secret the daemon sent: %v", call%11, err)
			}
		}
	})
}
