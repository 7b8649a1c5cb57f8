// Package source reads an image the runner already has: a docker-archive
// (docker save, nix dockerTools, skopeo docker-archive:; plain, gzip or
// zstd), an OCI archive or layout, a program's output or standard input.
// It reads an archive once, streaming: a docker-archive's layers are
// compressed while they are read (unless a Reuser says a repository holds
// them) and handed over as soon as each is on disk (Ready), so that they
// upload while the next is read. It checks what it read (every blob
// against its digest, every layer against its config's diff ID) and
// returns an Image whose blobs open lazily. It knows nothing of
// registries: internal/writer uploads what it returns.
package source

import (
	"context"
	"errors"
	"io"
	"time"

	digest "github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/blumeops/build-push-image/internal/compression"
)

// Options say what to read and how.
type Options struct {
	// Path is the archive: a file or an OCI layout directory; with
	// Stream, only what the log calls it.
	Path string
	// Stream, when set, is the archive, read as it is written.
	Stream Stream
	// Choice picks one of several images: name:tag or os/arch[/variant].
	Choice string
	// Top, when set, picks the manifest of an OCI layout's index.json by
	// its digest (BuildKit's layout on the fallback path) instead of
	// Choice.
	Top digest.Digest
	// Platforms are the platforms the image must be for, as the
	// platforms input was parsed: one image's config, or manifests of an
	// index; none: any.
	Platforms []ocispec.Platform
	// Compression is how a docker-archive's new layers are compressed.
	Compression compression.Compression
	// Limits bound what a hostile archive may cost; zero is
	// DefaultLimits.
	Limits Limits
	// Dir is where copies and compressed layers wait for their upload;
	// the caller removes it.
	Dir string
	// HashOnly computes digests and writes no compressed layer (nothing
	// is to be uploaded).
	HashOnly bool
	// Reuser, when set, says which layers a repository holds.
	Reuser Reuser
	// Ready, when set, is told of every blob on disk that will likely be
	// uploaded, as soon as it is there: a layer compressed, or a blob
	// whose name is its digest (an OCI archive's). An archive found bad
	// later has no manifest put.
	Ready func(Blob)
}

// Layer is one layer of a docker-archive's image, checked against its
// config's diff ID.
type Layer struct {
	DiffID digest.Digest
	// Size is the layer's size in the archive.
	Size int64
	// Blob is the layer as it would be uploaded: compressed by this run
	// (Made), or as the archive holds it (compressed already; nothing to
	// open when the Reuser said a repository holds it).
	Blob Blob
	Made bool
}

// Manifest is a manifest or index, as its bytes are.
type Manifest struct {
	Desc ocispec.Descriptor
	Raw  []byte
}

// Image is what an archive holds, checked but for what Verify checks: a
// docker-archive's (Config and Layers, to convert) or an OCI layout's
// (Blobs and Manifests, pushed as they are, Top the one named).
type Image struct {
	// Format is the kind of archive read (docker-archive, OCI archive,
	// OCI layout), as the log names it.
	Format string
	// Config and Layers are a docker-archive's.
	Config Blob
	Layers []Layer
	// Top, Blobs and Manifests are an OCI archive's or layout's: every
	// distinct blob and manifest under Top, children before parents.
	Top       ocispec.Descriptor
	Blobs     []Blob
	Manifests []Manifest
	// Decompress and Compress are the time the reading waited on each;
	// Unpacked what the archive unpacked to, as Limits count it.
	Decompress, Compress time.Duration
	Unpacked             int64
	oci                  *ociImage
	close                func() error
}

// Docker says whether the image is a docker-archive's (Layers), not an
// OCI layout's (Blobs).
func (img *Image) Docker() bool { return img.oci == nil }

// Close releases what the image holds open (a layout directory).
func (img *Image) Close() error { return img.close() }

// Verify unpacks an OCI image's layers not unpacked yet (a layout's) and
// checks each against the diff ID its config gives it: run beside the
// uploads of its blobs, before any manifest is put. A docker-archive's
// were checked as they were read.
func (img *Image) Verify() error {
	if img.oci == nil {
		return nil
	}
	return img.oci.verify()
}

// Open reads the archive and returns its image, checked; it removes
// nothing of what it made in Options.Dir.
func Open(ctx context.Context, o Options) (*Image, error) {
	rd := &reader{ctx: ctx, dir: o.Dir, comp: o.Compression, limits: o.Limits.orDefault(), hashOnly: o.HashOnly, reuser: o.Reuser, ready: o.Ready, top: o.Top}
	if rd.reuser == nil {
		rd.reuser = reuseNone{}
	}
	var img *image
	var err error
	if o.Stream != nil {
		img, err = rd.openStream(ctx, o.Stream, o.Choice)
	} else {
		img, err = rd.open(ctx, o.Path, o.Choice)
	}
	if err != nil {
		return nil, err
	}
	if err := checkPlatforms(img.platforms(), o.Platforms); err != nil {
		return nil, errors.Join(err, img.close())
	}
	return img.export(rd), nil
}

// export is the image as Open returns it.
func (img *image) export(rd *reader) *Image {
	out := &Image{Format: img.format, close: img.close, oci: img.oci,
		Decompress: rd.waits.decompress, Compress: rd.waits.compress, Unpacked: rd.unpacked.used.Load()}
	if d := img.docker; d != nil {
		out.Config = Blob{Desc: d.config.desc(ocispec.MediaTypeImageConfig), Open: d.config.open}
		for i, f := range d.layers {
			out.Layers = append(out.Layers, f.exported(d.diffIDs[i]))
		}
		return out
	}
	o := img.oci
	out.Top = o.top
	for _, b := range o.blobs {
		out.Blobs = append(out.Blobs, Blob{Desc: b, Open: func() (io.ReadCloser, error) { return o.store.open(b.Digest) }})
	}
	for _, m := range o.manifests {
		out.Manifests = append(out.Manifests, Manifest(m))
	}
	return out
}

// exported is the layer f, of diff ID diffID, as Open returns it.
func (f *file) exported(diffID digest.Digest) Layer {
	l := Layer{DiffID: diffID, Size: f.size, Blob: Blob{Desc: f.desc(f.mediaType), Open: f.open}}
	if f.packed != nil {
		l.Blob, l.Made = Blob{Desc: f.packed.desc, Open: opener(f.packed.path)}, true
	}
	return l
}
