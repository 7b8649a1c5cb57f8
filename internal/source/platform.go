package source

import (
	"fmt"
	"slices"
	"strings"

	"github.com/containerd/platforms"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
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
func checkPlatforms(have []string, want []ocispec.Platform) error {
	var held []ocispec.Platform
	for _, h := range have {
		if p, err := platforms.Parse(h); err == nil {
			held = append(held, p)
		}
	}
	for _, w := range want {
		if !slices.ContainsFunc(held, platforms.NewMatcher(w).Match) {
			return &Error{Kind: ErrPlatform, Reason: fmt.Sprintf("it is an image for %s, not for %s", orNothing(have), platforms.Format(w))}
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
