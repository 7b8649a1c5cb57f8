package writer

import (
	"context"
	"io"

	digest "github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"github.com/regclient/regclient/types/ref"
	"golang.org/x/sync/errgroup"
)

// sender sends blobs to every repository in the background, each once,
// mounted where a registry can link it from a repository that has it.
type sender struct {
	targets []Registry
	g       *errgroup.Group
	// ctx is the uploads' (cancelled when one fails).
	ctx context.Context
	// sent are the blobs whose uploads are started (by the one
	// goroutine that reads the archive and then puts the manifests).
	sent map[digest.Digest]bool
}

// blob sends a blob made from the archive to every repository, in the
// background.
func (p *sender) blob(desc ocispec.Descriptor, open func() (io.ReadCloser, error)) {
	p.sendFrom(desc, open, 0, false)
}

// sendFrom sends a blob to every repository, in the background: first to
// the one at first, then to the others, mounted from there when they can
// be. held says the one at first holds it already (a known layer: its
// image's manifest names it), so it is not even looked up there.
func (p *sender) sendFrom(desc ocispec.Descriptor, open func() (io.ReadCloser, error), first int, held bool) {
	if len(p.targets) == 0 || p.sent[desc.Digest] {
		return
	}
	p.sent[desc.Digest] = true
	src, mounts := p.targets[first].(Mounter)
	if !mounts || len(p.targets) == 1 {
		for i, t := range p.targets {
			if !held || i != first {
				p.g.Go(func() error { return t.PutBlob(p.ctx, desc, open) })
			}
		}
		return
	}
	p.g.Go(func() error {
		if !held {
			if err := p.targets[first].PutBlob(p.ctx, desc, open); err != nil {
				return err
			}
		}
		for i, t := range p.targets {
			if i == first {
				continue
			}
			if err := p.mountOrPut(t, src.Ref(), desc, open); err != nil {
				return err
			}
		}
		return nil
	})
}

// mount links a layer that another repository of the registry holds
// into every repository, in the background: a mount, not an upload; where
// the registry does not mount it, it is read from there and uploaded.
func (p *sender) mount(desc ocispec.Descriptor, from Registry, open func() (io.ReadCloser, error)) {
	if p.sent[desc.Digest] {
		return
	}
	p.sent[desc.Digest] = true
	var src ref.Ref // a registry that cannot mount: every repository uploads it
	if m, ok := from.(Mounter); ok {
		src = m.Ref()
	}
	for _, t := range p.targets {
		p.g.Go(func() error { return p.mountOrPut(t, src, desc, open) })
	}
}

// mountOrPut mounts desc into t from the repository from, or uploads it
// when t does not mount it.
func (p *sender) mountOrPut(t Registry, from ref.Ref, desc ocispec.Descriptor, open func() (io.ReadCloser, error)) error {
	if m, ok := t.(Mounter); ok {
		if done, err := m.MountBlob(p.ctx, from, desc); done || err != nil {
			return err
		}
	}
	return t.PutBlob(p.ctx, desc, open)
}

// openedOnRead opens a blob of another repository only when its bytes
// are read: an upload that the registry satisfies by a mount reads none.
type openedOnRead struct {
	open func() (io.ReadCloser, error)
	rc   io.ReadCloser
}

func (l *openedOnRead) Read(p []byte) (int, error) {
	if l.rc == nil {
		rc, err := l.open()
		if err != nil {
			return 0, err
		}
		l.rc = rc
	}
	return l.rc.Read(p)
}

func (l *openedOnRead) Close() error {
	if l.rc == nil {
		return nil
	}
	return l.rc.Close()
}
