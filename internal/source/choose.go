package source

import (
	"fmt"
	"strings"

	"github.com/containerd/platforms"
)

// candidate is one image an archive holds, as a user may name it: by the
// names docker save (RepoTags) or an OCI layout (ref.name annotations)
// gave it, or by its platform.
type candidate struct {
	names    []string
	platform string // os/arch[/variant], "" when unknown
}

func (c candidate) String() string {
	s := strings.Join(c.names, " ")
	if c.platform != "" {
		s = strings.TrimSpace(s + " (" + c.platform + ")")
	}
	if s == "" {
		return "an unnamed image"
	}
	return s
}

// choose picks one of the archive's images: the only one when there is
// no choice, else the one named choice (exactly, or as the tail of a
// longer name: app:1.0 picks registry.example/team/app:1.0), else the one
// of platform choice.
func choose(cands []candidate, choice string) (int, error) {
	switch {
	case len(cands) == 0:
		return 0, bad("it holds no image")
	case choice == "" && len(cands) == 1:
		return 0, nil
	case choice == "":
		return 0, &Error{Kind: ErrChoose, Reason: fmt.Sprintf("it holds %d images (%s)", len(cands), list(cands))}
	}
	if i, n := match(cands, func(c candidate) bool { return named(c, choice) }); n == 1 {
		return i, nil
	} else if n > 1 {
		return 0, &Error{Kind: ErrChoose, Reason: fmt.Sprintf("%d of its images are named %s (%s)", n, choice, list(cands))}
	}
	if p, err := platforms.Parse(choice); err == nil && strings.Contains(choice, "/") {
		want := platforms.Format(platforms.Normalize(p))
		if i, n := match(cands, func(c candidate) bool { return samePlatform(c.platform, want) }); n == 1 {
			return i, nil
		}
	}
	return 0, &Error{Kind: ErrChoose, Reason: fmt.Sprintf("none of its images is %s; it holds %s", choice, list(cands))}
}

func match(cands []candidate, ok func(candidate) bool) (index, n int) {
	for i, c := range cands {
		if ok(c) {
			index, n = i, n+1
		}
	}
	return index, n
}

func named(c candidate, choice string) bool {
	for _, name := range c.names {
		if name == choice || strings.HasSuffix(name, "/"+choice) {
			return true
		}
	}
	return false
}

func samePlatform(have, want string) bool {
	p, err := platforms.Parse(have)
	return have != "" && err == nil && platforms.Format(platforms.Normalize(p)) == want
}

func list(cands []candidate) string {
	s := make([]string, len(cands))
	for i, c := range cands {
		s[i] = c.String()
	}
	return strings.Join(s, ", ")
}
