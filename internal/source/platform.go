package source

import (
	"fmt"
	"strings"

	"github.com/containerd/platforms"
)

// platforms are the platforms of what the archive holds: its image's, or
// its index's images'.
func (img *image) platforms() []string {
	if img.docker != nil {
		return []string{img.docker.platform}
	}
	return img.oci.platforms
}

// checkPlatforms refuses an image that lacks one of the platforms it must
// be for; the others an index may have are not checked.
func checkPlatforms(have, want []string) error {
	for _, w := range want {
		wp, err := platforms.Parse(w)
		if err != nil {
			return bad("platform %q (%v)", w, err)
		}
		match := platforms.NewMatcher(wp)
		found := false
		for _, h := range have {
			if hp, err := platforms.Parse(h); err == nil && match.Match(hp) {
				found = true
			}
		}
		if !found {
			return &Error{Kind: ErrPlatform, Reason: fmt.Sprintf("it is an image for %s, not for %s", orNothing(have), w)}
		}
	}
	return nil
}

func orNothing(have []string) string {
	if len(have) == 0 {
		return "no platform"
	}
	return strings.Join(have, ", ")
}
