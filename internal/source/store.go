package source

import (
	"bytes"
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"os"

	digest "github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/blumeops/build-push-image/internal/compression"
)

// store is an OCI layout's blobs, by digest: a directory or the files of
// a tar read in one pass. Every blob it returns was checked against the
// digest and size it was asked for.
type store interface {
	// file reads a small file of the layout (index.json, oci-layout);
	// found is false when there is none.
	file(name string) (data []byte, found bool, err error)
	// small reads a manifest or index blob.
	small(desc ocispec.Descriptor) ([]byte, error)
	// check makes sure the blob is there, of its size and digest; what
	// it unpacks to is pending when it is compressed (or may be).
	check(desc ocispec.Descriptor) (unpacked, error)
	// unpack reads the blob again and says what it unpacks to: run
	// beside the uploads, so that it costs no time of its own.
	unpack(desc ocispec.Descriptor) unpacked
	// open reads the blob; check it first.
	open(d digest.Digest) (io.ReadCloser, error)
}

// tarStore is the layout inside a tar, read in one pass; ctx stops the
// unpacking of its compressed blobs, budget counts it.
type tarStore struct {
	c      *contents
	ctx    context.Context
	budget *budget
}

func (t tarStore) file(name string) ([]byte, bool, error) {
	f, ok := t.c.lookup(name)
	if !ok {
		return nil, false, nil
	}
	if f.data == nil {
		return nil, true, bad("its %s is not a small file", name)
	}
	return f.data, true, nil
}

func (t tarStore) blob(desc ocispec.Descriptor) (*file, error) {
	name, err := blobName(desc.Digest)
	if err != nil {
		return nil, err
	}
	f, ok := t.c.lookup(name)
	switch {
	case !ok:
		return nil, bad("blob %s is missing", desc.Digest)
	case desc.Digest.Algorithm() != digest.SHA256:
		return nil, bad("blob %s: only sha256 digests are read", desc.Digest)
	case f.digest != desc.Digest:
		return nil, bad("blob %s has sha256 %s: its content does not match its digest", desc.Digest, f.digest.Encoded())
	case f.size != desc.Size:
		return nil, bad("blob %s has %d bytes, its descriptor says %d", desc.Digest, f.size, desc.Size)
	}
	return f, nil
}

func (t tarStore) small(desc ocispec.Descriptor) ([]byte, error) {
	f, err := t.blob(desc)
	if err == nil && f.data == nil {
		err = bad("manifest %s is not a small JSON file", desc.Digest)
	}
	if err != nil {
		return nil, err
	}
	return f.data, nil
}

// check finds the blob, of its digest and size as the tar was read; a
// compressed one is unpacked later, beside its upload (unpack).
func (t tarStore) check(desc ocispec.Descriptor) (unpacked, error) {
	f, err := t.blob(desc)
	return unpacked{alg: compression.Uncompressed, pending: err == nil && f.mediaType != ""}, err
}

// unpack reads a compressed blob's copy on disk (made and hashed as the
// tar was read) and says what it unpacks to.
func (t tarStore) unpack(desc ocispec.Descriptor) unpacked {
	f, err := t.blob(desc)
	if err != nil {
		return unpacked{err: err}
	}
	return t.unpackFile(f)
}

// unpackFile says what the compressed file f unpacks to, reading its copy
// on disk once however often it is asked (a docker-archive's layer named
// twice, a layer of both a manifest.json and an index.json).
func (t tarStore) unpackFile(f *file) unpacked {
	if f.diffID != "" {
		return unpacked{id: f.diffID, alg: f.alg}
	}
	in, err := f.open()
	if err != nil {
		return unpacked{err: err}
	}
	defer func() { _ = in.Close() }()
	var u unpacked
	u.id, u.alg, u.err = unpackedDigest(t.ctx, in, t.budget)
	f.diffID, f.alg = u.id, u.alg
	return u
}

func (t tarStore) open(d digest.Digest) (io.ReadCloser, error) {
	name, err := blobName(d)
	if err != nil {
		return nil, err
	}
	f, _ := t.c.lookup(name)
	return f.open()
}

// open reads the file's bytes as the archive held them.
func (f *file) open() (io.ReadCloser, error) {
	switch {
	case f.data != nil:
		return io.NopCloser(bytes.NewReader(f.data)), nil
	case f.raw != "":
		return os.Open(f.raw)
	case f.packed != nil:
		return unpack(f.packed.path)
	}
	return nil, fmt.Errorf("%s was not kept", f.name)
}

// unpack decompresses a layer this action compressed.
func unpack(name string) (io.ReadCloser, error) {
	in, err := os.Open(name)
	if err != nil {
		return nil, err
	}
	r, _, err := compression.NewReader(in)
	if err != nil {
		return nil, errors.Join(err, in.Close())
	}
	return readCloser{r, func() error { return errors.Join(r.Close(), in.Close()) }}, nil
}

type readCloser struct {
	io.Reader
	close func() error
}

func (r readCloser) Close() error { return r.close() }

// dirStore is an OCI layout directory. Every file is opened through an
// os.Root: a symlink leading out of the directory is refused.
// ctx stops a long read (a SIGTERM).
type dirStore struct {
	ctx    context.Context
	root   *os.Root
	dir    string
	limits Limits
}

// openFile opens a regular file of the layout; anything else (a FIFO, a
// device) is refused before it is opened for reading.
func (s dirStore) openFile(name string) (*os.File, error) {
	st, err := s.root.Stat(name)
	if err == nil {
		if kind := notRegular(st.Mode()); kind != "" || st.IsDir() {
			return nil, bad("its %s is %s, not a regular file", name, cmp.Or(kind, "a directory"))
		}
		var f *os.File
		if f, err = openRegular(func(flag int) (*os.File, error) { return s.root.OpenFile(name, flag, 0) }, "its "+name); err == nil {
			return f, nil
		}
	}
	if errors.Is(err, os.ErrNotExist) || errors.As(err, new(*Error)) {
		return nil, err
	}
	if _, serr := os.Stat(s.dir + string(os.PathSeparator) + name); serr == nil {
		return nil, hostile("%s leads outside the layout directory", name)
	}
	return nil, bad("cannot read %s (%v)", name, err)
}

func (s dirStore) file(name string) ([]byte, bool, error) {
	f, err := s.openFile(name)
	if errors.Is(err, os.ErrNotExist) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, err
	}
	defer func() { _ = f.Close() }()
	data, err := io.ReadAll(io.LimitReader(f, smallFile+1))
	switch {
	case err != nil:
		return nil, true, bad("cannot read its %s (%v)", name, err)
	case len(data) > smallFile:
		return nil, true, bad("its %s is not a small file", name)
	}
	return data, true, nil
}

func (s dirStore) read(desc ocispec.Descriptor, sink io.Writer) error {
	name, err := blobName(desc.Digest)
	if err != nil {
		return err
	}
	if desc.Digest.Algorithm() != digest.SHA256 {
		return bad("blob %s: only sha256 digests are read", desc.Digest)
	}
	f, err := s.openFile(name)
	if errors.Is(err, os.ErrNotExist) {
		return bad("blob %s is missing", desc.Digest)
	}
	if err != nil {
		return err
	}
	defer func() { _ = f.Close() }()
	d := digest.SHA256.Digester()
	n, err := io.Copy(io.MultiWriter(d.Hash(), sink), stopping{s.ctx, io.LimitReader(f, desc.Size+1)})
	switch {
	case err != nil:
		return bad("cannot read blob %s (%v)", desc.Digest, err)
	case n != desc.Size:
		return bad("blob %s does not have the %d bytes its descriptor says (read %d)", desc.Digest, desc.Size, n)
	case d.Digest() != desc.Digest:
		return bad("blob %s has sha256 %s: its content does not match its digest", desc.Digest, d.Digest().Encoded())
	}
	return nil
}

func (s dirStore) small(desc ocispec.Descriptor) ([]byte, error) {
	if desc.Size > smallFile {
		return nil, bad("manifest %s is not a small JSON file", desc.Digest)
	}
	var b bytes.Buffer
	if err := s.read(desc, &b); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

// check reads the blob for its digest; what it unpacks to is read later,
// beside the uploads (unpack).
func (s dirStore) check(desc ocispec.Descriptor) (unpacked, error) {
	return unpacked{pending: true}, s.read(desc, io.Discard)
}

// unpack reads the blob again: its digest once more (the file may have
// changed since check) and, beside it, what it unpacks to (at most
// Limits' ratio times its size).
func (s dirStore) unpack(desc ocispec.Descriptor) unpacked {
	u := startUnpacking(s.ctx, s.limits.budget(desc.Size))
	err := s.read(desc, u)
	done := u.finish()
	if err != nil {
		done.err = err
	}
	return done
}

func (s dirStore) open(d digest.Digest) (io.ReadCloser, error) {
	name, err := blobName(d)
	if err != nil {
		return nil, err
	}
	return s.openFile(name)
}
