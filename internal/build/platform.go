package build

import (
	"fmt"
	"slices"
	"strings"
)

var (
	knownOS    = []string{"linux", "windows", "darwin", "freebsd"}
	knownArch  = []string{"amd64", "arm64", "arm", "386", "ppc64le", "s390x", "riscv64", "mips64le", "loong64"}
	archFormat = "os/arch[/variant], e.g. linux/amd64 or linux/arm/v7"
)

// ParsePlatforms reads a comma-separated platform list for
// Request.Platforms; every unknown platform is reported.
func ParsePlatforms(v string) ([]string, error) {
	var out []string
	for _, p := range strings.Split(v, ",") {
		if p = strings.TrimSpace(p); p == "" {
			continue
		}
		parts := strings.Split(p, "/")
		if len(parts) < 2 || len(parts) > 3 || !slices.Contains(knownOS, parts[0]) || !slices.Contains(knownArch, parts[1]) {
			return nil, fmt.Errorf("%q is not a known platform; use %s", p, archFormat)
		}
		out = append(out, p)
	}
	return out, nil
}
