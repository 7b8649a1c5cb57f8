package e2e

import (
	"strings"
	"testing"
)

// TestReuseWhateverTheVersionScheme: the next release reuses the layers
// of the one before when versions are dates (learnt from the last tags
// the registry lists) or commit hashes like 165768b (learnt from latest,
// a tag that follows releases), not only semantic versions.
func TestReuseWhateverTheVersionScheme(t *testing.T) {
	r := requireRig(t)
	base := layerTar(t, "srv/base", strings.Repeat("the base every release shares\n", 100))
	for _, c := range []struct {
		name, first, next, tags string
	}{
		{"dates", "2026.12.01", "2026.12.07", ""},
		{"hashes", "165768b", "0a1b2c3", "latest"},
	} {
		t.Run(c.name, func(t *testing.T) {
			image := randomName("it/reuse-" + c.name)
			run := func(version, sha, app string) result {
				env := archiveInputs(t, r, image, version, nixStyle(t, base, layerTar(t, "srv/app", app)))
				env["INPUT_SHA"] = strings.Repeat(sha, 40)
				env["INPUT_TAGS"] = c.tags
				return runArchive(t, env)
			}
			run(c.first, "a", "the first application\n")
			res := run(c.next, "b", "the next application\n")
			wantLine(t, res.stdout, "2 layers: 1 reused from the registry, 1 compressed")
			wantLine(t, res.stdout, "Learned 2 layers the registry holds (from ")
		})
	}
}
