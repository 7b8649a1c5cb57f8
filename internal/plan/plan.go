// Package plan decides which images of a repository need publishing, for
// the matrix of a build job: it finds the image directories (globs), reads
// each one's version from its sources, and asks the registry whether that
// version tag exists, one HEAD per image, a bounded number at once. A
// published version is not an error here: it is an image with nothing to
// do.
package plan

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"

	digest "github.com/opencontainers/go-digest"
	"github.com/regclient/regclient/types/ref"
	"golang.org/x/sync/errgroup"

	"github.com/blumeops/build-push-image/internal/config"
	"github.com/blumeops/build-push-image/internal/input"
	"github.com/blumeops/build-push-image/internal/push"
	"github.com/blumeops/build-push-image/internal/version"
)

// Image is one image directory: what a leg of the build matrix needs.
// Paths are as the glob matched them, relative to the working directory.
type Image struct {
	Name    string `json:"name"`    // the directory's name
	Context string `json:"context"` // the directory
	File    string `json:"file"`    // its Dockerfile ("" when it has none)
	Image   string `json:"image"`   // the repository
	// Ref is Image as regclient reads it (config.Plan.ImageOf): its
	// Registry is the image's host.
	Ref     ref.Ref `json:"-"`
	Version string  `json:"version"` // the release version, e.g. v1.2.0
	// Skipped says why the directory is left out of the plan (it names no
	// version: on-unversioned: skip); empty for an image.
	Skipped string `json:"skipped,omitempty"`
	// Changed says its directory (or a shared path) changed since the
	// event's base commit (MarkChanged).
	Changed bool `json:"changed,omitempty"`
	// Tag is the version tag looked up: Version with the tag suffix.
	Tag string `json:"-"`
	// From is where the version was read, for the log.
	From *version.Found `json:"-"`
}

// Status is an Image and whether its version tag is in the registry.
type Status struct {
	Image
	Published bool `json:"published"`
	// Check puts a published image in the matrix all the same: it changed
	// in a pull request, whose leg checks it is still the published image.
	Check bool `json:"-"`
	// Adopt is a tag of the old scheme (adopt-tags) naming the image the
	// version is, Digest; Adopted says this run wrote the version tag
	// there. An image to adopt is not built.
	Adopt   string        `json:"adopt,omitempty"`
	Digest  digest.Digest `json:"digest,omitempty"`
	Adopted bool          `json:"adopted,omitempty"`
	// OutOf is how many images the old tags name when more than one: Adopt
	// is then the newest commit's.
	OutOf int `json:"-"`
}

// Find reads the image directories the globs of cfg match, in glob order:
// their names, images and versions. A directory that names no version (no
// version file or Dockerfile, or none in it) is returned with Skipped set,
// unless cfg.FailUnversioned. Every bad one is reported, one error each: a
// glob matching no directory, an exclusion leaving none out, a version
// that cannot be read, two directories giving the same image.
func Find(cfg config.Plan) ([]Image, error) {
	var out []Image
	var errs []error
	seen := map[string]string{} // image → the directory that gave it
	for _, dir := range directories(cfg, &errs) {
		img, err := read(cfg, dir)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if img.Skipped != "" {
			out = append(out, img)
			continue
		}
		if other, ok := seen[img.Image]; ok {
			errs = append(errs, input.New("image", fmt.Errorf("directories %s and %s both give %s", other, dir, img.Image), "give each image directory a name of its own, or change the image template"))
			continue
		}
		seen[img.Image] = dir
		out = append(out, img)
	}
	return out, errors.Join(errs...)
}

// directories are the directories the globs match, each once, in order,
// less those an exclusion matches (or that lie inside one it matches). As
// in a shell, * does not match a hidden directory (.git, .cache) unless
// the pattern's last element starts with a dot itself.
func directories(cfg config.Plan, errs *[]error) []string {
	var dirs []string
	for _, g := range cfg.Contexts {
		matches, _ := filepath.Glob(g) // the pattern is valid: config checked it
		n := 0
		for _, m := range matches {
			if hidden(m) && !hidden(g) {
				continue
			}
			if st, err := os.Stat(m); err == nil && st.IsDir() {
				n++
				if !slices.Contains(dirs, m) {
					dirs = append(dirs, m)
				}
			}
		}
		if n == 0 {
			*errs = append(*errs, input.New("contexts", fmt.Errorf("%q matches no directory", g), "check the glob against the checkout (is the repository checked out?)"))
		}
	}
	for _, x := range cfg.Exclude {
		kept := slices.DeleteFunc(dirs, func(dir string) bool { return excludes(x, dir) })
		if len(kept) == len(dirs) {
			*errs = append(*errs, input.New("contexts", fmt.Errorf("\"!%s\" leaves out no directory the other globs match", x), "check it against them, or remove it"))
		}
		dirs = kept
	}
	return dirs
}

// excludes says whether the exclusion glob x matches dir or a directory
// dir is inside.
func excludes(x, dir string) bool {
	for d := filepath.Clean(dir); d != "." && d != string(filepath.Separator); d = filepath.Dir(d) {
		if ok, _ := filepath.Match(x, d); ok {
			return true
		}
	}
	return false
}

func hidden(path string) bool { return strings.HasPrefix(filepath.Base(path), ".") }

// read is the Image in dir.
func read(cfg config.Plan, dir string) (Image, error) {
	name := filepath.Base(dir)
	image, err := cfg.ImageOf(name)
	if err != nil {
		return Image{}, err
	}
	img := Image{Name: name, Context: dir, Image: image.Reference, Ref: image}
	file := filepath.Join(dir, config.Dockerfile)
	if _, err := os.Stat(file); err != nil {
		if cfg.Source.Arg != "" {
			return unversioned(cfg, img, fmt.Sprintf("no %s", config.Dockerfile), input.New("contexts", fmt.Errorf("directory %s has no %s", dir, config.Dockerfile), fmt.Sprintf("version-arg reads the version from it: add one, or leave the directory out with !%s", dir)))
		}
		file = ""
	}
	img.File = file
	from, err := config.ReadVersion(cfg.Source, dir, file)
	var cmdErr *version.CommandError
	switch {
	case errors.Is(err, version.ErrNoVersion) && errors.As(err, &cmdErr):
		return unversioned(cfg, img, fmt.Sprintf("`%s` printed nothing", cmdErr.Command), err)
	case errors.Is(err, version.ErrMissing):
		return unversioned(cfg, img, "no "+cfg.Source.File, err)
	case errors.Is(err, version.ErrNoVersion):
		return unversioned(cfg, img, filepath.Base(cfg.Source.Path(dir, file))+" names no version", err)
	case err != nil:
		return Image{}, err
	}
	v := from.Version
	tag, err := config.VersionTag(v, cfg.TagSuffix)
	if err != nil {
		return Image{}, fmt.Errorf("%s: %w", dir, err)
	}
	img.Version, img.Tag, img.From = v, tag, &from
	return img, nil
}

// unversioned is a directory that names no version: left out with the
// reason why, or, with on-unversioned: fail, the error err.
func unversioned(cfg config.Plan, img Image, why string, err error) (Image, error) {
	if cfg.FailUnversioned {
		return Image{}, err
	}
	img.Skipped = why
	return img, nil
}

// Lookup says whether tag names an image in repository.
type Lookup func(ctx context.Context, repository ref.Ref, tag string) (bool, error)

// LookupError is a look-up that failed: which image's tag, its
// registry's host, and why (the registry's typed error).
type LookupError struct {
	Image, Tag, Host string
	Err              error
}

func (e *LookupError) Error() string { return fmt.Sprintf("look up %s:%s: %v", e.Image, e.Tag, e.Err) }
func (e *LookupError) Unwrap() error { return e.Err }

// Concurrency is how many look-ups run at once: enough to hide the round
// trips of a remote registry, few enough not to look like a flood.
const Concurrency = 16

// Check looks every image's version tag up, Concurrency at a time, and
// returns each image with whether it is published, in Find's order (a
// skipped directory is not looked up, and is not published). The
// first failed look-up stops the others and is returned.
func Check(ctx context.Context, images []Image, lookup Lookup) ([]Status, error) {
	out := make([]Status, len(images))
	g, ctx := errgroup.WithContext(ctx)
	g.SetLimit(Concurrency)
	for i, img := range images {
		if img.Skipped != "" {
			out[i] = Status{Image: img}
			continue
		}
		g.Go(func() error {
			ok, err := lookup(ctx, img.Ref, img.Tag)
			if err != nil {
				return &LookupError{Image: img.Image, Tag: img.Tag, Host: img.Ref.Registry, Err: err}
			}
			out[i] = Status{Image: img, Published: ok}
			return nil
		})
	}
	return out, g.Wait()
}

// Registries are the clients of internal/push the plan looks up with: one
// HEAD of the tag, through its retrying transport, with the plan's login
// (anonymous without a key) and TLS. The repositories of one registry
// share one client (push's For): one TLS handshake and one login challenge
// per registry, not per image.
type Registries struct {
	dial   func(repository ref.Ref) *push.Registry
	mu     sync.Mutex
	byHost map[string]*push.Registry
}

// NewRegistries makes no client yet: Lookup has dial make one per
// registry (the caller's one way of making a client, with its login and
// TLS), and the other repositories there share it.
func NewRegistries(dial func(repository ref.Ref) *push.Registry) *Registries {
	return &Registries{dial: dial, byHost: map[string]*push.Registry{}}
}

func (r *Registries) client(repository ref.Ref) (*push.Registry, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if first, ok := r.byHost[repository.Registry]; ok {
		return first.For(repository)
	}
	reg := r.dial(repository)
	r.byHost[repository.Registry] = reg
	return reg, nil
}

// For is the client of repository: its registry's, shared (push's For).
func (r *Registries) For(repository ref.Ref) (*push.Registry, error) { return r.client(repository) }

// Lookup is the plan's Lookup.
func (r *Registries) Lookup(ctx context.Context, repository ref.Ref, tag string) (bool, error) {
	reg, err := r.client(repository)
	if err != nil {
		return false, err
	}
	_, ok, err := reg.Lookup(ctx, tag)
	return ok, err
}

// Hosts are the registries looked up so far, each with its client.
func (r *Registries) Hosts() map[string]*push.Registry {
	r.mu.Lock()
	defer r.mu.Unlock()
	return maps.Clone(r.byHost)
}

// Result is a plan: every image with whether it is published.
type Result []Status

// Pending are the images whose version is not published yet (and that
// are not to be adopted), and those to check (Recheck).
func (r Result) Pending() []Image {
	out := []Image{}
	for _, s := range r {
		if ((!s.Published && s.Adopt == "") || s.Check) && s.Skipped == "" {
			out = append(out, s.Image)
		}
	}
	return out
}

// Adoptable are the images with an old tag of their version: adopted by
// this run, or to be adopted by a run with the key.
func (r Result) Adoptable() []Status {
	out := []Status{}
	for _, s := range r {
		if s.Adopt != "" {
			out = append(out, s)
		}
	}
	return out
}

// Recheck puts every changed image whose version is published in the
// matrix: in a pull request its leg builds it and fails when it is not
// the published image (a change without a version bump).
func (r Result) Recheck() {
	for i := range r {
		r[i].Check = r[i].Changed && r[i].Published
	}
}

// Unbumped are the images that changed but whose version is published:
// nothing publishes them until their version is bumped.
func (r Result) Unbumped() []Status {
	out := []Status{}
	for _, s := range r {
		if s.Changed && s.Published {
			out = append(out, s)
		}
	}
	return out
}

// Skipped are the directories left out: they name no version.
func (r Result) Skipped() []Image {
	var out []Image
	for _, s := range r {
		if s.Skipped != "" {
			out = append(out, s.Image)
		}
	}
	return out
}

// Outputs are the plan's outputs: matrix (for strategy.matrix: the
// pending images under include), images (the same list alone, for one
// matrix key: runners that expand a matrix from job outputs themselves,
// as Gitea's does, read only that form), count (how many), all (every
// image, with published), changed-unbumped (Unbumped) and adoptable
// (Adoptable).
func (r Result) Outputs() [][2]string {
	pending := r.Pending()
	matrix, _ := json.Marshal(struct {
		Include []Image `json:"include"`
	}{pending})
	images, _ := json.Marshal(pending)
	all, _ := json.Marshal(append(Result{}, r...))
	unbumped, _ := json.Marshal(r.Unbumped())
	adoptable, _ := json.Marshal(r.Adoptable())
	return [][2]string{
		{"matrix", string(matrix)},
		{"images", string(images)},
		{"count", fmt.Sprint(len(pending))},
		{"all", string(all)},
		{"changed-unbumped", string(unbumped)},
		{"adoptable", string(adoptable)},
	}
}
