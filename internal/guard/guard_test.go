package guard

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	digest "github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// tags is a Resolver over a map, for the guard's decisions alone; the
// integration tests run the guard against a real registry.
type tags map[string]digest.Digest

func (m tags) Lookup(_ context.Context, tag string) (digest.Digest, bool, error) {
	d, ok := m[tag]
	if d == "broken" {
		return "", false, errors.New("registry on fire")
	}
	return d, ok, nil
}

const (
	ours   = digest.Digest("sha256:1111111111111111111111111111111111111111111111111111111111111111")
	theirs = digest.Digest("sha256:2222222222222222222222222222222222222222222222222222222222222222")
)

func TestCheckVersion(t *testing.T) {
	g := New(tags{"v1": theirs, "bad": "broken"}, "reg.example/app")
	if _, err := g.CheckVersion(context.Background(), "v2", Image{}); err != nil {
		t.Errorf("new tag: %v", err)
	}
	_, err := g.CheckVersion(context.Background(), "v1", Image{})
	var exists *ExistsError
	if !errors.Is(err, ErrVersionExists) || !errors.As(err, &exists) || exists.Digest != theirs {
		t.Fatalf("existing tag: %v", err)
	}
	want := "version tag v1 already exists in reg.example/app (" + theirs.String() + "); version tags are immutable: bump the version"
	if err.Error() != want {
		t.Errorf("message %q, want %q", err, want)
	}
	if _, err := g.CheckVersion(context.Background(), "bad", Image{}); err == nil || errors.Is(err, ErrVersionExists) {
		t.Errorf("lookup failure must fail without guessing: %v", err)
	}
}

// TestCheckPublished: the pull-request check looks the version tag up
// as CheckVersion does (Names: a free tag is "", a failed look-up an
// error, never a guess), and fails only on a tag naming another image,
// with ErrAlreadyPublished and the line a user reads; an image that
// differs only in annotations is another image here.
func TestCheckPublished(t *testing.T) {
	g := New(tags{"v1": theirs, "bad": "broken"}, "reg.example/app", WithPolicy(SkipIdentical))
	for tag, want := range map[string]digest.Digest{"v1": theirs, "v2": ""} {
		if names, err := g.Names(context.Background(), tag); names != want || err != nil {
			t.Errorf("Names(%s) = %q, %v; want %q", tag, names, err, want)
		}
	}
	if _, err := g.Names(context.Background(), "bad"); err == nil {
		t.Error("a failed look-up is no free tag")
	}
	if err := g.CheckPublished("v2", "", ours); err != nil {
		t.Errorf("free: %v", err)
	}
	if err := g.CheckPublished("v1", ours, ours); err != nil {
		t.Errorf("this very image: %v", err)
	}
	err := g.CheckPublished("v1", theirs, ours)
	want := "version tag v1 already exists in reg.example/app (" + theirs.String() + ") and names another image than this one (" + ours.String() + "): already published: bump the version"
	if !errors.Is(err, ErrAlreadyPublished) || errors.Is(err, ErrVersionExists) || err.Error() != want {
		t.Errorf("another image: %v, want %q", err, want)
	}
}

func TestCheckVersionSkipIdentical(t *testing.T) {
	g := New(tags{"same": ours, "other": theirs}, "reg.example/app", WithPolicy(SkipIdentical))
	cases := []struct {
		tag    string
		built  digest.Digest
		names  digest.Digest
		exists bool
	}{
		{"other", "", theirs, false}, // before the build: build to find out
		{"same", "", ours, false},
		{"new", "", "", false},
		{"same", ours, ours, false}, // our image is already there
		{"other", ours, "", true},
		{"new", ours, "", false},
	}
	for _, c := range cases {
		names, err := g.CheckVersion(context.Background(), c.tag, Image{Digest: c.built})
		if names != c.names || errors.Is(err, ErrVersionExists) != c.exists {
			t.Errorf("%s built %q: names %q err %v; want %q exists %t", c.tag, c.built, names, err, c.names, c.exists)
		}
	}
}

// manifests is a repository's manifests by digest.
type manifests map[digest.Digest]string

func (m manifests) Manifest(_ context.Context, ref string) (string, []byte, bool, error) {
	raw, ok := m[digest.Digest(ref)]
	if raw == "broken" {
		return "", nil, false, errors.New("registry on fire")
	}
	return ocispec.MediaTypeImageManifest, []byte(raw), ok, nil
}

// TestSameImageOtherAnnotations: a reproducible build published again
// from another commit differs only in its annotations: the same image,
// whose digest keeps the tag; another layer or config is another image.
func TestSameImageOtherAnnotations(t *testing.T) {
	image := func(config, layer, revision string) string {
		return `{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"sha256:` + strings.Repeat(config, 64) + `","size":1},` +
			`"layers":[{"mediaType":"application/vnd.oci.image.layer.v1.tar+gzip","digest":"sha256:` + strings.Repeat(layer, 64) + `","size":2,"annotations":{"x":"` + revision + `"}}],` +
			`"annotations":{"org.opencontainers.image.revision":"` + revision + `"}}`
	}
	first := image("a", "b", "commit1")
	published := digest.FromString(first)
	repo := manifests{published: first, theirs: image("a", "c", "commit1"), ours: "broken"}
	g := New(tags{"v1": published, "v2": theirs, "v3": ours}, "reg.example/app", WithPolicy(SkipIdentical), WithManifests(repo))
	rebuilt := image("a", "b", "commit2")
	cases := []struct {
		name, tag string
		ours      Image
		names     digest.Digest
		exists    bool
	}{
		{"annotations differ", "v1", Image{Digest: digest.FromString(rebuilt), Manifest: []byte(rebuilt)}, published, false},
		{"a layer differs", "v2", Image{Digest: digest.FromString(rebuilt), Manifest: []byte(rebuilt)}, "", true},
		{"the config differs", "v1", Image{Digest: digest.FromString(image("d", "b", "commit2")), Manifest: []byte(image("d", "b", "commit2"))}, "", true},
		{"ours read from the repository", "v1", Image{Digest: theirs}, "", true},
		{"ours in neither", "v1", Image{Digest: "sha256:" + digest.Digest(strings.Repeat("9", 64))}, "", true},
	}
	for _, c := range cases {
		names, err := g.CheckVersion(context.Background(), c.tag, c.ours)
		if names != c.names || errors.Is(err, ErrVersionExists) != c.exists {
			t.Errorf("%s: names %q err %v; want %q exists %t", c.name, names, err, c.names, c.exists)
		}
	}
	if _, err := g.CheckVersion(context.Background(), "v3", Image{Digest: digest.FromString(rebuilt)}); err == nil || errors.Is(err, ErrVersionExists) {
		t.Errorf("a manifest that cannot be read: %v, want the read's error, no guess", err)
	}
	if differs, err := New(tags{}, "reg.example/app").Difference(context.Background(), published, Image{Digest: digest.FromString(rebuilt), Manifest: []byte(rebuilt)}); differs == "" || err != nil {
		t.Errorf("without WithManifests: differs %q %v, want only equal digests the same", differs, err)
	}
}

func TestVerifyVersion(t *testing.T) {
	g := New(tags{"won": ours, "lost": theirs}, "reg.example/app", WithReread(time.Millisecond, time.Millisecond))
	if err := g.VerifyVersion(context.Background(), "won", ours); err != nil {
		t.Errorf("won: %v", err)
	}
	for _, tag := range []string{"lost", "gone"} {
		err := g.VerifyVersion(context.Background(), tag, ours)
		if !errors.Is(err, ErrLostRace) || !strings.Contains(err.Error(), "lost a race for the version tag "+tag) {
			t.Errorf("%s: %v", tag, err)
		}
	}
}

// late is a registry that shows a tag only from the nth look-up on, like an
// eventually consistent one right after a write.
type late struct {
	n, seen int
	d       digest.Digest
}

func (l *late) Lookup(context.Context, string) (digest.Digest, bool, error) {
	l.seen++
	return l.d, l.seen >= l.n, nil
}

func TestVerifyVersionRereadsNotFound(t *testing.T) {
	pauses := []time.Duration{time.Millisecond, time.Millisecond, time.Millisecond}
	r := &late{n: 3, d: ours}
	if err := New(r, "reg.example/app", WithReread(pauses...)).VerifyVersion(context.Background(), "v1", ours); err != nil || r.seen != 3 {
		t.Errorf("tag visible on the 3rd read: %v after %d reads", err, r.seen)
	}
	r = &late{n: 10, d: ours}
	err := New(r, "reg.example/app", WithReread(pauses...)).VerifyVersion(context.Background(), "v1", ours)
	if !errors.Is(err, ErrLostRace) || r.seen != 4 {
		t.Errorf("tag never visible: %v after %d reads, want lost after 1 + 3 re-reads", err, r.seen)
	}
}

// TestDifferenceNamesTheField: identical means every descriptor field
// but annotations; the first one that differs is named, layers counted
// from 1.
func TestDifferenceNamesTheField(t *testing.T) {
	const cfg = `"config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"sha256:` + "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa" + `","size":10}`
	layer := func(mediaType string, size int, note string) string {
		return `{"mediaType":"` + mediaType + `","digest":"sha256:bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb","size":` + fmt.Sprint(size) + `,"annotations":{"n":"` + note + `"}}`
	}
	manifest := func(note string, layers ...string) string {
		return `{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json",` + cfg + `,"layers":[` + strings.Join(layers, ",") + `],"annotations":{"org.opencontainers.image.source":"` + note + `"}}`
	}
	const gz, zst = "application/vnd.oci.image.layer.v1.tar+gzip", "application/vnd.oci.image.layer.v1.tar+zstd"
	ours := manifest("https://forge.example/team/app", layer(gz, 100, "a"), layer(gz, 200, "b"))
	cases := []struct{ name, theirs, want string }{
		{"annotations only", manifest("https://evil.invalid/x", layer(gz, 100, "x"), layer(gz, 200, "y")), ""},
		{"media type", manifest("x", layer(gz, 100, "a"), layer(zst, 200, "b")), "layer 2 media type: the registry's is " + zst + ", this run's " + gz},
		{"size", manifest("x", layer(gz, 107, "a"), layer(gz, 200, "b")), "layer 1 size: the registry's is 107, this run's 100"},
		{"count", manifest("x", layer(gz, 100, "a")), "layers count: the registry's is 1, this run's 2"},
		{"urls", strings.Replace(ours, `"size":100,`, `"size":100,"urls":["https://evil.invalid/l"],`, 1), `layer 1 urls: the registry's is ["https://evil.invalid/l"], this run's none`},
		{"config size", strings.Replace(ours, `"size":10}`, `"size":11}`, 1), "config size: the registry's is 11, this run's 10"},
		{"manifest media type", strings.Replace(ours, "image.manifest.v1+json", "artifact.manifest.v1+json", 1), "media type: the registry's is application/vnd.oci.artifact.manifest.v1+json, this run's application/vnd.oci.image.manifest.v1+json"},
	}
	for _, c := range cases {
		theirs := digest.FromString(c.theirs)
		g := New(tags{"v1": theirs}, "reg.example/app", WithPolicy(SkipIdentical), WithManifests(manifests{theirs: c.theirs}))
		got, err := g.Difference(context.Background(), theirs, Image{Digest: digest.FromString(ours), Manifest: []byte(ours)})
		if err != nil || got != c.want {
			t.Errorf("%s: %q %v, want %q", c.name, got, err, c.want)
		}
		names, err := g.CheckVersion(context.Background(), "v1", Image{Digest: digest.FromString(ours), Manifest: []byte(ours)})
		var exists *ExistsError
		if c.want == "" && (names != theirs || err != nil) {
			t.Errorf("%s: names %q %v, want adopted", c.name, names, err)
		}
		if c.want != "" && (!errors.As(err, &exists) || exists.Differs != c.want || !strings.Contains(err.Error(), "not this run's image ("+c.want+")")) {
			t.Errorf("%s: %v, want the version taken, naming %q", c.name, err, c.want)
		}
	}
}
