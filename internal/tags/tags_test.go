package tags

import (
	"context"
	"errors"
	"maps"
	"slices"
	"testing"
	"time"

	digest "github.com/opencontainers/go-digest"

	"github.com/blumeops/build-push-image/internal/guard"
)

const (
	ours   = digest.Digest("sha256:1111111111111111111111111111111111111111111111111111111111111111")
	theirs = digest.Digest("sha256:2222222222222222222222222222222222222222222222222222222222222222")
)

var errRefused = errors.New("refused")

// registry is tags in memory, for the transaction's decisions alone; the
// e2e tests run it against a real registry behind a fault proxy.
type registry struct {
	tags map[string]digest.Digest
	// refuse: a write of this tag is refused; race: the refused write
	// lands first (an identical job was faster), or another image takes
	// the tag.
	refuse map[string]digest.Digest
	writes []string
	// versions: what each image says it is.
	versions map[digest.Digest]string
	// same: images whose manifest is sameManifest; any other is an image
	// of its own.
	same map[digest.Digest]bool
	// rtt: how long a tag write takes. beside: a write of this tag that
	// passed the registry's check beside ours (zot's is not atomic) and
	// lands after ours, by landsAfter.
	rtt        time.Duration
	beside     map[string]digest.Digest
	landsAfter time.Duration
	landed     map[string]time.Time
}

// sameManifest and otherManifest are two images' manifests by content:
// ours, and one with another layer.
const (
	sameManifest  = `{"config":{"digest":"sha256:aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"},"layers":[{"digest":"sha256:bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"}]}`
	otherManifest = `{"config":{"digest":"sha256:aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"},"layers":[{"digest":"sha256:cccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccc"}]}`
)

func (r *registry) Manifest(_ context.Context, ref string) (string, []byte, bool, error) {
	if r.same[digest.Digest(ref)] {
		return "", []byte(sameManifest), true, nil
	}
	return "", []byte(`{"config":{"digest":"` + ref + `"}}`), true, nil // an image of its own
}

func (r *registry) Lookup(_ context.Context, tag string) (digest.Digest, bool, error) {
	if at, ok := r.landed[tag]; ok && time.Since(at) >= r.landsAfter {
		return r.beside[tag], true, nil
	}
	d, ok := r.tags[tag]
	return d, ok, nil
}

func (r *registry) Tag(_ context.Context, d digest.Digest, tag string) error {
	r.writes = append(r.writes, tag)
	if lands, ok := r.refuse[tag]; ok {
		if lands != "" {
			r.tags[tag] = lands
		}
		return errRefused
	}
	time.Sleep(r.rtt)
	r.tags[tag] = d
	if _, ok := r.beside[tag]; ok {
		r.landed = map[string]time.Time{tag: time.Now()}
	}
	return nil
}

func (r *registry) Version(_ context.Context, d digest.Digest) (string, error) {
	return r.versions[d], nil
}

func writer(r *registry, opts ...guard.Opt) *Writer {
	g := guard.New(r, "reg.example/app", append(opts, guard.WithReread(time.Millisecond), guard.WithManifests(r))...)
	return New(r, g, WithSettle(0, 0), WithNoDowngrade(r))
}

var plan = Plan{Digest: ours, Version: "v1.2.0", Before: []string{"sha"}, After: []string{"v1", "latest"}}

func states(done []Tag) map[string]State {
	m := map[string]State{}
	for _, t := range done {
		m[t.Name] = t.State
	}
	return m
}

func TestCommitOrder(t *testing.T) {
	r := &registry{tags: map[string]digest.Digest{}}
	done, err := writer(r).Commit(context.Background(), plan)
	if err != nil {
		t.Fatal(err)
	}
	if got := r.writes; len(got) != 4 || got[0] != "sha" || got[1] != "v1.2.0" || got[2] != "v1" || got[3] != "latest" {
		t.Errorf("writes %v, want sha, the version, then the followers", got)
	}
	for name, s := range states(done) {
		if s != Written {
			t.Errorf("%s: state %d", name, s)
		}
	}
}

func TestRefusedVersionWritesNoFollower(t *testing.T) {
	for name, lands := range map[string]digest.Digest{"policy": "", "taken": theirs} {
		r := &registry{tags: map[string]digest.Digest{}, refuse: map[string]digest.Digest{"v1.2.0": lands}}
		_, err := writer(r).Commit(context.Background(), plan)
		if err == nil || len(r.writes) != 2 {
			t.Errorf("%s: err %v after writes %v, want a failure and no follower written", name, err, r.writes)
		}
		var exists *guard.ExistsError
		if taken := errors.As(err, &exists); taken != (lands != "") || (taken && !errors.Is(err, errRefused)) {
			t.Errorf("%s: %v; want the immutability error (with the refusal) only when the tag was taken", name, err)
		}
	}
}

func TestRefusedButOurs(t *testing.T) {
	r := &registry{tags: map[string]digest.Digest{}, refuse: map[string]digest.Digest{"v1.2.0": ours, "sha": ours}}
	done, err := writer(r).Commit(context.Background(), plan)
	if err != nil || states(done)["v1.2.0"] != Written || states(done)["sha"] != Written {
		t.Fatalf("err %v, states %v: a refused write that names our image is a success", err, states(done))
	}
}

// TestSameImageByAnotherDigest: the version tag names our image with
// other annotations (published from an earlier commit): under
// skip-identical it keeps it, the SHA tag and the followers name it too;
// a refused write finds the same (an identical job was first). Another
// layer is refused still.
func TestSameImageByAnotherDigest(t *testing.T) {
	first := digest.FromString("first")
	ourPlan := plan
	ourPlan.Manifest = []byte(sameManifest)
	r := &registry{tags: map[string]digest.Digest{"v1.2.0": first}, same: map[digest.Digest]bool{first: true}}
	done, err := writer(r, guard.WithPolicy(guard.SkipIdentical)).Commit(context.Background(), ourPlan)
	if err != nil {
		t.Fatal(err)
	}
	if s := states(done); s["v1.2.0"] != Unchanged || s["sha"] != Written || done[1].Other != first {
		t.Errorf("states %v %+v: the version kept, naming the first image", s, done)
	}
	for _, tag := range []string{"v1.2.0", "sha", "v1", "latest"} {
		if r.tags[tag] != first {
			t.Errorf("%s names %s, want the image first published %s", tag, r.tags[tag], first)
		}
	}

	raced := &registry{tags: map[string]digest.Digest{}, refuse: map[string]digest.Digest{"v1.2.0": first}, same: map[digest.Digest]bool{first: true}}
	done, err = writer(raced).Commit(context.Background(), ourPlan)
	if err != nil || states(done)["v1.2.0"] != Unchanged || raced.tags["sha"] != first || raced.tags["latest"] != first {
		t.Errorf("refused, the same image first: %v %+v %v; want kept, every tag naming it", err, done, raced.tags)
	}

	ourPlan.Manifest = []byte(otherManifest)
	r = &registry{tags: map[string]digest.Digest{"v1.2.0": first}, same: map[digest.Digest]bool{first: true}}
	if _, err := writer(r, guard.WithPolicy(guard.SkipIdentical)).Commit(context.Background(), ourPlan); !errors.Is(err, guard.ErrVersionExists) || len(r.writes) != 0 {
		t.Errorf("another layer: %v after writes %v, want refused before any write", err, r.writes)
	}
}

func TestMutableTags(t *testing.T) {
	r := &registry{
		tags:     map[string]digest.Digest{"sha": theirs, "latest": theirs, "v1": theirs},
		refuse:   map[string]digest.Digest{"sha": ""},
		versions: map[digest.Digest]string{theirs: "v1.3.0"},
	}
	done, err := writer(r).Commit(context.Background(), plan)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]State{"sha": Taken, "v1.2.0": Written, "v1": Kept, "latest": Kept}
	for name, s := range states(done) {
		if s != want[name] {
			t.Errorf("%s: state %d, want %d", name, s, want[name])
		}
	}
}

// TestSuffixedTagsCompareTheRelease: with a tag suffix the version tag is
// v1.2.0-nix, yet the never-backwards rule compares the release, v1.2.0.
// Compared as a version, v1.2.0-nix would be a pre-release, older than
// v1.2.0-rc.1: latest-nix, written by the release candidate, would stay.
func TestSuffixedTagsCompareTheRelease(t *testing.T) {
	rc := digest.FromString("rc")
	r := &registry{
		tags:     map[string]digest.Digest{"latest-nix": rc, "v1-nix": theirs},
		versions: map[digest.Digest]string{rc: "v1.2.0-rc.1", theirs: "v1.3.0"},
	}
	p := Plan{Digest: ours, Version: "v1.2.0-nix", Release: "v1.2.0", Before: []string{"sha-nix"}, After: []string{"v1-nix", "latest-nix"}}
	done, err := writer(r).Commit(context.Background(), p)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]State{"sha-nix": Written, "v1.2.0-nix": Written, "v1-nix": Kept, "latest-nix": Written}
	if got := states(done); !maps.Equal(got, want) {
		t.Errorf("states %v, want %v", got, want)
	}
	if _, ok := r.tags["v1.2.0"]; ok {
		t.Error("the unsuffixed version tag was written")
	}
}

func TestRerunRepairs(t *testing.T) {
	r := &registry{tags: map[string]digest.Digest{"v1.2.0": ours}}
	done, err := writer(r, guard.WithPolicy(guard.SkipIdentical)).Commit(context.Background(), plan)
	if err != nil {
		t.Fatal(err)
	}
	if s := states(done); s["v1.2.0"] != Unchanged || s["sha"] != Written || s["latest"] != Written {
		t.Errorf("states %v: the version is kept, the missing tags written", s)
	}
	if _, err := writer(r).Commit(context.Background(), plan); !errors.Is(err, guard.ErrVersionExists) {
		t.Errorf("policy fail: %v", err)
	}
}

// signer records when it signed, among the tag writes, and fails with err.
type signer struct {
	r   *registry
	err error
}

func (s signer) Sign(_ context.Context, d digest.Digest) error {
	s.r.writes = append(s.r.writes, "signature of "+string(d))
	return s.err
}

func TestSignatureBeforeEveryTag(t *testing.T) {
	r := &registry{tags: map[string]digest.Digest{}}
	g := guard.New(r, "reg.example/app", guard.WithReread(time.Millisecond))
	if _, err := New(r, g, WithSettle(0, 0), WithSigner(signer{r: r})).Commit(context.Background(), plan); err != nil {
		t.Fatal(err)
	}
	if len(r.writes) != 5 || r.writes[0] != "signature of "+string(ours) || r.writes[1] != "sha" {
		t.Errorf("writes %v, want the signature first, then the tags", r.writes)
	}
}

func TestUnstoredSignatureWritesNoTag(t *testing.T) {
	r := &registry{tags: map[string]digest.Digest{}}
	g := guard.New(r, "reg.example/app", guard.WithReread(time.Millisecond))
	_, err := New(r, g, WithSettle(0, 0), WithSigner(signer{r: r, err: errRefused})).Commit(context.Background(), plan)
	if !errors.Is(err, errRefused) || len(r.tags) != 0 {
		t.Errorf("err %v, tags %v: want the signature's failure and no tag", err, r.tags)
	}
}

// TestSignsOnlyWhatItChecked: the signer signs the plan's digest, or the
// digest the guard found identical (also when an identical job took the
// version tag meanwhile); an image that differs is signed never.
func TestSignsOnlyWhatItChecked(t *testing.T) {
	first := digest.FromString("first")
	ourPlan := plan
	ourPlan.Manifest = []byte(sameManifest)
	sign := func(r *registry) ([]Tag, error) {
		g := guard.New(r, "reg.example/app", guard.WithReread(time.Millisecond), guard.WithManifests(r), guard.WithPolicy(guard.SkipIdentical))
		return New(r, g, WithSettle(0, 0), WithSigner(signer{r: r})).Commit(context.Background(), ourPlan)
	}
	raced := &registry{tags: map[string]digest.Digest{}, refuse: map[string]digest.Digest{"v1.2.0": first}, same: map[digest.Digest]bool{first: true}}
	if _, err := sign(raced); err != nil || !slices.Equal(raced.writes[2:5], []string{"v1.2.0", "signature of " + string(first), "sha"}) {
		t.Errorf("an identical job first: %v, writes %v; want its digest signed before the SHA tag moves to it", err, raced.writes)
	}
	ourPlan.Manifest = []byte(otherManifest)
	other := &registry{tags: map[string]digest.Digest{"v1.2.0": first}, same: map[digest.Digest]bool{first: true}}
	if _, err := sign(other); !errors.Is(err, guard.ErrVersionExists) || len(other.writes) != 0 {
		t.Errorf("another image: %v, writes %v; want refused, nothing signed", err, other.writes)
	}
	ourPlan.Digest = ""
	if _, err := sign(other); err == nil || len(other.writes) != 0 {
		t.Errorf("no digest: %v, writes %v; want refused, nothing signed", err, other.writes)
	}
}

// TestImmutableNoPause: where the registry refuses overwrites the version
// tag is read back without the settle pause; elsewhere the pause is kept,
// and so it is when the registry moved the SHA tag from another image
// (it does not refuse overwrites, whatever the input says).
func TestImmutableNoPause(t *testing.T) {
	const settle = 300 * time.Millisecond
	for _, immutable := range []bool{false, true} {
		r := &registry{tags: map[string]digest.Digest{}}
		g := guard.New(r, "reg.example/app", guard.WithReread(time.Millisecond), guard.WithManifests(r))
		opts := []Opt{WithSettle(settle, time.Second)}
		if immutable {
			opts = append(opts, WithImmutable())
		}
		start := time.Now()
		done, err := New(r, g, opts...).Commit(context.Background(), plan)
		took := time.Since(start)
		if err != nil {
			t.Fatal(err)
		}
		for _, tag := range done {
			if tag.Name == plan.Version && ((took < settle) != immutable || tag.Immediate != immutable) {
				t.Errorf("immutable %v: the version tag was read back after %s in all (settle %s), immediate %v", immutable, took, settle, tag.Immediate)
			}
		}
	}
	r := &registry{tags: map[string]digest.Digest{"sha": theirs}}
	g := guard.New(r, "reg.example/app", guard.WithReread(time.Millisecond), guard.WithManifests(r))
	start := time.Now()
	done, err := New(r, g, WithSettle(settle, time.Second), WithImmutable()).Commit(context.Background(), plan)
	took := time.Since(start)
	if err != nil {
		t.Fatal(err)
	}
	for _, tag := range done {
		if tag.Name == plan.Version && (took < settle || tag.Immediate) {
			t.Errorf("the SHA tag was moved, yet the version tag was read back after %s in all (settle %s)", took, settle)
		}
	}
}

// TestImmutableCatchesSimultaneousCreate: zot checks create against update
// before it writes, not atomically, so another job's write of the version
// tag that passed the check beside ours lands after ours. Where the
// registry refuses overwrites, the read-back waits twice the write's
// round trip, long enough to see that write (landing within one write of
// ours) and lose the race rather than report a release another image now
// holds.
func TestImmutableCatchesSimultaneousCreate(t *testing.T) {
	r := &registry{tags: map[string]digest.Digest{}, rtt: 4 * time.Millisecond, beside: map[string]digest.Digest{plan.Version: theirs}, landsAfter: 2 * time.Millisecond}
	g := guard.New(r, "reg.example/app", guard.WithReread(time.Millisecond), guard.WithManifests(r))
	_, err := New(r, g, WithSettle(time.Second, time.Second), WithImmutable()).Commit(context.Background(), plan)
	if !errors.Is(err, guard.ErrLostRace) {
		t.Errorf("a write landing %s after ours (a write takes %s): %v, want the lost race", r.landsAfter, r.rtt, err)
	}
}
