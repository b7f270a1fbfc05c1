package simhost

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/sha256"
	"io"
)

// MaxDownloadSize bounds /download?size=N (1 TiB).
const MaxDownloadSize int64 = 1 << 40

// downloadKey keys the AES-CTR keystream that is the download's content:
// deterministic, so any client can check what arrived, and fast (several
// GB/s with AES-NI), so the origin is never the bottleneck of a test.
var downloadKey = []byte("cld-simhost-dl-1")

// NewDownloadReader returns the first n bytes of the download stream: what
// /download?size=n serves. Every size's content is a prefix of a larger
// size's.
func NewDownloadReader(n int64) io.Reader {
	block, err := aes.NewCipher(downloadKey)
	if err != nil {
		panic(err) // a 16-byte key cannot fail
	}
	return &downloadReader{ctr: cipher.NewCTR(block, make([]byte, aes.BlockSize)), left: max(n, 0)}
}

type downloadReader struct {
	ctr  cipher.Stream
	left int64
}

func (d *downloadReader) Read(p []byte) (int, error) {
	if d.left == 0 {
		return 0, io.EOF
	}
	if int64(len(p)) > d.left {
		p = p[:d.left]
	}
	clear(p)
	d.ctr.XORKeyStream(p, p) // keystream XOR zeros: the keystream
	d.left -= int64(len(p))
	return len(p), nil
}

// DownloadSHA256 is the SHA-256 of /download?size=n's body, computed by
// streaming (no buffering), so a test can check a large download's
// integrity.
func DownloadSHA256(n int64) [sha256.Size]byte {
	h := sha256.New()
	buf := make([]byte, 256<<10)
	if _, err := io.CopyBuffer(h, NewDownloadReader(n), buf); err != nil {
		panic(err) // hashing and the keystream cannot fail
	}
	var sum [sha256.Size]byte
	h.Sum(sum[:0])
	return sum
}
