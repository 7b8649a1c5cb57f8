package build

import (
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/containerd/platforms"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

var (
	knownOS    = []string{"linux", "windows", "darwin", "freebsd"}
	knownArch  = []string{"amd64", "arm64", "arm", "386", "ppc64le", "s390x", "riscv64", "mips64le", "loong64"}
	archFormat = "os/arch[/variant], e.g. linux/amd64 or linux/arm/v7"
)

// ParsePlatforms reads a comma-separated platform list for
// Request.Platforms, normalised as containerd does (linux/x86_64 is
// linux/amd64, linux/aarch64 is linux/arm64). Every unknown platform is
// reported. The run passes them on as parsed: nothing parses them again.
func ParsePlatforms(v string) ([]ocispec.Platform, error) {
	var out []ocispec.Platform
	var errs []error
	for _, p := range strings.Split(v, ",") {
		if p = strings.TrimSpace(p); p == "" {
			continue
		}
		norm, err := parsePlatform(p)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if !slices.ContainsFunc(out, func(p ocispec.Platform) bool { return platforms.Format(p) == platforms.Format(norm) }) {
			out = append(out, norm)
		}
	}
	return out, errors.Join(errs...)
}

// parsePlatform parses and normalises one os/arch[/variant]. The OS and
// architecture must be known: containerd accepts any word, and a typo
// (linux/amd46) would only fail deep inside the build.
func parsePlatform(p string) (ocispec.Platform, error) {
	if strings.Count(p, "/") == 0 {
		return ocispec.Platform{}, fmt.Errorf("%q names no architecture; use %s", p, archFormat)
	}
	spec, err := platforms.Parse(p)
	if err != nil || !slices.Contains(knownOS, spec.OS) || !slices.Contains(knownArch, spec.Architecture) {
		return ocispec.Platform{}, fmt.Errorf("%q is not a known platform; use %s", p, archFormat)
	}
	return platforms.Normalize(spec), nil
}

// PlatformNames are ps as os/arch[/variant] names, for BuildKit's
// platform option, the outputs and the lines a user reads.
func PlatformNames(ps []ocispec.Platform) []string {
	names := make([]string, 0, len(ps))
	for _, p := range ps {
		names = append(names, platforms.Format(p))
	}
	return names
}
