package source

import (
	"encoding/json"
	"path"

	digest "github.com/opencontainers/go-digest"
)

// dockerEntry is one image of a docker-archive's manifest.json.
type dockerEntry struct {
	Config   string
	RepoTags []string
	Layers   []string
}

// dockerConfig is what a docker-archive's config says about its layers
// and platform.
type dockerConfig struct {
	OS           string `json:"os"`
	Architecture string `json:"architecture"`
	Variant      string `json:"variant"`
	RootFS       struct {
		DiffIDs []digest.Digest `json:"diff_ids"`
	} `json:"rootfs"`
}

// dockerImage is the image chosen from a docker-archive: its config file
// and its layers, each checked against the config's diff ID.
type dockerImage struct {
	// platform is the config's os/arch[/variant].
	platform string
	config   *file
	layers   []*file
	// diffIDs are the layers' diff IDs, as the config lists them.
	diffIDs []digest.Digest
}

// readDocker chooses the image of manifest.json and checks it; diffID
// unpacks a compressed layer for its diff ID.
func readDocker(c *contents, manifestJSON *file, choice string, diffID func(*file) (digest.Digest, error)) (*dockerImage, error) {
	var entries []dockerEntry
	if err := json.Unmarshal(manifestJSON.data, &entries); err != nil {
		return nil, bad("its manifest.json is not a docker-archive manifest (%v)", err)
	}
	images := make([]*dockerImage, len(entries))
	configs := make([]dockerConfig, len(entries))
	cands := make([]candidate, len(entries))
	for i, e := range entries {
		img, cfg, err := dockerConfigOf(c, e)
		if err != nil {
			return nil, err
		}
		images[i], configs[i] = img, cfg
		cands[i] = candidate{names: e.RepoTags, platform: path.Join(cfg.OS, cfg.Architecture, cfg.Variant)}
	}
	i, err := choose(cands, choice)
	if err != nil {
		return nil, err
	}
	images[i].platform = cands[i].platform
	return images[i], images[i].resolve(c, entries[i], configs[i], diffID)
}

// dockerConfigOf reads the config of one entry.
func dockerConfigOf(c *contents, e dockerEntry) (*dockerImage, dockerConfig, error) {
	var cfg dockerConfig
	f, err := member(c, e.Config, "config")
	if err != nil {
		return nil, cfg, err
	}
	if f.data == nil {
		return nil, cfg, bad("its config %s is not a small JSON file", e.Config)
	}
	if err := json.Unmarshal(f.data, &cfg); err != nil {
		return nil, cfg, bad("its config %s is not JSON (%v)", e.Config, err)
	}
	return &dockerImage{config: f}, cfg, nil
}

// resolve finds every layer and checks it against the config.
func (img *dockerImage) resolve(c *contents, e dockerEntry, cfg dockerConfig, diffID func(*file) (digest.Digest, error)) error {
	if len(e.Layers) != len(cfg.RootFS.DiffIDs) {
		return bad("manifest.json lists %d layers but the config %s has %d diff IDs", len(e.Layers), e.Config, len(cfg.RootFS.DiffIDs))
	}
	for i, name := range e.Layers {
		f, err := member(c, name, "layer")
		if err != nil {
			return err
		}
		id := f.digest
		switch {
		case f.mediaType != "":
			if id, err = diffID(f); err != nil {
				return err
			}
		case !f.layer:
			return bad("layer %s is not a tar, nor a gzip or zstd of one", name)
		}
		if id != cfg.RootFS.DiffIDs[i] {
			return bad("layer %s has sha256 %s unpacked but the config says its diff ID is %s", name, id.Encoded(), cfg.RootFS.DiffIDs[i])
		}
		img.layers, img.diffIDs = append(img.layers, f), append(img.diffIDs, id)
	}
	return nil
}

// plain says whether any layer is an uncompressed tar (compressed by
// this action, or known): a docker-archive to convert, not a layout to
// keep.
func (img *dockerImage) plain() bool {
	for _, f := range img.layers {
		if f.layer {
			return true
		}
	}
	return len(img.layers) == 0
}

// member is the file a manifest names, which must be in the archive.
func member(c *contents, name, what string) (*file, error) {
	clean, err := entryName(name)
	if err != nil {
		return nil, hostile("its manifest names the %s %q, outside the archive", what, name)
	}
	f, ok := c.lookup(clean)
	if !ok {
		return nil, bad("its manifest names the %s %s, which the archive does not hold", what, name)
	}
	return f, nil
}
