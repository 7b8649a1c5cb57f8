package main

import (
	"context"
	"errors"
	"fmt"

	"github.com/regclient/regclient"
	"github.com/regclient/regclient/config"
	"github.com/regclient/regclient/types/descriptor"
	"github.com/regclient/regclient/types/manifest"
	"github.com/regclient/regclient/types/ref"
)

// forget unlinks every blob of repo:tag from that repository. BuildKit and
// skopeo remember where they pushed a blob and mount it from there into
// the next repository instead of uploading it; once the source repository
// no longer has the blob, the mount is refused and the next push is a real
// upload again, as on a registry that has never seen the image.
func (b *bench) forget(ctx context.Context, repo, tag string) error {
	r, err := ref.New(repo + ":" + tag)
	if err != nil {
		return err
	}
	rc := b.regclient()
	m, err := rc.ManifestGet(ctx, r)
	if err != nil {
		return fmt.Errorf("forget %s: %w", r.CommonName(), err)
	}
	img, ok := m.(manifest.Imager)
	if !ok {
		return fmt.Errorf("forget %s: not an image manifest", r.CommonName())
	}
	blobs, err := img.GetLayers()
	if err != nil {
		return err
	}
	cfg, err := img.GetConfig()
	if err != nil {
		return err
	}
	var errs []error
	for _, d := range append(blobs, cfg) {
		errs = append(errs, rc.BlobDelete(ctx, r, descriptor.Descriptor{Digest: d.Digest, Size: d.Size, MediaType: d.MediaType}))
	}
	return errors.Join(errs...)
}

func (b *bench) regclient() *regclient.RegClient {
	if b.rc == nil {
		host := config.HostNewName(b.registry)
		host.User, host.Pass, host.TLS = b.user, b.key, config.TLSDisabled
		b.rc = regclient.New(regclient.WithConfigHost(*host))
	}
	return b.rc
}
