package writer

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"sync"

	digest "github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/blumeops/build-push-image/internal/source/sourcetest"
)

// The archives these tests publish are made by sourcetest.
type (
	entry       = sourcetest.Entry
	dockerEntry = sourcetest.DockerEntry
)

var (
	tarOf          = sourcetest.Tar
	layer          = sourcetest.Layer
	sha            = sourcetest.Sha
	configOf       = sourcetest.Config
	jsonOf         = sourcetest.JSON
	nixArchive     = sourcetest.NixArchive
	dockerSave     = sourcetest.DockerSave
	ociLayout      = sourcetest.OCILayout
	ociLayoutWith  = sourcetest.OCILayoutWith
	ociLayoutTyped = sourcetest.OCILayoutTyped
	writeDir       = sourcetest.WriteDir
	compress       = sourcetest.Compress
	writeFile      = sourcetest.WriteFile
)

// memRegistry keeps what was uploaded, to look at in unit tests; the
// integration test pushes to the rig's real registry.
type memRegistry struct {
	mu        sync.Mutex
	blobs     map[digest.Digest][]byte
	manifests map[string][]byte // by digest and by tag
	types     map[string]string
	puts      int
}

func newMem() *memRegistry {
	return &memRegistry{blobs: map[digest.Digest][]byte{}, manifests: map[string][]byte{}, types: map[string]string{}}
}

func (m *memRegistry) Tags(context.Context) ([]string, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	var tags []string
	for k := range m.manifests {
		if _, err := digest.Parse(k); err != nil {
			tags = append(tags, k)
		}
	}
	return tags, nil
}

func (m *memRegistry) Manifest(_ context.Context, ref string) (string, []byte, bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	raw, ok := m.manifests[ref]
	return m.types[ref], raw, ok, nil
}

func (m *memRegistry) Blob(_ context.Context, d digest.Digest) (io.ReadCloser, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	b, ok := m.blobs[d]
	if !ok {
		return nil, fmt.Errorf("blob %s unknown", d)
	}
	return io.NopCloser(bytes.NewReader(b)), nil
}

func (m *memRegistry) PutBlob(_ context.Context, desc ocispec.Descriptor, open func() (io.ReadCloser, error)) error {
	m.mu.Lock()
	_, has := m.blobs[desc.Digest]
	m.mu.Unlock()
	if has {
		return nil
	}
	r, err := open()
	if err != nil {
		return err
	}
	defer r.Close()
	b, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	if sha(b) != desc.Digest || int64(len(b)) != desc.Size {
		return fmt.Errorf("blob %s: got %s, %d bytes", desc.Digest, sha(b), len(b))
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	m.blobs[desc.Digest] = b
	m.puts++
	return nil
}

func (m *memRegistry) PutManifest(_ context.Context, mediaType string, raw []byte) (digest.Digest, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	d := sha(raw)
	m.manifests[d.String()], m.types[d.String()] = raw, mediaType
	return d, nil
}

// tag points tag at manifest d, as the run's tag writer would.
func (m *memRegistry) tag(d digest.Digest, tag string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.manifests[tag], m.types[tag] = m.manifests[d.String()], m.types[d.String()]
}
