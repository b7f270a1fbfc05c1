package tunnel

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Stream header and reply framing (spec.md, "Stream header" and "Reply"):
//
//	header: version(1) type(1) length(2, big-endian) JSON body (length bytes)
//	reply:  version(1) code(1) length(2, big-endian) message (length bytes, UTF-8)
const (
	prefixLen = 4

	// headerTypeOpen is the only header type: open a stream to a tunnel.
	headerTypeOpen = 1

	// maxClientLen bounds Header.Client (an address for the agent's log).
	maxClientLen = 256
)

// ErrBadHeader is wrapped by ReadHeader's errors: the stream header could not
// be read or was not valid. The agent answers it with ReplyBadHeader.
var ErrBadHeader = errors.New("bad stream header")

// ErrBadReply is wrapped by ReadReply's errors: the agent's reply could not
// be read or was not valid.
var ErrBadReply = errors.New("bad stream reply")

// String names a reply code.
func (c ReplyCode) String() string {
	switch c {
	case ReplyOK:
		return "ok"
	case ReplyUnknownTunnel:
		return "unknown tunnel"
	case ReplyStopped:
		return "tunnel stopped"
	case ReplyLocalDown:
		return "local service down"
	case ReplyBadHeader:
		return "bad header"
	case ReplyBadSignature:
		return "bad signature"
	}
	return fmt.Sprintf("reply code %d", uint8(c))
}

// WriteHeader writes a stream header. It refuses a header that ReadHeader
// would reject, so that a caller learns of its own mistake first.
func WriteHeader(w io.Writer, h Header) error {
	if err := h.validate(); err != nil {
		return err
	}
	body, err := json.Marshal(h)
	if err != nil {
		return fmt.Errorf("encoding stream header: %w", err)
	}
	return writeFramed(w, Version, headerTypeOpen, body)
}

// ReadHeader reads one stream header, exactly: it never reads past the end of
// the header, so that the raw bytes that follow stay in r. The JSON body is
// decoded strictly: an object with the keys "tunnel" (required), "client",
// "user" and "sig" (optional), each a string, each at most once, in exactly
// that spelling, and nothing else. The signature is not checked here (the
// agent does, against its session: verifyHeader). A tunnel that is not a ValidTunnelID (an address, a URL)
// is rejected. Every error wraps ErrBadHeader.
func ReadHeader(r io.Reader) (Header, error) {
	var pre [prefixLen]byte
	if _, err := io.ReadFull(r, pre[:]); err != nil {
		return Header{}, fmt.Errorf("%w: reading the header: %w", ErrBadHeader, err)
	}
	if pre[0] != Version {
		return Header{}, fmt.Errorf("%w: unsupported header version %d (this host speaks version %d)", ErrBadHeader, pre[0], Version)
	}
	if pre[1] != headerTypeOpen {
		return Header{}, fmt.Errorf("%w: unknown header type %d", ErrBadHeader, pre[1])
	}
	n := int(binary.BigEndian.Uint16(pre[2:]))
	if n > MaxHeaderLen {
		return Header{}, fmt.Errorf("%w: header body of %d bytes is longer than %d", ErrBadHeader, n, MaxHeaderLen)
	}
	body := make([]byte, n)
	if _, err := io.ReadFull(r, body); err != nil {
		return Header{}, fmt.Errorf("%w: reading the header body: %w", ErrBadHeader, err)
	}
	h, err := parseHeaderBody(body)
	if err != nil {
		return Header{}, fmt.Errorf("%w: %w", ErrBadHeader, err)
	}
	return h, nil
}

// parseHeaderBody decodes the JSON body of a stream header strictly.
func parseHeaderBody(body []byte) (Header, error) {
	if !utf8.Valid(body) {
		return Header{}, errors.New("the header body is not UTF-8")
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	tok, err := dec.Token()
	if err != nil {
		return Header{}, fmt.Errorf("the header body is not JSON: %w", err)
	}
	if d, ok := tok.(json.Delim); !ok || d != '{' {
		return Header{}, errors.New("the header body is not a JSON object")
	}
	var h Header
	seen := map[string]bool{}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return Header{}, fmt.Errorf("the header body is not valid JSON: %w", err)
		}
		key, ok := tok.(string)
		if !ok {
			return Header{}, errors.New("the header body is not valid JSON")
		}
		if key != "tunnel" && key != "client" && key != "user" && key != "sig" {
			return Header{}, fmt.Errorf("unknown header field %s", quoteShort(key))
		}
		if seen[key] {
			return Header{}, fmt.Errorf("header field %q appears twice", key)
		}
		seen[key] = true
		tok, err = dec.Token()
		if err != nil {
			return Header{}, fmt.Errorf("the header body is not valid JSON: %w", err)
		}
		val, ok := tok.(string)
		if !ok {
			return Header{}, fmt.Errorf("header field %q is not a string", key)
		}
		switch key {
		case "tunnel":
			h.Tunnel = val
		case "client":
			h.Client = val
		case "user":
			h.User = val
		case "sig":
			h.Sig = val
		}
	}
	if _, err := dec.Token(); err != nil { // the closing '}'
		return Header{}, fmt.Errorf("the header body is not valid JSON: %w", err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return Header{}, errors.New("the header body has data after the JSON object")
	}
	if !seen["tunnel"] {
		return Header{}, errors.New("the header names no tunnel")
	}
	if err := h.validate(); err != nil {
		return Header{}, err
	}
	return h, nil
}

// validate checks the fields of a header.
func (h Header) validate() error {
	if !ValidTunnelID(h.Tunnel) {
		return fmt.Errorf("%s is not a tunnel ID (a tunnel is named by its ID, never by an address)", quoteShort(h.Tunnel))
	}
	if len(h.Client) > maxClientLen {
		return fmt.Errorf("the client address is longer than %d bytes", maxClientLen)
	}
	if strings.IndexFunc(h.Client, func(r rune) bool { return !unicode.IsPrint(r) }) >= 0 {
		return errors.New("the client address holds unprintable characters")
	}
	if len(h.User) > maxUserLen {
		return fmt.Errorf("the user is longer than %d bytes", maxUserLen)
	}
	if strings.IndexFunc(h.User, func(r rune) bool { return !unicode.IsPrint(r) }) >= 0 {
		return errors.New("the user holds unprintable characters")
	}
	if len(h.Sig) > 128 {
		return errors.New("the signature is longer than 128 bytes")
	}
	return nil
}

// WriteReply writes the agent's reply to a stream header. A message longer
// than MaxHeaderLen is cut (at a rune boundary).
func WriteReply(w io.Writer, r Reply) error {
	msg := truncateUTF8(r.Message, MaxHeaderLen)
	return writeFramed(w, Version, byte(r.Code), []byte(msg))
}

// ReadReply reads the agent's reply, exactly: it never reads past its end.
// Every error wraps ErrBadReply. Invalid UTF-8 in the message is replaced.
func ReadReply(r io.Reader) (Reply, error) {
	var pre [prefixLen]byte
	if _, err := io.ReadFull(r, pre[:]); err != nil {
		return Reply{}, fmt.Errorf("%w: reading the reply: %w", ErrBadReply, err)
	}
	if pre[0] != Version {
		return Reply{}, fmt.Errorf("%w: unsupported reply version %d (this side speaks version %d)", ErrBadReply, pre[0], Version)
	}
	n := int(binary.BigEndian.Uint16(pre[2:]))
	if n > MaxHeaderLen {
		return Reply{}, fmt.Errorf("%w: reply message of %d bytes is longer than %d", ErrBadReply, n, MaxHeaderLen)
	}
	msg := make([]byte, n)
	if _, err := io.ReadFull(r, msg); err != nil {
		return Reply{}, fmt.Errorf("%w: reading the reply message: %w", ErrBadReply, err)
	}
	return Reply{Code: ReplyCode(pre[1]), Message: strings.ToValidUTF8(string(msg), "\uFFFD")}, nil
}

// writeFramed writes the 4-byte prefix and the body in one Write.
func writeFramed(w io.Writer, a, b byte, body []byte) error {
	if len(body) > MaxHeaderLen {
		return fmt.Errorf("stream header body of %d bytes is longer than %d", len(body), MaxHeaderLen)
	}
	buf := make([]byte, prefixLen+len(body))
	buf[0], buf[1] = a, b
	binary.BigEndian.PutUint16(buf[2:], uint16(len(body)))
	copy(buf[prefixLen:], body)
	if _, err := w.Write(buf); err != nil {
		return fmt.Errorf("writing stream header: %w", err)
	}
	return nil
}

// truncateUTF8 cuts s to at most n bytes without splitting a rune.
func truncateUTF8(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}

// quoteShort quotes s for an error message, cut to a readable length.
func quoteShort(s string) string {
	const max = 80
	if len(s) > max {
		return fmt.Sprintf("%q…", truncateUTF8(s, max))
	}
	return fmt.Sprintf("%q", s)
}
