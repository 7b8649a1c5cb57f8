// Package writer uploads an image to one or more repositories by digest:
// every blob once (mounted into the other repositories of a registry
// where it can be), a few at once, while the archive is still read
// (internal/source); layers the repositories hold already (Known) are
// reused once their claim is proven (Prover), never compressed again. It
// alone decides what is checked before upload: every manifest is put
// only after everything under it was checked (the reader's digests and
// diff IDs, Verify, the proofs), and by digest only: tags are the
// caller's.
package writer

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	digest "github.com/opencontainers/go-digest"
	specs "github.com/opencontainers/image-spec/specs-go"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"golang.org/x/sync/errgroup"

	"github.com/blumeops/build-push-image/internal/compression"
	"github.com/blumeops/build-push-image/internal/source"
)

// Options say what to publish and how.
type Options struct {
	// Path is the archive: a file or an OCI layout directory; with
	// Stream, only what the log calls it.
	Path string
	// Stream, when set, is the archive, read as it is written.
	Stream source.Stream
	// Choice picks one of several images: name:tag or os/arch[/variant].
	Choice string
	// Top, when set, is the digest of the image an OCI layout's
	// index.json names to upload (BuildKit's layout), instead of Choice.
	Top digest.Digest
	// Compression is how a docker-archive's new layers are compressed.
	Compression compression.Compression
	// Annotations go on the manifest made for a docker-archive (an OCI
	// archive is pushed as it is).
	Annotations map[string]string
	// Platforms are the platforms the image must be for, as the
	// platforms input was parsed: one image's config, or manifests of an
	// index; none: any. With them, nothing is uploaded before the
	// platform is checked.
	Platforms []ocispec.Platform
	// Known are the layers the repositories hold (Learn).
	Known *Known
	// Prover proves each claim of Known before a manifest names its blob
	// (ahead of the reader, a few at once); nil is Unpacked (the blob
	// streamed, unpacked and hashed).
	Prover Prover
	// Warn gets one line per claim that failed its proof: that layer is
	// compressed and uploaded anew.
	Warn func(format string, args ...any)
	// Made, when set, is told of each layer this run compressed: the
	// blob it made unpacks to that diff ID, a proof for later jobs
	// (Remembered.Made).
	Made func(blob ocispec.Descriptor, diffID digest.Digest, unpacked int64)
	// CompareOnly computes the digest and uploads nothing.
	CompareOnly bool
	// TempDir is where compressed layers wait for their upload; what is
	// made there is removed before Publish returns.
	TempDir string
	// Limits bound what a hostile archive may cost; zero is
	// source.DefaultLimits.
	Limits source.Limits
	// Log gets one line per step.
	Log func(format string, args ...any)
}

// Stats is where the time went.
type Stats struct {
	// Format is the kind of archive read (docker-archive, OCI archive,
	// OCI layout), as the log names it.
	Format string
	// Layers are a docker-archive's layers (an OCI archive's blobs):
	// Reused the ones a repository held already, Compressed the ones
	// this run compressed, Packed the ones compressed in the archive
	// already (sent as they are). For a docker-archive they add up:
	// Layers = Reused + Compressed + Packed.
	Layers, Reused, Compressed, Packed int
	// In is the uncompressed size of the compressed layers, Out their
	// compressed size; Unpacked what the archive unpacked to in all, as
	// Limits count it (each distinct layer once).
	In, Out, Unpacked int64
	// Read is the time to read (decompress, hash, compress) the archive;
	// Upload the time after it until every blob and manifest was in.
	Read, Upload time.Duration
	// Of Read, the time waiting on decompression, on compression, and on
	// uploads (when as many as run at once were busy); Prove the time
	// proving the claims of Known (Prover), Proved how many held.
	Decompress, Compress, Backlog, Prove time.Duration
	Proved                               int
	// Manifest is the top manifest as put, or (CompareOnly) as it would
	// be: what a caller compares with the image a tag names.
	Manifest []byte
}

// uploads is how many blob uploads run at once.
const uploads = 4

// Publish reads the archive and gets its image into every target by
// digest, returning the digest of its top manifest.
func Publish(ctx context.Context, targets []Registry, o Options) (digest.Digest, Stats, error) {
	dir, err := os.MkdirTemp(o.TempDir, "build-push-image-archive-")
	if err != nil {
		return "", Stats{}, fmt.Errorf("temporary directory: %w", err)
	}
	defer func() { _ = os.RemoveAll(dir) }()
	// A bad archive stops the uploads of its blobs at once.
	uctx, stop := context.WithCancel(ctx)
	defer stop()
	g, gctx := errgroup.WithContext(uctx)
	g.SetLimit(uploads)
	p := &publisher{o: o, start: time.Now(), parent: ctx, proven: map[digest.Digest]bool{},
		sender: &sender{targets: targets, g: g, ctx: gctx, sent: map[digest.Digest]bool{}}}
	pctx, unprove := context.WithCancel(gctx)
	p.proofs = newProofs(pctx, o.Prover, o.Limits, o.Known)
	defer func() { p.proofs.stop(); unprove(); p.proofs.wait() }()
	so := source.Options{Path: o.Path, Stream: o.Stream, Choice: o.Choice, Top: o.Top, Platforms: o.Platforms,
		Compression: o.Compression, Limits: o.Limits, Dir: dir, HashOnly: o.CompareOnly, Reuser: p}
	if !o.CompareOnly && len(o.Platforms) == 0 { // else uploads wait for the platform
		so.Ready = func(b source.Blob) {
			start := time.Now()
			p.blob(b.Desc, b.Open)
			p.stats.Backlog += time.Since(start)
		}
	}
	d, err := p.publish(so)
	if err != nil {
		stop()
	}
	// An upload's failure cancels the reading: report the cause.
	if werr := g.Wait(); werr != nil && (err == nil || errors.Is(err, context.Canceled)) {
		err = werr
	}
	return d, p.stats, err
}

// publisher reads the archive and sends its blobs (its sender) as they
// are read, then puts the manifests.
type publisher struct {
	*sender
	o Options
	// parent is the run's context (the sender's is cancelled when an
	// upload fails).
	parent context.Context
	start  time.Time
	stats  Stats
	// proofs prove the claims of Known; proven is what they said, by
	// diff ID, once the publisher asked.
	proofs *proofs
	proven map[digest.Digest]bool
}

// Claimed says whether a repository claims to hold the layer diffID;
// the first claim starts the proofs (source.Reuser).
func (p *publisher) Claimed(diffID digest.Digest) bool {
	_, ok := p.o.Known.lookup(diffID)
	if ok {
		p.proofs.begin()
	}
	return ok
}

// Reuse says whether a repository holds the layer diffID, its claim
// proven (source.Reuser).
func (p *publisher) Reuse(diffID digest.Digest) bool {
	_, ok := p.reuse(diffID)
	return ok
}

// Proven says whether a repository holds the layer diffID, its claim
// proven already: false while its proof runs (source.Reuser).
func (p *publisher) Proven(diffID digest.Digest) bool {
	h, ok := p.o.Known.lookup(diffID)
	return ok && p.proofs.settled(h) && p.Reuse(diffID)
}

// reuse is the blob a repository holds for the layer diffID, once its
// claim is proven; false when none is known, or its proof failed (one
// warning, and the layer is compressed anew).
func (p *publisher) reuse(diffID digest.Digest) (heldBlob, bool) {
	h, ok := p.o.Known.lookup(diffID)
	if !ok {
		return h, false
	}
	if proven, done := p.proven[diffID]; done {
		return h, proven
	}
	start := time.Now()
	err := p.proofs.result(h)
	p.stats.Prove += time.Since(start)
	if p.proven[diffID] = err == nil; err == nil {
		p.stats.Proved++
	} else if p.ctx.Err() == nil && p.o.Warn != nil {
		advice := "the registry could not give it"
		if errors.Is(err, ErrFalseClaim) {
			advice = "check who pushed " + h.Image
		}
		p.o.Warn("Not reusing layer %s from %s: its blob %s is not proven to be it (%v); the layer is compressed and uploaded anew: %s",
			diffID, h.Image, h.Blob.Digest, err, advice)
	}
	return h, err == nil
}

func (p *publisher) publish(so source.Options) (digest.Digest, error) {
	img, err := source.Open(p.ctx, so)
	p.proofs.stop() // what is left to prove, the reader asked for
	if err != nil {
		return "", err
	}
	defer func() { _ = img.Close() }()
	p.stats.Format, p.stats.Read = img.Format, time.Since(p.start)
	p.stats.Decompress, p.stats.Compress, p.stats.Unpacked = img.Decompress, img.Compress, img.Unpacked
	if img.Docker() {
		return p.docker(img)
	}
	return p.oci(img)
}

// docker puts the manifest made for a docker-archive's image: every
// layer from the repositories when they hold it, else as compressed.
func (p *publisher) docker(img *source.Image) (digest.Digest, error) {
	m := ocispec.Manifest{
		Versioned:   specs.Versioned{SchemaVersion: 2},
		MediaType:   ocispec.MediaTypeImageManifest,
		Config:      img.Config.Desc,
		Layers:      make([]ocispec.Descriptor, len(img.Layers)),
		Annotations: p.o.Annotations,
	}
	for i, l := range img.Layers {
		m.Layers[i] = p.layer(l)
	}
	raw, err := json.Marshal(m)
	if err != nil {
		return "", err
	}
	d := digest.FromBytes(raw)
	p.stats.Manifest = raw
	p.logRead(d)
	if p.o.CompareOnly {
		return d, nil
	}
	p.blob(img.Config.Desc, img.Config.Open)
	return d, p.manifests([]source.Manifest{{Desc: ocispec.Descriptor{MediaType: ocispec.MediaTypeImageManifest, Digest: d}, Raw: raw}})
}

// layer is the descriptor of one layer in the manifest, and makes sure a
// known one is in every repository.
func (p *publisher) layer(l source.Layer) ocispec.Descriptor {
	p.stats.Layers++
	if h, ok := p.reuse(l.DiffID); ok {
		p.stats.Reused++
		open := func() (io.ReadCloser, error) {
			return &openedOnRead{open: func() (io.ReadCloser, error) { return h.Registry.Blob(p.ctx, h.Blob.Digest) }}, nil
		}
		switch {
		case p.o.CompareOnly:
		case h.from < 0:
			p.mount(h.Blob, h.Registry, open)
		default:
			p.sendFrom(h.Blob, open, h.from, true)
		}
		return h.Blob
	}
	if !l.Made {
		p.stats.Packed++
	} else {
		p.stats.Compressed++
		p.stats.In, p.stats.Out = p.stats.In+l.Size, p.stats.Out+l.Blob.Desc.Size
		if p.o.Made != nil {
			p.o.Made(l.Blob.Desc, l.DiffID, l.Size)
		}
	}
	if !p.o.CompareOnly { // started already unless it waited for the platform
		p.blob(l.Blob.Desc, l.Blob.Open)
	}
	return l.Blob.Desc
}

// oci pushes an OCI layout's image as it is: its layers unpacked and
// checked (Verify) while its blobs upload, before any manifest is put.
func (p *publisher) oci(img *source.Image) (digest.Digest, error) {
	p.stats.Layers = len(img.Blobs)
	for _, m := range img.Manifests {
		if m.Desc.Digest == img.Top.Digest {
			p.stats.Manifest = m.Raw
		}
	}
	p.logRead(img.Top.Digest)
	if p.o.CompareOnly {
		return img.Top.Digest, img.Verify()
	}
	for _, b := range img.Blobs {
		p.blob(b.Desc, b.Open)
	}
	verr := img.Verify()
	if err := p.g.Wait(); err != nil {
		return "", err
	}
	if verr != nil { // before any manifest is put
		return "", verr
	}
	return img.Top.Digest, p.manifests(img.Manifests)
}

// manifests waits for every blob, then puts the manifests in order in
// every repository.
func (p *publisher) manifests(ms []source.Manifest) error {
	if err := p.g.Wait(); err != nil {
		return err
	}
	for _, t := range p.targets {
		for _, m := range ms {
			got, err := t.PutManifest(p.parent, m.Desc.MediaType, m.Raw)
			if err != nil {
				return err
			}
			if want := digest.FromBytes(m.Raw); got != want {
				return fmt.Errorf("manifest %s was stored as %s", want, got)
			}
		}
	}
	p.stats.Upload = time.Since(p.start) - p.stats.Read
	if s := p.stats; s.Format == "docker-archive" {
		p.log("Uploaded %d of the %d layers (%d reused), the config and the manifest of %s in %s more", s.Layers-s.Reused, s.Layers, s.Reused, p.o.Path, s.Upload.Round(time.Millisecond))
		return nil
	}
	p.log("Uploaded %s in %s more", p.o.Path, p.stats.Upload.Round(time.Millisecond))
	return nil
}

func (p *publisher) logRead(d digest.Digest) {
	s := p.stats
	line := fmt.Sprintf("Read %s (%s) in %s: %s, %d blobs", p.o.Path, s.Format, s.Read.Round(time.Millisecond), d, s.Layers)
	if s.Format == "docker-archive" {
		in, out := humanPair(s.In, s.Out)
		line = fmt.Sprintf("Read %s (%s) in %s: %s, %d layers: %d reused from the registry, %d compressed (%s) from %s to %s, %d compressed in the archive already; %s unpacked in all; waited %s on decompression, %s on compression, %s on uploads, %s proving %d reused layers",
			p.o.Path, s.Format, s.Read.Round(time.Millisecond), d, s.Layers, s.Reused, s.Compressed, p.o.Compression, in, out, s.Packed, human(s.Unpacked),
			s.Decompress.Round(time.Millisecond), s.Compress.Round(time.Millisecond), s.Backlog.Round(time.Millisecond), s.Prove.Round(time.Millisecond), s.Proved)
	}
	p.log("%s", line)
}

func (p *publisher) log(format string, args ...any) {
	if p.o.Log != nil {
		p.o.Log(format, args...)
	}
}
