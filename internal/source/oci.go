package source

import (
	"cmp"
	"encoding/json"
	"fmt"
	"path"
	"sync"

	digest "github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"github.com/regclient/regclient/types/mediatype"
	"golang.org/x/sync/errgroup"
)

// ociImage is the image chosen from an OCI layout: its top manifest (an
// image manifest or an index, pushed whole), and every distinct blob and
// manifest under it, children before parents, as they must be uploaded.
type ociImage struct {
	// platforms are those of its images' configs.
	platforms []string
	top       ocispec.Descriptor
	blobs     []ocispec.Descriptor
	manifests []manifestBlob
	store     store
	// seen are the sizes of the blobs and manifests walked, by digest: a
	// graph, each walked once however often it is named; read is how many
	// manifests were read, descriptors how many they list.
	seen              map[digest.Digest]int64
	read, descriptors int
	limits            Limits
	// unpacked is what each blob walked unpacks to, by digest (mu, while
	// unpack runs beside the uploads); images are the image manifests
	// whose layers check compares with their configs.
	mu       sync.Mutex
	unpacked map[digest.Digest]unpacked
	images   []imageLayers
}

// manifestBlob is a manifest or index of the layout, as its bytes are.
type manifestBlob struct {
	Desc ocispec.Descriptor
	Raw  []byte
}

// imageLayers is an image manifest with the diff IDs its config gives its
// layers, to check once its blobs are unpacked.
type imageLayers struct {
	desc    ocispec.Descriptor
	layers  []ocispec.Descriptor
	diffIDs []digest.Digest
}

// containerdName is the annotation of index.json with the full name of an
// image, which containerd's docker save and ctr export write beside OCI's
// ocispec.AnnotationRefName.
const containerdName = "io.containerd.image.name"

// readOCI chooses the image of the layout's index.json (the one of digest
// top, when set) and checks every blob under it.
func readOCI(s store, choice string, top digest.Digest, limits Limits) (*ociImage, error) {
	if _, found, err := s.file(ocispec.ImageLayoutFile); err != nil || !found {
		return nil, cmp.Or(err, bad("it has no oci-layout file: not an OCI layout"))
	}
	data, found, err := s.file(ocispec.ImageIndexFile)
	if err != nil || !found {
		return nil, cmp.Or(err, bad("it has no index.json: not an OCI layout"))
	}
	var index ocispec.Index
	if err := json.Unmarshal(data, &index); err != nil {
		return nil, bad("its index.json is not an OCI index (%v)", err)
	}
	chosen, err := byDigest(index.Manifests, top)
	if top == "" {
		chosen, err = chooseOCI(s, index.Manifests, choice)
	}
	if err != nil {
		return nil, err
	}
	img := &ociImage{top: chosen, store: s, seen: map[digest.Digest]int64{}, limits: limits, unpacked: map[digest.Digest]unpacked{}}
	return img, img.walk(chosen, 0)
}

// byDigest is the descriptor of descs whose digest is d.
func byDigest(descs []ocispec.Descriptor, d digest.Digest) (ocispec.Descriptor, error) {
	for _, desc := range descs {
		if desc.Digest == d {
			return desc, nil
		}
	}
	return ocispec.Descriptor{}, bad("its index.json does not name %s", d)
}

// chooseOCI picks the descriptor of index.json to push. A platform choice
// may also pick one manifest of the one index index.json names.
func chooseOCI(s store, descs []ocispec.Descriptor, choice string) (ocispec.Descriptor, error) {
	cands := make([]candidate, len(descs))
	for i, d := range descs {
		cands[i] = ociCandidate(d)
	}
	i, err := choose(cands, choice)
	if err == nil || len(descs) != 1 || !IsIndex(descs[0].MediaType) {
		if err != nil {
			return ocispec.Descriptor{}, err
		}
		return descs[i], nil
	}
	raw, err := s.small(descs[0])
	if err != nil {
		return ocispec.Descriptor{}, err
	}
	var inner ocispec.Index
	if err := json.Unmarshal(raw, &inner); err != nil {
		return ocispec.Descriptor{}, bad("index %s is not an OCI index (%v)", descs[0].Digest, err)
	}
	return chooseOCI(s, inner.Manifests, choice)
}

func ociCandidate(d ocispec.Descriptor) candidate {
	c := candidate{}
	for _, key := range []string{ocispec.AnnotationRefName, containerdName} {
		if name := d.Annotations[key]; name != "" {
			c.names = append(c.names, name)
		}
	}
	if p := d.Platform; p != nil {
		c.platform = path.Join(p.OS, p.Architecture, p.Variant)
	}
	return c
}

// IsIndex says whether mediaType is an index (OCI's, or Docker's
// manifest list).
func IsIndex(mediaType string) bool {
	return mediaType == ocispec.MediaTypeImageIndex || mediaType == mediatype.Docker2ManifestList
}

// IsManifest says whether mediaType is an image manifest (OCI's, or
// Docker's).
func IsManifest(mediaType string) bool {
	return mediaType == ocispec.MediaTypeImageManifest || mediaType == mediatype.Docker2Manifest
}

// maxDepth is how deep indexes may nest (an index of indexes of images).
const maxDepth = 4

// walk checks desc and everything under it, each distinct blob and
// manifest once, and records them in upload order.
func (img *ociImage) walk(desc ocispec.Descriptor, depth int) error {
	if size, seen := img.seen[desc.Digest]; seen {
		if size != desc.Size {
			return bad("blob %s is named with two sizes, %d and %d", desc.Digest, size, desc.Size)
		}
		return nil
	}
	img.seen[desc.Digest] = desc.Size
	if !IsIndex(desc.MediaType) && !IsManifest(desc.MediaType) {
		u, err := img.store.check(desc)
		if err != nil {
			return err
		}
		img.unpacked[desc.Digest] = u
		img.blobs = append(img.blobs, desc)
		return nil
	}
	children, raw, diffIDs, err := img.children(desc, depth)
	if err != nil {
		return err
	}
	for _, child := range children {
		if err := img.walk(child, depth+1); err != nil {
			return err
		}
	}
	if diffIDs != nil {
		if len(children)-1 != len(*diffIDs) {
			return bad("manifest %s lists %d layers but its config has %d diff IDs", desc.Digest, len(children)-1, len(*diffIDs))
		}
		img.images = append(img.images, imageLayers{desc: desc, layers: children[1:], diffIDs: *diffIDs})
	}
	img.manifests = append(img.manifests, manifestBlob{Desc: desc, Raw: raw})
	return nil
}

// unpackPending unpacks, in g, every blob whose diff ID is not known yet
// (a layout's): started beside the uploads, so that it overlaps them.
func (img *ociImage) unpackPending(g *errgroup.Group) {
	var pending []ocispec.Descriptor
	for _, b := range img.blobs {
		if img.unpacked[b.Digest].pending {
			pending = append(pending, b)
		}
	}
	for _, b := range pending {
		g.Go(func() error {
			u := img.store.unpack(b)
			img.mu.Lock()
			img.unpacked[b.Digest] = u
			img.mu.Unlock()
			return nil
		})
	}
}

// check checks every layer of every image manifest against the diff ID
// its config gives it, once unpackPending's group is done: what the
// layer unpacks to must be what the config says it is, or a client that
// pulls it runs other files than the config (and a signature over the
// manifest) describes. A mismatch is one line naming the layer; no
// manifest is put before check passed.
func (img *ociImage) check() error {
	for _, m := range img.images {
		if err := img.checkLayers(m.desc, m.layers, m.diffIDs); err != nil {
			return err
		}
	}
	return nil
}

// unpackers is how many of a layout's blobs are unpacked at once by
// Verify, beside the uploads.
const unpackers = 4

// verify unpacks what is pending, a few at once, and checks every layer.
func (img *ociImage) verify() error {
	var g errgroup.Group
	g.SetLimit(unpackers)
	img.unpackPending(&g)
	_ = g.Wait()
	return img.check()
}

// checkLayers checks the layers of the image manifest desc.
func (img *ociImage) checkLayers(desc ocispec.Descriptor, layers []ocispec.Descriptor, diffIDs []digest.Digest) error {
	for i, l := range layers {
		u := img.unpacked[l.Digest]
		what := fmt.Sprintf("layer %d of %d (%s) of manifest %s", i+1, len(layers), l.Digest, desc.Digest)
		if u.pending { // a bug, never a pass: unpackPending did not run
			return fmt.Errorf("%s was not unpacked to check it", what)
		}
		if u.err != nil {
			return about(what, u.err)
		}
		if alg, ok := labelled(l.MediaType); ok && alg != u.alg {
			return bad("%s is labelled %s but its bytes are %s: a client would unpack it as what it is not", what, l.MediaType, u.alg)
		}
		if id := cmp.Or(u.id, l.Digest); id != diffIDs[i] {
			return bad("%s unpacks to %s but its config says its diff ID is %s: the layer is not the one the config describes", what, id, diffIDs[i])
		}
	}
	return nil
}

// children reads the manifest or index desc: what it names, within the
// limits on depth, on distinct manifests and on descriptors, and for an
// image (a manifest whose config is an image config) the diff IDs its
// config gives its layers.
func (img *ociImage) children(desc ocispec.Descriptor, depth int) ([]ocispec.Descriptor, []byte, *[]digest.Digest, error) {
	if depth > maxDepth {
		return nil, nil, nil, bad("its indexes nest more than %d deep", maxDepth)
	}
	if img.read++; img.read > img.limits.Manifests {
		return nil, nil, nil, &Error{Kind: ErrTooLarge, Reason: fmt.Sprintf("it holds more than %d distinct manifests and indexes (the limit)", img.limits.Manifests)}
	}
	raw, err := img.store.small(desc)
	if err != nil {
		return nil, nil, nil, err
	}
	var m struct {
		Config    *ocispec.Descriptor  `json:"config"`
		Layers    []ocispec.Descriptor `json:"layers"`
		Manifests []ocispec.Descriptor `json:"manifests"`
	}
	if err := json.Unmarshal(raw, &m); err != nil {
		return nil, nil, nil, bad("manifest %s is not JSON (%v)", desc.Digest, err)
	}
	children := m.Manifests
	var diffIDs *[]digest.Digest
	if IsManifest(desc.MediaType) {
		if m.Config == nil {
			return nil, nil, nil, bad("manifest %s has no config", desc.Digest)
		}
		children = append([]ocispec.Descriptor{*m.Config}, m.Layers...)
		if diffIDs, err = img.config(desc, *m.Config); err != nil {
			return nil, nil, nil, err
		}
	}
	if img.descriptors += len(children); img.descriptors > img.limits.Descriptors {
		return nil, nil, nil, &Error{Kind: ErrTooLarge, Reason: fmt.Sprintf("its manifests and indexes list more than %d descriptors in all (the limit)", img.limits.Descriptors)}
	}
	return children, raw, diffIDs, nil
}

// config reads an image's platform and diff IDs from its config; nil
// diff IDs when the config is not an image config (an artifact's): such
// a manifest is not an image a client runs.
func (img *ociImage) config(desc, config ocispec.Descriptor) (*[]digest.Digest, error) {
	if config.MediaType != ocispec.MediaTypeImageConfig && config.MediaType != mediatype.Docker2ImageConfig {
		return nil, nil
	}
	raw, err := img.store.small(config)
	if err != nil {
		return nil, err
	}
	var c dockerConfig
	if err := json.Unmarshal(raw, &c); err != nil {
		return nil, bad("the config %s of manifest %s is not JSON (%v)", config.Digest, desc.Digest, err)
	}
	img.platforms = append(img.platforms, path.Join(c.OS, c.Architecture, c.Variant))
	return &c.RootFS.DiffIDs, nil
}
