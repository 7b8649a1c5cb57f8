package build

import (
	"slices"
	"strings"
	"testing"
)

func TestParsePlatforms(t *testing.T) {
	got, err := ParsePlatforms("linux/x86_64, linux/aarch64,linux/arm/v7,linux/amd64,windows/amd64")
	want := []string{"linux/amd64", "linux/arm64", "linux/arm/v7", "windows/amd64"}
	if err != nil || !slices.Equal(PlatformNames(got), want) {
		t.Errorf("got %v %v, want %v", got, err, want)
	}
	_, err = ParsePlatforms("linux/amd46,linux/amd64,linux,plan9/amd64")
	lines := strings.Split(err.Error(), "\n")
	for i, want := range []string{`"linux/amd46" is not a known platform`, `"linux" names no architecture`, `"plan9/amd64" is not a known platform`} {
		if i >= len(lines) || !strings.HasPrefix(lines[i], want) {
			t.Errorf("error %d: want %q in:\n%s", i, want, err)
		}
	}
}
