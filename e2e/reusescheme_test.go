package e2e

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestReuseWhateverTheVersionScheme: the next release reuses the layers
// of the one before when versions are dates (learnt from the last tags
// the registry lists) or commit hashes like 165768b (learnt from latest,
// a tag that follows releases, or from the SHA tag of the commit before
// the push, which the push event names, when other releases sort last),
// not only semantic versions.
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
	t.Run("commit before", func(t *testing.T) {
		image := randomName("it/reuse-before")
		run := func(version, sha string, archive string, event string) result {
			env := archiveInputs(t, r, image, version, archive)
			env["INPUT_SHA"] = strings.Repeat(sha, 40)
			if event != "" {
				env["GITHUB_EVENT_NAME"], env["GITHUB_EVENT_PATH"] = "push", event
			}
			return runArchive(t, env)
		}
		run("165768b", "a", nixStyle(t, base, layerTar(t, "srv/app", "the first application\n")), "")
		for _, v := range []string{"fff1", "fff2", "fff3"} { // other images, whose tags sort last
			run(v, v[3:], nixStyle(t, layerTar(t, "srv/other", v)), "")
		}
		event := filepath.Join(t.TempDir(), "event.json")
		if err := os.WriteFile(event, []byte(`{"before":"`+strings.Repeat("a", 40)+`"}`), 0o600); err != nil {
			t.Fatal(err)
		}
		next := nixStyle(t, base, layerTar(t, "srv/app", "the next application\n"))
		wantLine(t, run("0a1b2c3", "b", next, "").stdout, "2 layers: 0 reused from the registry, 2 compressed")
		wantLine(t, run("0a1b2c4", "c", next, event).stdout, "2 layers: 1 reused from the registry, 1 compressed")
	})
}
