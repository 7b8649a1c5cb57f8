package e2e

import (
	"encoding/json"
	"regexp"
	"strings"
	"testing"

	"github.com/blumeops/build-push-image/internal/testcheck"
)

// planEntry is one entry of the plan's matrix or all output.
type planEntry struct {
	Name, Context, File, Image, Version, Skipped string
	Published                                    *bool
}

// runPlan runs `build-push-image plan` in dir with env as its inputs.
func runPlan(t *testing.T, dir string, env map[string]string) result {
	t.Helper()
	cmd := actionCommand(t, t.Context(), env)
	cmd.Args = append(cmd.Args, "plan")
	cmd.Dir = dir
	return runCommand(t, cmd, nil)
}

// matrixOf decodes the plan's matrix output.
func matrixOf(t *testing.T, res result) []planEntry {
	t.Helper()
	var m struct{ Include []planEntry }
	if err := json.Unmarshal([]byte(res.outputs["matrix"]), &m); err != nil || m.Include == nil {
		t.Fatalf("matrix %q: %v", res.outputs["matrix"], err)
	}
	return m.Include
}

func nixFile(version string) string {
	return "{ pkgs }:\npkgs.dockerTools.buildLayeredImage {\n  name = \"x\";\n  version = \"" + version + "\";\n}\n"
}

// TestPlanNix: nix-style directories (default.nix, tag-suffix -nix)
// against the rig's registry: the plan lists exactly those whose
// v<version>-nix is not published, the one that is as published in all;
// the unsuffixed tag of the same version does not count. As in a real
// tree, a directory that is no image (lib/) and an image tagged latest
// (no version) are left out with one warning, an excluded one is not
// read at all.
func TestPlanNix(t *testing.T) {
	r := requireRig(t)
	t.Parallel()
	prefix := randomName("plan/nix")
	// api v1.0.0-nix is published; web has only v2.0.0 (no suffix).
	seed := func(name, version, suffix string) {
		env := r.inputs(prefix+"/"+name, version, uniqueContext(t, 64))
		env["INPUT_TAG-SUFFIX"] = suffix
		if res := runAction(t, env, nil); res.code != 0 {
			t.Fatalf("seeding %s: exit %d: %s", name, res.code, errorLine(res.stdout))
		}
	}
	seed("api", "v1.0.0", "-nix")
	seed("web", "v2.0.0", "")
	dir := testcheck.WriteTree(t, map[string]string{
		"nix/api/default.nix":    nixFile("1.0.0"),
		"nix/web/default.nix":    nixFile("2.0.0"),
		"nix/worker/default.nix": nixFile("0.3.1"),
		"nix/README.md":          "not an image",
		"nix/lib/common.nix":     "{ }\n",
		"nix/dex/default.nix":    "pkgs.dockerTools.buildLayeredImage {\n  name = \"dex\";\n  tag = \"latest\";\n}\n",
		"nix/old/default.nix":    "version = \"1.0\";\nnot read: it is excluded\n",
	})
	env := map[string]string{
		"INPUT_CONTEXTS":        "nix/*\n!nix/old",
		"INPUT_IMAGE":           r.registry + "/" + prefix + "/{name}",
		"INPUT_VERSION-FILE":    "default.nix",
		"INPUT_VERSION-PATTERN": `version\s*=\s*"([^"]+)"`,
		"INPUT_VERSION-PREFIX":  "v",
		"INPUT_TAG-SUFFIX":      "-nix",
		"INPUT_USERNAME":        r.user,
		"INPUT_API-KEY":         r.key,
		"INPUT_REGISTRY-TLS":    "disabled",
	}
	res := runPlan(t, dir, env)
	if res.code != 0 {
		t.Fatalf("exit %d: %s\n%s", res.code, errorLine(res.stdout), res.stderr)
	}
	m := matrixOf(t, res)
	if len(m) != 2 || m[0].Name != "web" || m[1].Name != "worker" || res.outputs["count"] != "2" {
		t.Fatalf("matrix %+v (count %s), want web and worker", m, res.outputs["count"])
	}
	want := planEntry{Name: "worker", Context: "nix/worker", Image: r.registry + "/" + prefix + "/worker", Version: "v0.3.1"}
	if m[1] != want {
		t.Errorf("worker: %+v, want %+v", m[1], want)
	}
	var all []planEntry
	if err := json.Unmarshal([]byte(res.outputs["all"]), &all); err != nil || len(all) != 5 || all[0].Name != "api" || all[0].Published == nil || !*all[0].Published || *all[3].Published {
		t.Fatalf("all %s (%v), want api published, dex and lib left out, web and worker not published", res.outputs["all"], err)
	}
	if all[1].Name != "dex" || all[1].Skipped != "default.nix names no version" || all[2].Name != "lib" || all[2].Skipped != "no default.nix" {
		t.Errorf("all: dex %+v, lib %+v; want each with the reason it is left out", all[1], all[2])
	}
	warnings := regexp.MustCompile(`(?m)^::warning::.*$`).FindAllString(res.stdout, -1)
	if len(warnings) != 1 || !strings.Contains(warnings[0], "nix/dex (") || !strings.Contains(warnings[0], "nix/lib (no default.nix)") {
		t.Errorf("warnings %q, want one naming nix/dex and nix/lib with their reasons", warnings)
	}
	if !strings.Contains(res.stdout, "plan: 2 of 3 images to publish") {
		t.Errorf("no count of 2 of 3 images in:\n%s", res.stdout)
	}
	testcheck.NoSecret(t, r.key, res.stdout, res.stderr, res.outputFile)

	// Anonymous look-ups where the registry asks for a login: one line.
	delete(env, "INPUT_USERNAME")
	delete(env, "INPUT_API-KEY")
	anon := runPlan(t, dir, env)
	if anon.code == 0 {
		t.Fatal("anonymous plan against a registry that wants a login: exit 0")
	}
	testcheck.OneErrorLine(t, anon.stdout, "api-key: "+r.registry+" asks for a login to read")
}

// TestPlanBadInput: a directory without its Dockerfile (on-unversioned:
// fail) and a glob that matches nothing are one line each, exit 2, before
// any look-up.
func TestPlanBadInput(t *testing.T) {
	r := requireRig(t)
	t.Parallel()
	dir := testcheck.WriteTree(t, map[string]string{
		"containers/a/Dockerfile": "ARG APP_VERSION=1.0.0\nFROM scratch\n",
		"containers/b/notes.txt":  "no Dockerfile",
	})
	res := runPlan(t, dir, map[string]string{
		"INPUT_CONTEXTS":       "containers/*\nmissing/*",
		"INPUT_IMAGE":          r.registry + "/plan/{name}",
		"INPUT_VERSION-ARG":    "APP_VERSION",
		"INPUT_VERSION-PREFIX": "v",
		"INPUT_REGISTRY-TLS":   "disabled",
		"INPUT_ON-UNVERSIONED": "fail",
	})
	if res.code != 2 {
		t.Fatalf("exit %d, want 2:\n%s", res.code, res.stdout)
	}
	for _, want := range []string{"::error::contexts: directory containers/b has no Dockerfile", `::error::contexts: "missing/*" matches no directory`} {
		if !strings.Contains(res.stdout, want) {
			t.Errorf("no line %q in:\n%s", want, res.stdout)
		}
	}
	if res.outputs["matrix"] != "" {
		t.Errorf("matrix %q written after bad input", res.outputs["matrix"])
	}
}
