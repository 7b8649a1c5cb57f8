package publish

import (
	"context"
	"io"
	"slices"
	"strings"
	"time"

	digest "github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/blumeops/build-push-image/internal/build"
	"github.com/blumeops/build-push-image/internal/compression"
	"github.com/blumeops/build-push-image/internal/push"
	"github.com/blumeops/build-push-image/internal/source"
	"github.com/blumeops/build-push-image/internal/stream"
	"github.com/blumeops/build-push-image/internal/writer"
)

// Archive publishes an image the runner already built (the archive
// input): no BuildKit. A docker-archive becomes an OCI image manifest
// with the archive's config, its layers compressed (deterministically:
// the same archive gives the same digest) unless a repository holds them
// already; an OCI archive or layout is pushed as it is.
type Archive struct {
	// Path is the archive: a file (symlinks followed), an OCI layout
	// directory, a program that writes it to its standard output (nix's
	// streamLayeredImage result, run in the working directory with Env),
	// or "-": Stdin.
	Path string
	// Env is the whole environment of a program the archive is
	// (procenv's: neither the key nor any input).
	Env []string
	// Program says Path is a program that writes the archive
	// (config.ArchiveProgram): it is started, and read as it writes.
	Program bool
	// Stdin, when not nil, is where the archive is read (archive: -).
	Stdin io.Reader
	// Idle is how long the program or Stdin may send nothing
	// (archive-idle-timeout; stream.DefaultIdle when zero).
	Idle time.Duration
	// Choice is archive-image: which of several images.
	Choice string
	// Platforms are the platforms the image must be for (platforms, as
	// parsed).
	Platforms []ocispec.Platform
	// Compression is how a docker-archive's layers are compressed
	// (compression, compression-level); an OCI archive's are kept.
	Compression compression.Compression
	// OwnTags are the run's version and SHA tags as written (with the
	// tag suffix): when they exist (a re-run), their layers are reused
	// first, so the re-run reproduces the first run's digest.
	OwnTags []string
	// ReuseFrom are more tags whose layers may be reused (reuse-from).
	ReuseFrom []string
	// Previous are tags that name the release before, whatever its
	// version scheme (the tags that follow releases, the SHA tag of the
	// commit before the push), so its layers are reused too.
	Previous []string
	// Elsewhere are other repositories of the registry whose layers are
	// mounted instead of uploaded (reuse-from's repositories).
	Elsewhere []writer.Elsewhere
	// TagSuffix picks the newest releases to reuse layers from: the
	// highest semantic-version tags ending in it.
	TagSuffix string
	// CompareOnly computes the digest and uploads nothing (skip-identical
	// with the version in every repository).
	CompareOnly bool
	// TempDir is where compressed layers wait for their upload; removed
	// after.
	TempDir string
	// Log gets the archive's progress: read, reused, uploaded.
	Log Logger
	// Warn gets a layer an image in a repository claimed falsely (its
	// blob is not that layer): not reused, compressed anew.
	Warn func(format string, args ...any)
	// Prover proves each layer an image in a repository claims before it
	// is reused (writer.Unpacked when nil).
	Prover writer.Prover
	// Remembered, when set, is the proof store's part of Prover: its
	// counts go to the log.
	Remembered *writer.Remembered
	// Targets are the repositories (internal/push's Registry), in the
	// order of the image input.
	Targets []writer.Registry
}

// Publish reads the archive, learns which layers the repositories hold
// (an optional look-up: a registry that stalls it is not waited for
// twice, and the run goes on without reuse), and uploads the rest by
// digest. req gives the annotations of the
// manifest made for a docker-archive.
func (p Archive) Publish(ctx context.Context, req build.Request) (build.Result, error) {
	known, err := writer.Learn(push.Optional(ctx), p.Targets, slices.Concat(p.OwnTags, p.ReuseFrom, p.Previous), p.TagSuffix, p.Log.Infof)
	if err != nil {
		return build.Result{}, err
	}
	if err := known.LearnElsewhere(ctx, p.Elsewhere, p.TagSuffix, p.Log.Infof); err != nil {
		return build.Result{}, err
	}
	if known.Len() > 0 {
		p.Log.Infof("Learned %d layers the registry holds (from %s): those of this image are neither compressed nor uploaded again", known.Len(), strings.Join(known.From, ", "))
	}
	src, stop, err := p.stream(ctx)
	if err != nil {
		return build.Result{}, err
	}
	defer stop()
	var made func(ocispec.Descriptor, digest.Digest, int64)
	if p.Remembered != nil && !p.CompareOnly {
		made = p.Remembered.Made
	}
	d, stats, err := writer.Publish(ctx, p.Targets, writer.Options{
		Path: p.Path, Stream: src, Platforms: p.Platforms, Choice: p.Choice, Compression: p.Compression, Annotations: req.Annotations,
		Known: known, Prover: p.Prover, Made: made, CompareOnly: p.CompareOnly, TempDir: p.TempDir, Log: p.Log.Infof, Warn: p.Warn,
	})
	if p.Remembered != nil && known.Len() > 0 {
		recalled, downloaded := p.Remembered.Counts()
		p.Log.Infof("Proof store: %d reused layers proven by earlier jobs on this runner (not downloaded), %d proven by download now and remembered", recalled, downloaded)
	}
	return build.Result{Digest: d, Manifest: stats.Manifest}, err
}

// stream is the archive when it is read as it is written: standard input,
// or the output of the program Path names, started now (after the guard
// and the look-ups: nothing of the user's runs for a release refused).
// Its stderr goes to the log as it comes. stop stops the program, however
// the publish ended.
func (p Archive) stream(ctx context.Context) (src source.Stream, stop func(), err error) {
	switch {
	case p.Stdin != nil:
		return stream.ReadStdin(ctx, p.Stdin, p.idle()), func() {}, nil
	case !p.Program:
		return nil, func() {}, nil
	}
	p.Log.Infof("Running %s: the image is read from its output as it writes it", p.Path)
	prog, err := stream.Start(ctx, p.Path, stream.WithEnv(p.Env), p.idle(), stream.WithStderr(func(line string) {
		p.Log.Infof("%s", line) // inert: no workflow command
	}))
	if err != nil {
		return nil, nil, err
	}
	return prog, prog.Stop, nil
}

// idle is the stream's idle limit.
func (p Archive) idle() stream.Option {
	if p.Idle <= 0 {
		return stream.WithIdle(stream.DefaultIdle)
	}
	return stream.WithIdle(p.Idle)
}
