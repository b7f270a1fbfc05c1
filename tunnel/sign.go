package tunnel

import (
	"crypto"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// Signed stream headers (spec.md, "Stream header" and "Signature").
//
// The edge signs every stream header with an Ed25519 key. Its public half
// reaches the agent in the answer to the WebSocket upgrade (KeyHeader), over
// the TLS connection the agent has verified; the agent sends a fresh random
// session nonce in its upgrade request (NonceHeader). A header's signature
// covers the system ID, the session nonce, the yamux stream ID and every
// header field, so a header cannot be replayed to another system, another
// session or another stream, nor changed. The stream ID is unique within a
// session and the nonce is new for each session, so no clock and no nonce
// cache are needed.
const (
	// NonceHeader carries the agent's session nonce in the upgrade request.
	NonceHeader = "Cld-Tunnel-Nonce"
	// KeyHeader carries the edge's Ed25519 public key (standard base64 of
	// 32 bytes) in the 101 answer.
	KeyHeader = "Cld-Tunnel-Key"

	// signContext starts every signed message.
	signContext = "cld-tunnel.v2 stream header"
	// maxUserLen bounds Header.User.
	maxUserLen = 256
	// nonceLen is the length of the session nonce before encoding.
	nonceLen = 16
)

// ErrBadSignature is wrapped by the agent's refusal of a stream whose header
// carries no valid signature of the edge (ReplyBadSignature).
var ErrBadSignature = errors.New("the stream header is not signed by the tunnel edge")

// binding is what a header's signature binds it to besides its own fields.
type binding struct {
	system string // the system ID of the session
	nonce  string // the agent's session nonce, as sent
	stream uint32 // the yamux stream ID
}

// signedMessage is the message a header's signature covers: the fields in a
// fixed order, separated by NUL bytes (no field can hold one: every field is
// printable text or a fixed alphabet).
func signedMessage(b binding, h Header) []byte {
	parts := []string{signContext, b.system, b.nonce, strconv.FormatUint(uint64(b.stream), 10), h.Tunnel, h.Client, h.User}
	return []byte(strings.Join(parts, "\x00"))
}

// signHeader sets h.Sig.
func signHeader(s crypto.Signer, b binding, h *Header) error {
	sig, err := s.Sign(rand.Reader, signedMessage(b, *h), crypto.Hash(0))
	if err != nil {
		return fmt.Errorf("tunnel: signing the stream header: %w", err)
	}
	h.Sig = base64.StdEncoding.EncodeToString(sig)
	return nil
}

// verifyHeader checks h's signature with the edge's key.
func verifyHeader(key ed25519.PublicKey, b binding, h Header) error {
	if h.Sig == "" {
		return fmt.Errorf("%w: it carries no signature", ErrBadSignature)
	}
	sig, err := base64.StdEncoding.Strict().DecodeString(h.Sig)
	if err != nil || len(sig) != ed25519.SignatureSize {
		return fmt.Errorf("%w: the signature is not %d bytes of base64", ErrBadSignature, ed25519.SignatureSize)
	}
	if len(key) != ed25519.PublicKeySize || !ed25519.Verify(key, signedMessage(b, h), sig) {
		return fmt.Errorf("%w: the signature does not match the edge's key, this system, session and stream", ErrBadSignature)
	}
	return nil
}

// newNonce returns a fresh session nonce (base64url, unpadded).
func newNonce() string {
	b := make([]byte, nonceLen)
	_, _ = rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

// validNonce reports whether s looks like a session nonce: 16 to 64
// characters of the base64url alphabet.
func validNonce(s string) bool {
	if len(s) < 16 || len(s) > 64 {
		return false
	}
	for _, c := range s {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
			return false
		}
	}
	return true
}

// encodeKey is KeyHeader's value for a public key.
func encodeKey(k ed25519.PublicKey) string { return base64.StdEncoding.EncodeToString(k) }

// parseKey reads KeyHeader's value.
func parseKey(s string) (ed25519.PublicKey, error) {
	if s == "" {
		return nil, errors.New("the edge sent no stream-signing key (" + KeyHeader + ")")
	}
	b, err := base64.StdEncoding.Strict().DecodeString(strings.TrimSpace(s))
	if err != nil || len(b) != ed25519.PublicKeySize {
		return nil, fmt.Errorf("the edge's stream-signing key (%s) is not %d bytes of base64", KeyHeader, ed25519.PublicKeySize)
	}
	return ed25519.PublicKey(b), nil
}

// edgeSigner returns the configured signer and its public key, or a new
// key when none is configured.
func edgeSigner(s crypto.Signer) (crypto.Signer, ed25519.PublicKey) {
	if s == nil {
		_, priv, err := ed25519.GenerateKey(rand.Reader)
		if err != nil {
			panic("tunnel: generating the edge's key: " + err.Error())
		}
		s = priv
	}
	pub, ok := s.Public().(ed25519.PublicKey)
	if !ok {
		panic(fmt.Sprintf("tunnel: EdgeConfig.Signer must hold an Ed25519 key, not %T", s.Public()))
	}
	return s, pub
}
