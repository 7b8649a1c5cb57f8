package guard

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	digest "github.com/opencontainers/go-digest"
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
	if _, err := g.CheckVersion(context.Background(), "v2", ""); err != nil {
		t.Errorf("new tag: %v", err)
	}
	_, err := g.CheckVersion(context.Background(), "v1", "")
	var exists *ExistsError
	if !errors.Is(err, ErrVersionExists) || !errors.As(err, &exists) || exists.Digest != theirs {
		t.Fatalf("existing tag: %v", err)
	}
	want := "version tag v1 already exists in reg.example/app (" + theirs.String() + "); version tags are immutable: bump the version"
	if err.Error() != want {
		t.Errorf("message %q, want %q", err, want)
	}
	if _, err := g.CheckVersion(context.Background(), "bad", ""); err == nil || errors.Is(err, ErrVersionExists) {
		t.Errorf("lookup failure must fail without guessing: %v", err)
	}
}

func TestCheckVersionSkipIdentical(t *testing.T) {
	g := New(tags{"same": ours, "other": theirs}, "reg.example/app", WithPolicy(SkipIdentical))
	cases := []struct {
		tag     string
		built   digest.Digest
		matches bool
		exists  bool
	}{
		{"other", "", true, false}, // before the build: build to find out
		{"same", "", true, false},
		{"new", "", false, false},
		{"same", ours, true, false}, // our image is already there
		{"other", ours, false, true},
		{"new", ours, false, false},
	}
	for _, c := range cases {
		matches, err := g.CheckVersion(context.Background(), c.tag, c.built)
		if matches != c.matches || errors.Is(err, ErrVersionExists) != c.exists {
			t.Errorf("%s built %q: matches %t err %v; want %t exists %t", c.tag, c.built, matches, err, c.matches, c.exists)
		}
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
