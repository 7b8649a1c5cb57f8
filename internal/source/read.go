package source

import (
	"archive/tar"
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"strings"
	"time"

	digest "github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/blumeops/build-push-image/internal/compression"
)

// file is what one pass over the archive learned about one regular file:
// its digest always, and its bytes in memory (small files), copied to
// disk (compressed blobs, large files), or compressed to disk by this
// action (uncompressed layer tars), unless the repository already holds
// a blob of it.
type file struct {
	name   string
	size   int64
	digest digest.Digest // sha256 of the bytes in the archive
	data   []byte        // a small file's bytes
	raw    string        // the path of a copy of the bytes
	// layer: the file is an uncompressed tar. packed is its compressed
	// form, or nil when the repository holds it already (known).
	layer  bool
	packed *blob
	// mediaType is the OCI layer type of a gzip or zstd file ("" for any
	// other): a docker-archive written by ko or crane holds its layers
	// compressed, and they are pushed as they are.
	mediaType string
	// diffID is such a layer's diff ID, once it was unpacked, alg how
	// it is compressed.
	diffID digest.Digest
	alg    compression.Algorithm
}

// desc is the descriptor of the file as it is in the archive, with
// mediaType: a layer pushed as the archive holds it.
func (f *file) desc(mediaType string) ocispec.Descriptor {
	return ocispec.Descriptor{MediaType: mediaType, Digest: f.digest, Size: f.size}
}

// blob is a blob made on disk.
type blob struct {
	path string
	desc ocispec.Descriptor
}

// contents is every file and link of an archive, by cleaned name.
type contents struct {
	files map[string]*file
	links map[string]string
}

// lookup follows links to the file named name.
func (c *contents) lookup(name string) (*file, bool) {
	for range 16 {
		if f, ok := c.files[name]; ok {
			return f, true
		}
		target, ok := c.links[name]
		if !ok {
			return nil, false
		}
		name = target
	}
	return nil, false
}

// reader reads an archive's tar stream in one pass.
type reader struct {
	// ctx stops the passes over the archive's layers (a SIGTERM).
	ctx    context.Context
	dir    string // where copies and compressed layers go
	comp   compression.Compression
	limits Limits
	// unpacked is what the archive may still unpack to: every entry at
	// its declared size, every compressed layer unpacked.
	unpacked *budget
	// reuser says which layers a repository holds: those are not
	// compressed.
	reuser Reuser
	// ready is Options.Ready: told of every blob on disk that will
	// likely be uploaded, so its upload overlaps the reading of the next.
	ready func(Blob)
	// top is Options.Top.
	top    digest.Digest
	meta   int64
	spools int
	buf    []byte
	br     *bufio.Reader
	zw     compression.Writer // one for every layer, Reset in between
	// hashOnly compresses layers to nothing: their digests are all that
	// is wanted.
	hashOnly bool
	// waits is how long reading waited on each stage.
	waits waits
}

// waits is how long the one pass spent waiting on decompression (reads
// of the stream) and on compression (writes to the compressor, whose
// blocks compress on other cores).
type waits struct{ decompress, compress time.Duration }

// timed adds the time spent in Read or Write to *spent.
type timed struct {
	r     io.Reader
	w     io.WriteCloser
	spent *time.Duration
}

func (t timed) Read(p []byte) (int, error) {
	defer t.since(time.Now())
	return t.r.Read(p)
}

func (t timed) Write(p []byte) (int, error) {
	defer t.since(time.Now())
	return t.w.Write(p)
}

func (t timed) Close() error {
	defer t.since(time.Now())
	return t.w.Close()
}

func (t timed) since(start time.Time) { *t.spent += time.Since(start) }

// smallFile is the largest file kept in memory: manifests, configs (a
// large image's config is some 100 KiB).
const smallFile = 4 << 20

// readTar reads every entry of the tar stream r.
func (rd *reader) readTar(ctx context.Context, r io.Reader) (*contents, error) {
	c := &contents{files: map[string]*file{}, links: map[string]string{}}
	tr := tar.NewReader(timed{r: r, spent: &rd.waits.decompress})
	rd.buf = make([]byte, 1<<20)
	rd.br = bufio.NewReaderSize(nil, 64<<10)
	for n := 0; ; n++ {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		h, err := tr.Next()
		if err == io.EOF && n > 0 {
			return c, nil
		}
		if err != nil {
			return nil, readFailed(err, n == 0)
		}
		if n >= rd.limits.Entries {
			return nil, &Error{Kind: ErrTooLarge, Reason: fmt.Sprintf("it has more than %d entries", rd.limits.Entries)}
		}
		if err := rd.unpacked.spend(h.Size); err != nil { // before a byte of it is written
			return nil, err
		}
		if err := rd.entry(c, h, tr); err != nil {
			return nil, err
		}
	}
}

// readFailed is the archive's fault behind a failed read of it.
func readFailed(err error, first bool) error {
	var ae *Error
	switch {
	case errors.As(err, &ae):
		return err
	case first:
		return bad("it is not a tar archive, nor a gzip or zstd of one (%v)", err)
	case errors.Is(err, io.ErrUnexpectedEOF):
		return bad("it is truncated (%v)", err)
	}
	return bad("it is corrupt (%v)", err)
}

// entry records one tar entry.
func (rd *reader) entry(c *contents, h *tar.Header, r io.Reader) error {
	if h.Typeflag == tar.TypeDir && path.Clean(h.Name) == "." { // tar -C layout -cf image.tar . writes "./"
		return nil
	}
	name, err := entryName(h.Name)
	if err != nil {
		return err
	}
	switch h.Typeflag {
	case tar.TypeDir, tar.TypeXGlobalHeader:
		return nil
	case tar.TypeSymlink:
		return c.link(name, path.Join(path.Dir(name), h.Linkname), h.Linkname)
	case tar.TypeLink:
		return c.link(name, h.Linkname, h.Linkname)
	case tar.TypeReg:
	default:
		return bad("entry %s is neither a file, a directory nor a link (type %q)", name, h.Typeflag)
	}
	if _, dup := c.files[name]; dup {
		return bad("entry %s appears twice", name)
	}
	f, err := rd.read(name, h.Size, r)
	if err != nil {
		return err
	}
	c.files[name] = f
	return nil
}

// entryName is the cleaned name of an entry, refused when it has a ".."
// or is absolute.
func entryName(raw string) (string, error) {
	if strings.HasPrefix(raw, "/") || strings.HasPrefix(raw, `\`) || filepath.VolumeName(raw) != "" {
		return "", hostile("entry %q has an absolute name", raw)
	}
	for _, part := range strings.Split(raw, "/") {
		if part == ".." {
			return "", hostile("entry %q has a \"..\" in its name", raw)
		}
	}
	name := path.Clean(raw)
	if name == "." {
		return "", bad("entry %q has no name", raw)
	}
	return name, nil
}

// link records a link to target (already joined to where the link is),
// refused when it leads outside the archive.
func (c *contents) link(name, target, written string) error {
	target = path.Clean(target)
	if path.IsAbs(written) || target == ".." || strings.HasPrefix(target, "../") {
		return hostile("link %s points outside the archive, to %q", name, written)
	}
	c.links[name] = target
	return nil
}

// read takes in one regular file.
func (rd *reader) read(name string, size int64, r io.Reader) (*file, error) {
	rd.br.Reset(sourceReader{r})
	head, err := rd.br.Peek(512)
	if err != nil && !errors.Is(err, io.EOF) {
		return nil, err
	}
	f := &file{name: name, size: size}
	switch {
	case size >= 1024 && isTar(head):
		f.layer = true
		claimed := claimedDigest(name)
		if claimed == "" || !rd.reuser.Claimed(claimed) {
			return f, rd.pack(f)
		}
		// Its name says the registry holds it: its bytes must say so too.
		if err := rd.whileProving(f, claimed); err != nil || f.digest == claimed {
			return f, err
		}
		return nil, bad("layer %s is named for sha256 %s but its bytes have sha256 %s", name, claimed.Encoded(), f.digest.Encoded())
	case compression.Detect(head) != compression.Uncompressed:
		f.mediaType = compression.Compression{Algorithm: compression.Detect(head)}.MediaType()
		return f, rd.copy(f, true)
	case size > smallFile:
		return f, rd.copy(f, true)
	}
	return f, rd.keep(f)
}

// blobName is where a layout keeps the blob d.
func blobName(d digest.Digest) (string, error) {
	if strings.ContainsAny(string(d), `/\`) {
		return "", hostile("it names a blob %q, a path outside its blobs", d)
	}
	if err := d.Validate(); err != nil {
		return "", bad("it names a blob %q that is not a digest", d)
	}
	return path.Join(ocispec.ImageBlobsDir, d.Algorithm().String(), d.Encoded()), nil
}

// isTar says whether head starts a tar stream: a ustar header, or the
// zero block that ends an empty one.
func isTar(head []byte) bool {
	return len(head) >= 512 && (bytes.Equal(head[257:262], []byte("ustar")) || bytes.Count(head[:512], []byte{0}) == 512)
}

// claimedDigest is the digest a layer's name says it has: nix names
// layers <diff ID>/layer.tar, skopeo <diff ID>.tar, OCI layouts (and
// docker save since Docker 25) blobs/sha256/<hex>.
func claimedDigest(name string) digest.Digest {
	for _, cut := range []func(string) (string, bool){
		func(s string) (string, bool) { return strings.CutSuffix(s, "/layer.tar") },
		func(s string) (string, bool) { return strings.CutSuffix(s, ".tar") },
		func(s string) (string, bool) { return strings.CutPrefix(s, "blobs/sha256/") },
	} {
		if hex, ok := cut(name); ok {
			if d := digest.NewDigestFromEncoded(digest.SHA256, hex); d.Validate() == nil {
				return d
			}
		}
	}
	return ""
}

// whileProving reads a layer a repository claims to hold: copied as it
// is (and hashed) while the claim is proven in the background, then the
// copy is dropped when the claim holds, or compressed when it does not;
// the reader does not wait for a proof before it reads. A plain-tar blob
// of an OCI archive (or of docker save, which writes both) keeps its
// copy: an OCI archive pushes its blobs as they are, and the known one
// is another blob. A claim proven already (the proof store remembers it)
// is only hashed: nothing to copy.
func (rd *reader) whileProving(f *file, claimed digest.Digest) error {
	drop := rd.hashOnly || !strings.HasPrefix(f.name, ocispec.ImageBlobsDir+"/")
	if drop && rd.reuser.Proven(claimed) {
		return rd.hash(f) // proven already: a copy would only be removed
	}
	if err := rd.copy(f, false); err != nil {
		return err
	}
	raw := f.raw
	if drop {
		f.raw = ""
		defer func() { _ = os.Remove(raw) }()
	}
	if f.digest != claimed || rd.reuser.Reuse(claimed) {
		return nil
	}
	in, err := os.Open(raw)
	if err != nil {
		return err
	}
	defer func() { _ = in.Close() }()
	rd.br.Reset(in)
	return rd.pack(f)
}

// keep holds a small file in memory.
func (rd *reader) keep(f *file) error {
	if rd.meta += f.size; rd.meta > rd.limits.Metadata {
		return &Error{Kind: ErrTooLarge, Reason: fmt.Sprintf("its small files (manifests, configs) add up to more than %s", human(rd.limits.Metadata))}
	}
	data, err := io.ReadAll(rd.br)
	if err != nil {
		return err
	}
	f.data, f.digest = data, digest.FromBytes(data)
	return nil
}

// spooled is a file on disk being written, or nothing when the reader
// only hashes.
type spooled struct {
	w     io.Writer
	name  string
	Close func() error
}

// spool creates the next file on disk; with discard (only a digest is
// wanted) nothing.
func (rd *reader) spool(discard bool) (spooled, error) {
	if discard {
		return spooled{w: io.Discard, Close: func() error { return nil }}, nil
	}
	rd.spools++
	out, err := os.Create(filepath.Join(rd.dir, fmt.Sprintf("spool-%d", rd.spools)))
	if err != nil {
		return spooled{}, fmt.Errorf("temporary file: %w", err)
	}
	return spooled{w: out, name: out.Name(), Close: out.Close}, nil
}

// copy copies the file to disk as it is; announce tells ready of it when
// its name is its digest (an OCI archive's blob, pushed as it is).
func (rd *reader) copy(f *file, announce bool) error {
	out, err := rd.spool(false)
	if err != nil {
		return err
	}
	d := digest.SHA256.Digester()
	_, err = io.CopyBuffer(io.MultiWriter(out.w, d.Hash()), rd.br, rd.buf)
	if err = errors.Join(err, out.Close()); err != nil {
		return err
	}
	f.raw, f.digest = out.name, d.Digest()
	if announce && rd.ready != nil && claimedDigest(f.name) == f.digest {
		rd.ready(Blob{Desc: f.desc(f.mediaType), Open: opener(f.raw)})
	}
	return nil
}

// hash hashes the file and keeps nothing of it.
func (rd *reader) hash(f *file) error {
	d := digest.SHA256.Digester()
	_, err := io.CopyBuffer(d.Hash(), rd.br, rd.buf)
	f.digest = d.Digest()
	return err
}

// pack compresses a layer to disk while hashing both forms; with
// hashOnly (a digest to compare, nothing to upload) nothing is written.
func (rd *reader) pack(f *file) error {
	out, err := rd.spool(rd.hashOnly)
	if err != nil {
		return err
	}
	packed, count := digest.SHA256.Digester(), &counter{}
	sink := io.MultiWriter(out.w, packed.Hash(), count)
	if rd.zw == nil {
		if rd.zw, err = rd.comp.NewWriter(sink); err != nil {
			return errors.Join(err, out.Close())
		}
	} else {
		rd.zw.Reset(sink)
	}
	zw := timed{w: rd.zw, spent: &rd.waits.compress}
	raw := digest.SHA256.Digester()
	_, err = io.CopyBuffer(io.MultiWriter(zw, raw.Hash()), rd.br, rd.buf)
	if err = errors.Join(err, zw.Close(), out.Close()); err != nil {
		return err
	}
	f.digest = raw.Digest()
	f.packed = &blob{path: out.name, desc: ocispec.Descriptor{MediaType: rd.comp.MediaType(), Digest: packed.Digest(), Size: count.n}}
	if rd.ready != nil {
		rd.ready(Blob{Desc: f.packed.desc, Open: opener(f.packed.path)})
	}
	return nil
}

type counter struct{ n int64 }

func (c *counter) Write(p []byte) (int, error) {
	c.n += int64(len(p))
	return len(p), nil
}

// sourceReader marks a failure to read the archive as the archive's
// fault, so that a full disk is never reported as a bad archive.
type sourceReader struct{ r io.Reader }

func (s sourceReader) Read(p []byte) (int, error) {
	n, err := s.r.Read(p)
	if err != nil && err != io.EOF {
		err = readFailed(err, false)
	}
	return n, err
}
