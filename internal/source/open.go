package source

import (
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"

	digest "github.com/opencontainers/go-digest"

	"github.com/blumeops/build-push-image/internal/compression"
)

// image is what an archive holds, checked: a docker-archive's image (to
// convert) or an OCI layout's (to push as it is).
type image struct {
	format string // for the log: docker-archive, OCI archive, OCI layout
	docker *dockerImage
	oci    *ociImage
	close  func() error
}

// open reads the archive at name (symlinks followed): a directory must
// be an OCI layout; a file is a tar, plain or compressed, and its format
// comes from what it holds, never from its name.
func (rd *reader) open(ctx context.Context, name, choice string) (*image, error) {
	real, err := filepath.EvalSymlinks(name)
	if errors.Is(err, os.ErrNotExist) {
		return nil, bad("it does not exist")
	}
	if err != nil {
		return nil, bad("cannot read it (%v)", err)
	}
	st, err := os.Stat(real)
	if err != nil {
		return nil, bad("cannot read it (%v)", err)
	}
	rd.unpacked = rd.limits.budget(st.Size())
	if kind := notRegular(st.Mode()); kind != "" {
		return nil, bad("it is %s, not a file or directory", kind)
	}
	if st.IsDir() {
		return rd.openDir(ctx, real, choice)
	}
	f, err := openRegular(func(flag int) (*os.File, error) { return os.OpenFile(real, flag, 0) }, "it")
	if ae := (*Error)(nil); err != nil && !errors.As(err, &ae) {
		err = bad("cannot read it (%v)", err)
	}
	if err != nil {
		return nil, err
	}
	defer func() { _ = f.Close() }()
	c, err := rd.readFile(ctx, stopping{ctx, f}, st.Size())
	if err != nil {
		return nil, err
	}
	return rd.fromTar(c, choice)
}

// Stream is an archive read as it is written, once, its size unknown: a
// program's output or standard input (internal/stream).
type Stream interface {
	io.Reader
	// Finish is told how reading ended (nil: the whole tar was read) and
	// returns the writer's own failure, which explains a short read
	// better; it stops the writer.
	Finish(readErr error) error
}

// openStream reads a stream to its tar's end and has its writer finish
// before anything of it is trusted.
func (rd *reader) openStream(ctx context.Context, s Stream, choice string) (*image, error) {
	rd.unpacked = rd.limits.budget(rd.limits.Unpacked) // its size is not known
	c, err := rd.readFile(ctx, s, -1)
	ferr := s.Finish(err)
	if err != nil && ctx.Err() != nil {
		// The action stopped the reading (an upload failed, or the run
		// was cancelled), and Finish then the writer: its end is the
		// action's doing, never the cause: the caller reports what
		// stopped it (Publish: the upload's error). The first error wins.
		return nil, ctx.Err()
	}
	if ferr != nil {
		return nil, ferr
	}
	if err != nil {
		return nil, err
	}
	return rd.fromTar(c, choice)
}

// readFile reads a tar file, decompressing it as its content says.
func (rd *reader) readFile(ctx context.Context, f io.Reader, size int64) (*contents, error) {
	zr, alg, err := compression.NewReader(f)
	if err != nil {
		return nil, bad("it starts as %s but is not (%v)", alg, err)
	}
	defer func() { _ = zr.Close() }()
	var stream io.Reader = stopping{ctx, zr}
	switch {
	case size < 0: // a stream: bounded, as it could be a bomb or never end
		stream = rd.limits.budget(rd.limits.Unpacked).reader(stream)
	case alg != compression.Uncompressed:
		stream = rd.limits.budget(size).reader(stream) // headers and padding too
	}
	c, err := rd.readTar(ctx, stream)
	var ae *Error
	if errors.As(err, &ae) && alg != compression.Uncompressed {
		ae.Reason += " (it is " + alg.String() + "-compressed)"
	}
	return c, err
}

// fromTar finds the image in a tar's contents: a docker-archive has a
// manifest.json, an OCI archive an index.json and oci-layout. docker save
// (since Docker 25) writes both, with uncompressed layers: that is a
// docker-archive, converted; an archive with both whose layers are
// compressed (BuildKit's type=oci, docker save of the containerd store)
// is an OCI archive, kept as it is, unless its layout is broken and its
// manifest.json is not.
func (rd *reader) fromTar(c *contents, choice string) (*image, error) {
	mj, hasDocker := c.lookup("manifest.json")
	_, hasOCI := c.lookup("index.json")
	if hasDocker && mj.data != nil {
		d, err := readDocker(c, mj, choice, rd.diffID)
		if !hasOCI || (err == nil && d.plain()) {
			return &image{format: "docker-archive", docker: d, close: noClose}, err
		}
		if o, oerr := readOCI(rd.tarStore(c), choice, rd.top, rd.limits); oerr == nil || err != nil {
			return &image{format: "OCI archive", oci: o, close: noClose}, oerr
		}
		return &image{format: "docker-archive", docker: d, close: noClose}, nil
	}
	if !hasOCI {
		return nil, bad("it is a tar archive but not of an image: it has neither manifest.json nor index.json")
	}
	o, err := readOCI(rd.tarStore(c), choice, rd.top, rd.limits)
	return &image{format: "OCI archive", oci: o, close: noClose}, err
}

func (rd *reader) openDir(ctx context.Context, dir, choice string) (*image, error) {
	root, err := os.OpenRoot(dir)
	if err != nil {
		return nil, bad("cannot read the directory (%v)", err)
	}
	o, err := readOCI(dirStore{ctx: ctx, root: root, dir: dir, limits: rd.limits}, choice, rd.top, rd.limits)
	if err != nil {
		_ = root.Close()
		return nil, err
	}
	return &image{format: "OCI layout", oci: o, close: root.Close}, nil
}

func noClose() error { return nil }

// diffID is the diff ID of a compressed layer: the sha256 of it unpacked,
// read back from its copy on disk once, however often it is named, and
// counted in what the whole archive may unpack to.
func (rd *reader) diffID(f *file) (digest.Digest, error) {
	if f.diffID != "" {
		return f.diffID, nil
	}
	u := rd.tarStore(nil).unpackFile(f)
	if u.err != nil {
		return "", about("layer "+f.name, u.err)
	}
	return u.id, nil
}

// tarStore is the layout in the tar read: its compressed blobs are
// unpacked beside their uploads, counted in what the archive may unpack
// to.
func (rd *reader) tarStore(c *contents) tarStore {
	return tarStore{c: c, ctx: rd.ctx, budget: rd.unpacked}
}
