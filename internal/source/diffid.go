package source

import (
	"context"
	"errors"
	"io"
	"strings"

	digest "github.com/opencontainers/go-digest"

	"github.com/blumeops/build-push-image/internal/compression"
)

// unpacked is what a blob unpacks to: id its diff ID, "" when it is not
// compressed (its digest is its diff ID); alg how it is compressed; err
// why it does not unpack; pending when it is not known yet.
type unpacked struct {
	id      digest.Digest
	alg     compression.Algorithm
	err     error
	pending bool
}

// unpacking hashes what a blob unpacks to while the blob is read for
// something else (a layout's blob, its digest checked once more): the
// blob's bytes are written to it, and a goroutine of its own
// decompresses them (gzip or zstd, as their first bytes say) and hashes
// the result, on another core. It runs beside the blobs' uploads
// (ociImage.unpackPending), so that the check costs a first release no
// time of its own. A blob that fails to unpack does not fail the write:
// only the layer whose diff ID is checked fails, when it is checked.
type unpacking struct {
	pw     *io.PipeWriter
	failed bool
	done   chan struct{}
	got    unpacked // once done is closed
}

// startUnpacking starts the goroutine; what it unpacks counts against
// b; ctx stops it.
func startUnpacking(ctx context.Context, b *budget) *unpacking {
	pr, pw := io.Pipe()
	u := &unpacking{pw: pw, done: make(chan struct{})}
	go func() {
		defer close(u.done)
		u.got.id, u.got.alg, u.got.err = unpackedDigest(ctx, pr, b)
		_ = pr.CloseWithError(io.ErrClosedPipe) // what is left is not read: writes return at once
	}()
	return u
}

// unpackedDigest is the sha256 of what r unpacks to ("" when r is not
// compressed) and how r is compressed.
func unpackedDigest(ctx context.Context, r io.Reader, b *budget) (digest.Digest, compression.Algorithm, error) {
	zr, alg, err := compression.NewReader(r)
	if err != nil {
		return "", alg, bad("it starts as %s but does not unpack (%v)", alg, err)
	}
	defer func() { _ = zr.Close() }()
	if alg == compression.Uncompressed { // its digest is its diff ID: the rest is not read
		return "", alg, nil
	}
	d := digest.SHA256.Digester()
	if _, err := io.Copy(d.Hash(), b.reader(stopping{ctx, zr})); err != nil {
		if errors.As(err, new(*Error)) { // too large, or a SIGTERM
			return "", alg, err
		}
		return "", alg, bad("it does not unpack as %s (%v)", alg, err)
	}
	return d.Digest(), alg, nil
}

// Write hands p to the goroutine; once it stopped reading, p is dropped.
func (u *unpacking) Write(p []byte) (int, error) {
	if !u.failed {
		if _, err := u.pw.Write(p); err != nil {
			u.failed = true
		}
	}
	return len(p), nil
}

// finish waits for the goroutine: the blob's diff ID ("" when it is not
// compressed: its digest is) and compression, or why it has none.
func (u *unpacking) finish() unpacked {
	_ = u.pw.Close()
	<-u.done
	return u.got
}

// labelled is the compression a layer's media type says it has; false
// for a media type that says none this action knows (an artifact's).
func labelled(mediaType string) (compression.Algorithm, bool) {
	switch {
	case strings.HasSuffix(mediaType, "+gzip"), strings.HasSuffix(mediaType, ".gzip"):
		return compression.Gzip, true
	case strings.HasSuffix(mediaType, "+zstd"), strings.HasSuffix(mediaType, ".zstd"):
		return compression.Zstd, true
	case strings.HasSuffix(mediaType, ".tar"):
		return compression.Uncompressed, true
	}
	return 0, false
}

// about puts what an archive error concerns (a layer's name) before its
// reason, keeping its kind.
func about(what string, err error) error {
	var ae *Error
	if !errors.As(err, &ae) {
		return err
	}
	return &Error{Reason: what + ": " + ae.Reason, Kind: ae.Kind, Err: ae.Err}
}
