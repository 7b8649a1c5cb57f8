package push

import (
	"context"
	"errors"
	"fmt"
	"io"

	digest "github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"github.com/regclient/regclient/types/descriptor"
	"github.com/regclient/regclient/types/errs"
	"github.com/regclient/regclient/types/manifest"
	"github.com/regclient/regclient/types/ref"
)

// The methods below let internal/writer read what the repository holds
// and upload an image by digest, blob by blob; they never write a tag.

// Tags lists the repository's tags (every page); a repository that does
// not exist yet has none.
func (r *Registry) Tags(ctx context.Context) ([]string, error) {
	var tags []string
	err := call(ctx, "list the tags of "+r.repo.CommonName(), func(ctx context.Context) error {
		list, err := r.rc.TagList(ctx, r.repo)
		if err != nil {
			return err
		}
		tags, err = list.GetTags()
		return err
	})
	if errors.Is(err, errs.ErrNotFound) {
		return nil, nil
	}
	return tags, err
}

// Manifest reads the manifest (or index) a tag or digest names, as the
// registry stores it: its media type and exact bytes. found is false when
// there is none.
func (r *Registry) Manifest(ctx context.Context, reference string) (mediaType string, raw []byte, found bool, err error) {
	at := r.repo.SetTag(reference)
	if d, perr := digest.Parse(reference); perr == nil {
		at = r.repo.SetDigest(d.String())
	}
	var m manifest.Manifest
	err = call(ctx, "read "+at.CommonName(), func(ctx context.Context) (err error) {
		m, err = r.rc.ManifestGet(ctx, at)
		return err
	})
	if errors.Is(err, errs.ErrNotFound) {
		return "", nil, false, nil
	}
	if err != nil {
		return "", nil, false, err
	}
	raw, err = m.RawBody()
	if err != nil {
		return "", nil, false, fmt.Errorf("read %s: %w", at.CommonName(), err)
	}
	return m.GetDescriptor().MediaType, raw, true, nil
}

// Blob opens the blob d for reading; the caller closes it.
func (r *Registry) Blob(ctx context.Context, d digest.Digest) (io.ReadCloser, error) {
	var rc io.ReadCloser
	err := call(ctx, fmt.Sprintf("read blob %s@%s", r.repo.CommonName(), d), func(ctx context.Context) (err error) {
		rc, err = r.rc.BlobGet(ctx, r.repo, descriptor.Descriptor{Digest: d})
		return err
	})
	return rc, err
}

// HasBlob says whether the repository holds the blob d.
func (r *Registry) HasBlob(ctx context.Context, d digest.Digest) (bool, error) {
	err := call(ctx, fmt.Sprintf("look up blob %s@%s", r.repo.CommonName(), d), func(ctx context.Context) error {
		b, err := r.rc.BlobHead(ctx, r.repo, descriptor.Descriptor{Digest: d})
		if err == nil {
			_ = b.Close()
		}
		return err
	})
	if errors.Is(err, errs.ErrNotFound) {
		return false, nil
	}
	return err == nil, err
}

// PutBlob uploads the blob desc (digest and size known) unless the
// repository has it. open gives its bytes from the start, once per try: a
// try that a broken connection spoiled is redone from a fresh reader.
func (r *Registry) PutBlob(ctx context.Context, desc ocispec.Descriptor, open func() (io.ReadCloser, error)) error {
	if has, err := r.HasBlob(ctx, desc.Digest); err != nil || has {
		return err
	}
	return r.UploadBlob(ctx, desc, open)
}

// UploadBlob uploads the blob desc with no look-up first: for a small
// blob that is most likely new (a signature's), the look-up would cost a
// round trip more than the upload saves. Uploading a blob the repository
// has already is harmless.
func (r *Registry) UploadBlob(ctx context.Context, desc ocispec.Descriptor, open func() (io.ReadCloser, error)) error {
	what := fmt.Sprintf("upload blob %s@%s", r.repo.CommonName(), desc.Digest)
	for try := 1; ; try++ {
		err := call(ctx, what, func(ctx context.Context) error {
			body, err := open()
			if err != nil {
				return err
			}
			defer func() { _ = body.Close() }()
			_, err = r.rc.BlobPut(ctx, r.repo, blobDescriptor(desc), body)
			return err
		})
		if err == nil || try >= r.copies || !recopy(ctx, err) {
			return err
		}
	}
}

// PutManifest uploads a manifest or index by its digest (no tag) and
// returns the digest. Tag can then point tags at it with no GET.
func (r *Registry) PutManifest(ctx context.Context, mediaType string, raw []byte) (digest.Digest, error) {
	d := digest.FromBytes(raw)
	m, err := manifest.New(manifest.WithRaw(raw), manifest.WithDesc(descriptor.Descriptor{MediaType: mediaType, Digest: d, Size: int64(len(raw))}))
	if err != nil {
		return "", fmt.Errorf("manifest %s: %w", d, err)
	}
	at := r.repo.SetDigest(d.String())
	if err := call(ctx, "push "+at.CommonName(), func(ctx context.Context) error {
		return r.rc.ManifestPut(ctx, at, m)
	}); err != nil {
		return "", err
	}
	r.keep(d, m)
	return d, nil
}

// MountBlob asks the registry to link the blob desc from another of its
// repositories (from) instead of an upload; false when it did not
// (another registry, the blob not there, mounts refused).
func (r *Registry) MountBlob(ctx context.Context, from ref.Ref, desc ocispec.Descriptor) (bool, error) {
	if !ref.EqualRegistry(from, r.repo) || from.Repository == r.repo.Repository {
		return false, nil
	}
	src := r.repo
	src.Repository = from.Repository
	err := call(ctx, fmt.Sprintf("mount blob %s@%s from %s", r.repo.CommonName(), desc.Digest, from.CommonName()), func(ctx context.Context) error {
		return r.rc.BlobMount(ctx, src, r.repo, blobDescriptor(desc))
	})
	switch {
	case err == nil:
		return true, nil
	case ctx.Err() != nil:
		return false, err
	}
	return false, nil // an upload follows, and says what is wrong if anything is
}

// blobDescriptor is desc as regclient's blob calls take it: what the
// registry is told of a blob is its media type, digest and size.
func blobDescriptor(desc ocispec.Descriptor) descriptor.Descriptor {
	return descriptor.Descriptor{MediaType: desc.MediaType, Digest: desc.Digest, Size: desc.Size}
}
