package e2e

import (
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"github.com/blumeops/build-push-image/internal/testcheck"
)

// TestVersionFromDockerfileArg: with version empty, the version is the
// ARG's default with the v prefix: that tag is guarded and written, and
// the same ARG again is refused before building.
func TestVersionFromDockerfileArg(t *testing.T) {
	r := requireRig(t)
	t.Parallel()
	image := randomName("it/versionarg")
	dir := contextDir(t, map[string]string{
		"Dockerfile": "ARG BASE=scratch\nARG APP_VERSION=\"2.3.4\" \\\n    OTHER=1\nFROM ${BASE}\nCOPY payload /payload\n",
		"payload":    randomName("payload"),
	})
	env := r.inputs(image, "", dir)
	env["INPUT_VERSION-ARG"] = "APP_VERSION"
	res := runAction(t, env, nil)
	if res.code != 0 {
		t.Fatalf("exit %d: %s", res.code, errorLine(res.stdout))
	}
	r.wantTag(t, image, "v2.3.4", res.outputs["digest"])
	if want := r.registry + "/" + image + ":v2.3.4"; res.outputs["version-tag"] != want {
		t.Errorf("version-tag %q, want %q", res.outputs["version-tag"], want)
	}
	again := runAction(t, env, nil)
	testcheck.OneErrorLine(t, again.stdout, "version tag v2.3.4 already exists")
}

// TestVersionFileComments: issue 25's default.nix, a commented-out
// version above the real one and a dependency's version further down,
// publishes the real one (v2.0.1), with the line it read and one notice
// naming the other (that notice is the version's one line); the plan
// reads the same version from the same line, and on the same runner (tool
// cache) gives no notice for it a second time.
func TestVersionFileComments(t *testing.T) {
	r := requireRig(t)
	t.Parallel()
	image := randomName("it/versionfile")
	nix := "{ pkgs }:\nlet\n  # pinned: version = \"0.0.0\"; was the old one\n  version = \"2.0.1\";\n" +
		"  heph = pkgs.buildGoModule { pname = \"heph\"; version = \"1.7.0\"; };\nin pkgs.dockerTools.buildLayeredImage { name = \"worker\"; }\n"
	dir := contextDir(t, map[string]string{
		"Dockerfile":  "FROM scratch\nCOPY payload /payload\n",
		"payload":     randomName("payload"),
		"default.nix": nix,
	})
	env := r.inputs(image, "", dir)
	env["INPUT_VERSION-FILE"] = "default.nix"
	env["INPUT_VERSION-PATTERN"] = `version\s*=\s*"([^"]+)"`
	env["INPUT_VERSION-PREFIX"] = "v"
	res := runAction(t, env, nil)
	if res.code != 0 {
		t.Fatalf("exit %d: %s", res.code, errorLine(res.stdout))
	}
	r.wantTag(t, image, "v2.0.1", res.outputs["digest"])
	where := filepath.Join(dir, "default.nix") + ":4"
	notice := "::notice::version v2.0.1 read from " + where + `, the first match in the file; also matched, not used: line 5 ("1.7.0")`
	if strings.Count(res.stdout, notice) != 1 || strings.Contains(res.stdout, "version v2.0.1 read from "+where+"\n") {
		t.Errorf("log has not the version once, in its notice %q:\n%s", notice, res.stdout)
	}

	delete(env, "INPUT_VERSION-FILE")
	plan := map[string]string{
		"INPUT_CONTEXTS": filepath.Base(dir), "INPUT_IMAGE": r.registry + "/" + image, "INPUT_VERSION-FILE": "default.nix",
		"INPUT_VERSION-PATTERN": env["INPUT_VERSION-PATTERN"], "INPUT_VERSION-PREFIX": "v", "INPUT_REGISTRY-TLS": "disabled",
		"INPUT_USERNAME": r.user, "INPUT_API-KEY": r.key, "RUNNER_TOOL_CACHE": t.TempDir(),
	}
	planned := runPlan(t, filepath.Dir(dir), plan)
	wherePlan := filepath.Join(filepath.Base(dir), "default.nix") + ":4"
	row := fmt.Sprintf("plan: %-10s %s:v2.0.1 %s (version v2.0.1 read from %s", "published", r.registry+"/"+image, filepath.Base(dir), wherePlan)
	if planned.code != 0 || strings.Count(planned.stdout, "read from "+wherePlan) != 2 || !strings.Contains(planned.stdout, row) || strings.Count(planned.stdout, `::notice::version v2.0.1 read from `+wherePlan) != 1 {
		t.Errorf("plan: exit %d, want v2.0.1 in its notice and its row %q alone:\n%s", planned.code, row, planned.stdout)
	}
	// The same runner (tool cache), the same file: no notice again.
	again := runPlan(t, filepath.Dir(dir), plan)
	if strings.Contains(again.stdout, "::notice::") || !strings.Contains(again.stdout, row+"; other lines matched too") {
		t.Errorf("plan again: want the version's row without a notice:\n%s", again.stdout)
	}
	if all := planned.outputs["all"]; !strings.Contains(all, `"version":"v2.0.1","published":true`) {
		t.Errorf("plan all %s, want v2.0.1 published", all)
	}
}
