package tunnel

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"strings"
	"testing"
	"unicode/utf8"
)

func TestHeaderRoundTrip(t *testing.T) {
	for _, h := range []Header{
		{Tunnel: "web"},
		{Tunnel: "mbg-admin", Client: "203.0.113.9:443"},
		{Tunnel: strings.Repeat("a", 63), Client: "[2001:db8::1]:1234"},
	} {
		var b bytes.Buffer
		if err := WriteHeader(&b, h); err != nil {
			t.Fatal(err)
		}
		b.WriteString("raw bytes after")
		got, err := ReadHeader(&b)
		if err != nil || got != h {
			t.Fatalf("ReadHeader = %+v, %v; want %+v", got, err, h)
		}
		if rest := b.String(); rest != "raw bytes after" {
			t.Fatalf("ReadHeader read past the header: %q left", rest)
		}
	}
	for _, h := range []Header{{Tunnel: "127.0.0.1:22"}, {Tunnel: ""}, {Tunnel: "web", Client: "a\nb"}} {
		if err := WriteHeader(io.Discard, h); err == nil {
			t.Errorf("WriteHeader(%+v) = nil", h)
		}
	}
}

func TestHeaderWire(t *testing.T) {
	var b bytes.Buffer
	WriteHeader(&b, Header{Tunnel: "web"})
	want := append([]byte{2, 1, 0, 16}, `{"tunnel":"web"}`...)
	if !bytes.Equal(b.Bytes(), want) {
		t.Fatalf("wire = %q, want %q", b.Bytes(), want)
	}
	b.Reset()
	WriteReply(&b, Reply{Code: ReplyStopped, Message: "stopped"})
	if want := append([]byte{2, 2, 0, 7}, "stopped"...); !bytes.Equal(b.Bytes(), want) {
		t.Fatalf("reply wire = %q, want %q", b.Bytes(), want)
	}
}

func TestReplyRoundTrip(t *testing.T) {
	long := strings.Repeat("é", MaxHeaderLen) // 2 bytes each: cut at a rune boundary
	for _, r := range []Reply{{Code: ReplyOK}, {Code: ReplyUnknownTunnel, Message: "no tunnel x"}, {Code: ReplyBadHeader, Message: long}} {
		var b bytes.Buffer
		if err := WriteReply(&b, r); err != nil {
			t.Fatal(err)
		}
		b.WriteString("tail")
		got, err := ReadReply(&b)
		if err != nil {
			t.Fatal(err)
		}
		if got.Code != r.Code || !strings.HasPrefix(r.Message, got.Message) || len(got.Message) > MaxHeaderLen || !utf8.ValidString(got.Message) {
			t.Fatalf("ReadReply = %+v", got)
		}
		if b.String() != "tail" {
			t.Fatal("ReadReply read past the reply")
		}
	}
	for _, bad := range [][]byte{{}, {2, 0}, {1, 0, 0, 0}, {2, 0, 0xff, 0xff}, {2, 0, 0, 5, 'a'}} {
		if _, err := ReadReply(bytes.NewReader(bad)); !errors.Is(err, ErrBadReply) {
			t.Errorf("ReadReply(%q) = %v, want ErrBadReply", bad, err)
		}
	}
}

func TestValidTunnelID(t *testing.T) {
	for _, id := range []string{"web", "a", "mbg-admin-2", strings.Repeat("x", 63)} {
		if !ValidTunnelID(id) {
			t.Errorf("%q not valid", id)
		}
	}
	for _, id := range []string{"", "-a", "A", "a.b", "a:1", "127.0.0.1", "::1", "[::1]:22", "http://x", "a/b", strings.Repeat("x", 64), "web\n", "wéb"} {
		if ValidTunnelID(id) {
			t.Errorf("%q valid", id)
		}
	}
}

func FuzzReadHeader(f *testing.F) {
	f.Add(append([]byte{2, 1, 0, 16}, `{"tunnel":"web"}`...))
	f.Add(append([]byte{2, 1, 0, 36}, `{"tunnel":"web","client":"1.2.3.4:5"}`...))
	f.Add(append([]byte{2, 1, 0, 28}, `{"tunnel":"127.0.0.1:22"}   `...))
	f.Add(append([]byte{2, 1, 0, 40}, `{"tunnel":"a","address":"127.0.0.1:22"}`...))
	f.Add([]byte{2, 1, 0xff, 0xff})
	f.Fuzz(func(t *testing.T, b []byte) {
		r := bytes.NewReader(b)
		h, err := ReadHeader(r)
		if err != nil {
			if !errors.Is(err, ErrBadHeader) {
				t.Fatalf("error does not wrap ErrBadHeader: %v", err)
			}
			return
		}
		if !ValidTunnelID(h.Tunnel) {
			t.Fatalf("accepted tunnel %q", h.Tunnel)
		}
		// Exactly the header was consumed.
		n := prefixLen + int(binary.BigEndian.Uint16(b[2:4]))
		if r.Len() != len(b)-n {
			t.Fatalf("consumed %d bytes, header is %d", len(b)-r.Len(), n)
		}
		// What was accepted encodes again and reads back the same.
		var w bytes.Buffer
		if err := WriteHeader(&w, h); err != nil {
			t.Fatalf("accepted %+v but cannot write it: %v", h, err)
		}
		h2, err := ReadHeader(&w)
		if err != nil || h2 != h {
			t.Fatalf("round trip %+v → %+v, %v", h, h2, err)
		}
	})
}

func FuzzReadReply(f *testing.F) {
	f.Add([]byte{1, 0, 0, 0})
	f.Add(append([]byte{2, 1, 0, 5}, "hello"...))
	f.Add([]byte{2, 4, 0xff, 0xff})
	f.Fuzz(func(t *testing.T, b []byte) {
		rep, err := ReadReply(bytes.NewReader(b))
		if err != nil {
			if !errors.Is(err, ErrBadReply) {
				t.Fatalf("error does not wrap ErrBadReply: %v", err)
			}
			return
		}
		if len(b) < prefixLen || !utf8.ValidString(rep.Message) {
			t.Fatalf("accepted %q as %+v", b, rep)
		}
	})
}
