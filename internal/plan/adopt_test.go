package plan

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"

	digest "github.com/opencontainers/go-digest"
	"github.com/regclient/regclient/types/ref"

	"github.com/blumeops/build-push-image/internal/config"
	"github.com/blumeops/build-push-image/internal/guard"
)

// memRepo is a repository's tags in memory; raced, when set, is a version
// tag another job writes between the plan's look-up and the adoption.
type memRepo struct {
	mu     sync.Mutex
	tags   map[string]digest.Digest
	raced  map[string]digest.Digest
	writes []string
	// refuse, when set, is a registry refusing tag writes after another
	// job wrote the same tag first: it writes the tag to what refuse names.
	refuse map[string]digest.Digest
}

func (m *memRepo) Tags(context.Context) ([]string, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []string
	for t := range m.tags {
		out = append(out, t)
	}
	return out, nil
}

func (m *memRepo) Lookup(_ context.Context, tag string) (digest.Digest, bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if d, ok := m.raced[tag]; ok {
		return d, true, nil
	}
	d, ok := m.tags[tag]
	return d, ok, nil
}

func (m *memRepo) Tag(_ context.Context, d digest.Digest, tag string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if first, ok := m.refuse[tag]; ok {
		m.tags[tag] = first
		return errors.New("403 DENIED: the tag exists")
	}
	m.tags[tag] = d
	m.writes = append(m.writes, tag)
	return nil
}

var (
	imgA = digest.FromString("a")
	imgB = digest.FromString("b")
)

func statusOf(name, version string) Status {
	r, _ := ref.New("r.example/" + name)
	return Status{Image: Image{Name: name, Image: r.Reference, Ref: r, Version: version, Tag: version + "-nix"}}
}

// TestAdopt: an image whose old tags of its version all name one image is
// adopted (its version tag written there, by digest); several images are
// ambiguous and left to build; another version's old tags do not count;
// without write it is only listed; a published image is not looked at.
func TestAdopt(t *testing.T) {
	repos := map[string]*memRepo{
		"r.example/api": {tags: map[string]digest.Digest{"v1.0.0-abc1234-nix": imgA, "v1.0.0-def5678-nix": imgA, "v0.9.0-0123456-nix": imgB, "v1.0.0-rc1-0123456-nix": imgB}},
		"r.example/web": {tags: map[string]digest.Digest{"v2.0.0-abc1234-nix": imgA, "v2.0.0-def5678-nix": imgB}},
		"r.example/job": {tags: map[string]digest.Digest{"v3.0.0-abc1234-nix": imgA, "v3.0.0": imgB}},
		"r.example/old": {tags: map[string]digest.Digest{"v4.0.0-abc1234-nix": imgA}},
	}
	repoOf := func(r ref.Ref) (Repo, error) { return repos[r.Reference], nil }
	res := Result{statusOf("api", "v1.0.0"), statusOf("web", "v2.0.0"), statusOf("job", "v3.0.0"), statusOf("old", "v4.0.0")}
	res[3].Published = true

	dry := append(Result{}, res...)
	if _, err := Adopt(context.Background(), dry, "{version}-*-nix", repoOf); err != nil {
		t.Fatal(err)
	}
	if a := dry.Adoptable(); len(a) != 2 || a[0].Name != "api" || a[0].Digest != imgA || a[0].Adopted || a[1].Name != "job" {
		t.Fatalf("dry run: adoptable %+v, want api and job, not adopted", a)
	}
	if len(repos["r.example/api"].writes) != 0 {
		t.Fatalf("a dry run wrote %v", repos["r.example/api"].writes)
	}
	if p := dry.Pending(); len(p) != 1 || p[0].Name != "web" {
		t.Errorf("pending %+v, want web alone: an adoptable image is not built", p)
	}

	ambiguous, err := Adopt(context.Background(), res, "{version}-*-nix", repoOf, WithWrite())
	var ae *AmbiguousError
	if err != nil || len(ambiguous) != 1 || !errors.As(ambiguous[0], &ae) || ae.Image != "r.example/web" || !strings.Contains(ae.Error(), "name 2 images") {
		t.Fatalf("Adopt: %v, %v; want web ambiguous", ambiguous, err)
	}
	if got := repos["r.example/api"].tags["v1.0.0-nix"]; got != imgA || !res[0].Adopted || !res[0].Published {
		t.Errorf("api: v1.0.0-nix → %s (%+v), want adopted at %s", got, res[0], imgA)
	}
	if w := repos["r.example/old"].writes; len(w) != 0 {
		t.Errorf("a published image was adopted: %v", w)
	}
	// A second run finds every version tag published: nothing to adopt.
	again := Result{statusOf("api", "v1.0.0")}
	again[0].Published = true
	if _, err := Adopt(context.Background(), again, "{version}-*-nix", repoOf, WithWrite()); err != nil || len(again.Adoptable()) != 0 {
		t.Errorf("second run: %v, adoptable %v", err, again.Adoptable())
	}
}

// TestAdoptNewest: old tags naming several images are decided by the
// checkout's history: the tag of the newest commit; a commit outside it,
// or no history at all, leaves the image ambiguous.
func TestAdoptNewest(t *testing.T) {
	older, newer, elsewhere := strings.Repeat("ab", 20), strings.Repeat("cd", 20), strings.Repeat("ef", 20) // elsewhere: a branch never merged
	repo := &memRepo{tags: map[string]digest.Digest{
		"v1.0.0-" + older[:7] + "-nix": imgA, "v1.0.0-" + newer[:7] + "-nix": imgB, "v1.0.0-" + elsewhere[:7] + "-nix": imgA,
	}}
	repoOf := func(ref.Ref) (Repo, error) { return repo, nil }
	calls := 0
	history := WithHistory(func(context.Context) ([]string, error) { calls++; return []string{newer, older}, nil })
	res := Result{statusOf("api", "v1.0.0"), statusOf("web", "v1.0.0")}
	if amb, err := Adopt(context.Background(), res, "{version}-*-nix", repoOf, history); err != nil || len(amb) != 0 {
		t.Fatalf("Adopt: %v, %v", amb, err)
	}
	if res[0].Adopt != "v1.0.0-"+newer[:7]+"-nix" || res[0].Digest != imgB || res[0].OutOf != 2 || calls != 1 {
		t.Errorf("adopted %+v (history asked %d times), want the newer commit's tag, %s, history asked once", res[0], calls, imgB)
	}
	res = Result{statusOf("api", "v1.0.0")}
	amb, err := Adopt(context.Background(), res, "{version}-*-nix", repoOf, WithHistory(func(context.Context) ([]string, error) { return []string{strings.Repeat("01", 20)}, nil }))
	if err != nil || len(amb) != 1 || res[0].Adopt != "" {
		t.Errorf("no tag's commit in the history: %v, %v, %+v; want ambiguous", amb, err, res[0])
	}
}

// TestAdoptGuard: a version tag that names another image by the time the
// plan writes (another job took it) is refused by the guard, and nothing
// is written.
func TestAdoptGuard(t *testing.T) {
	repo := &memRepo{tags: map[string]digest.Digest{"v1.0.0-abc1234-nix": imgA}, raced: map[string]digest.Digest{"v1.0.0-nix": imgB}}
	res := Result{statusOf("api", "v1.0.0")}
	_, err := Adopt(context.Background(), res, "{version}-*-nix", func(ref.Ref) (Repo, error) { return repo, nil }, WithWrite())
	var ee *guard.ExistsError
	if !errors.As(err, &ee) || ee.Digest != imgB || len(repo.writes) != 0 {
		t.Errorf("err %v, writes %v; want the guard's ExistsError naming %s, no write", err, repo.writes, imgB)
	}
}

// TestMarkChanged: in a real git repository, an image changed when a file
// in its directory changed since the base, every image when a shared path
// did; a pull request rechecks the published ones, a push reports them.
func TestMarkChanged(t *testing.T) {
	tree(t, map[string]string{"c/a/default.nix": "1", "c/b/default.nix": "1", "c/ab/default.nix": "1", "flake.lock": "1"})
	gitIn := func(args ...string) string {
		t.Helper()
		out, err := exec.Command("git", append([]string{"-c", "user.name=t", "-c", "user.email=t@t", "-c", "commit.gpgsign=false"}, args...)...).CombinedOutput()
		if err != nil {
			t.Fatalf("git %v: %v: %s", args, err, out)
		}
		return strings.TrimSpace(string(out))
	}
	gitIn("init", "-q")
	gitIn("add", "-A")
	gitIn("commit", "-qm", "one")
	base := gitIn("rev-parse", "HEAD")
	writeFile(t, "c/a/extra.nix", "2")
	gitIn("add", "-A")
	gitIn("commit", "-qm", "two")

	res := Result{statusOf("a", "v1"), statusOf("b", "v1"), statusOf("ab", "v1")}
	for i, dir := range []string{"c/a", "c/b", "c/ab"} {
		res[i].Context, res[i].Published = dir, true
	}
	ch, err := Diff(context.Background(), config.Changed{Base: base})
	if err != nil {
		t.Fatal(err)
	}
	MarkChanged(res, ch, []string{"flake.lock"})
	if !res[0].Changed || res[1].Changed || res[2].Changed {
		t.Fatalf("changed: %v %v %v, want c/a alone (not c/ab)", res[0].Changed, res[1].Changed, res[2].Changed)
	}
	if u := res.Unbumped(); len(u) != 1 || u[0].Name != "a" || len(res.Pending()) != 0 {
		t.Errorf("unbumped %+v, pending %+v: want a unbumped, nothing pending on a push", u, res.Pending())
	}
	res.Recheck()
	if p := res.Pending(); len(p) != 1 || p[0].Name != "a" {
		t.Errorf("pull request: pending %+v, want a, to be checked", p)
	}
	writeFile(t, "flake.lock", "2")
	gitIn("commit", "-qam", "three")
	ch, _ = Diff(context.Background(), config.Changed{Base: base})
	MarkChanged(res, ch, []string{"*.lock"})
	if !res[1].Changed || !res[2].Changed {
		t.Errorf("a shared path changed: every image changed, got %+v", res)
	}
	_, err = Diff(context.Background(), config.Changed{Base: strings.Repeat("1", 40)})
	if !errors.Is(err, ErrNoBase) || !strings.Contains(err.Error(), "fetch-depth: 0") {
		t.Errorf("missing base: %v, want ErrNoBase naming fetch-depth: 0", err)
	}
}

func writeFile(t *testing.T, name, content string) {
	t.Helper()
	if err := os.WriteFile(name, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestAdoptRefusalRechecked: adopting writes the version tag as a
// release's transaction does: a refused write is checked against what
// the tag names then. An identical job that adopted the same image first
// leaves a success; another image there fails with the guard's
// ExistsError.
func TestAdoptRefusalRechecked(t *testing.T) {
	for first, wantOK := range map[digest.Digest]bool{imgA: true, imgB: false} {
		repo := &memRepo{tags: map[string]digest.Digest{"v1.0.0-abc1234-nix": imgA}, refuse: map[string]digest.Digest{"v1.0.0-nix": first}}
		res := Result{statusOf("api", "v1.0.0")}
		_, err := Adopt(context.Background(), res, "{version}-*-nix", func(ref.Ref) (Repo, error) { return repo, nil }, WithWrite())
		var ee *guard.ExistsError
		switch {
		case wantOK && (err != nil || !res[0].Adopted):
			t.Errorf("an identical job adopted it first: %v, %+v; want adopted", err, res[0])
		case !wantOK && !errors.As(err, &ee):
			t.Errorf("another image took the tag: %v; want the guard's ExistsError", err)
		}
	}
}
