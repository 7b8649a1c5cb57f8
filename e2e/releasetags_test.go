package e2e

import (
	"fmt"
	"strings"
	"testing"

	"github.com/blumeops/build-push-image/internal/testcheck"
)

// releaseRun pushes version of image with semver-tags and latest, from a
// context of its own, and returns its digest.
func releaseRun(t *testing.T, r rig, image, version string) (string, result) {
	t.Helper()
	env := r.inputs(image, version, uniqueContext(t, 1024))
	env["INPUT_SEMVER-TAGS"] = "true"
	env["INPUT_TAGS"] = "latest\nstable"
	res := runAction(t, env, nil)
	if res.code != 0 {
		t.Fatalf("%s: exit %d: %s", version, res.code, errorLine(res.stdout))
	}
	return res.outputs["digest"], res
}

func TestExtraAndSemverTags(t *testing.T) {
	r := requireRig(t)
	t.Parallel()
	image := randomName("it/semver")
	v120, res := releaseRun(t, r, image, "v1.2.0")
	for _, tag := range []string{"v1.2.0", testcheck.SHA, "v1", "v1.2", "latest", "stable"} {
		r.wantTag(t, image, tag, v120)
	}
	if m := metadata(t, res); len(m.Tags) != 6 || !strings.HasSuffix(m.Tags[0], ":v1.2.0") {
		t.Errorf("tags %v, want the version tag first, then the 5 others", m.Tags)
	}

	// A hotfix of an older line: its own v1.1 moves, v1 and latest stay.
	v115, res := releaseRun(t, r, image, "v1.1.5")
	r.wantTag(t, image, "v1.1", v115)
	for _, tag := range []string{"v1", "latest", "stable"} {
		r.wantTag(t, image, tag, v120)
		if !strings.Contains(res.stdout, ":"+tag+" names v1.2.0, a newer release than this one") {
			t.Errorf("no word that %s was left at v1.2.0:\n%s", tag, res.stdout)
		}
	}

	// A newer release takes them all over.
	v130, _ := releaseRun(t, r, image, "v1.3.0")
	for _, tag := range []string{"v1", "v1.3", "latest", "stable"} {
		r.wantTag(t, image, tag, v130)
	}

	// A pre-release moves no semver tag (latest is an extra tag: it moves).
	rc, _ := releaseRun(t, r, image, "v2.0.0-rc.1")
	r.wantTag(t, image, "v2", "")
	r.wantTag(t, image, "v1", v130)
	if rc == v130 {
		t.Fatal("the pre-release built the same image")
	}
}

func TestRefusedVersionMovesNoFollower(t *testing.T) {
	r := requireRig(t)
	t.Parallel()
	row(t, "transaction", "the version tag is refused: tags that follow releases are not touched", "the proxy answers the version tag PUT 412; latest must stay where it was")
	fp, image, old := seeded(t, r, "tx/follow")
	r.copyTag(t, image, old, "latest")
	fp.fail(kindTagPut, -1, refusals[0].refuse("v1.0.0"))
	env := fp.inputs(r, image, "v1.0.0", uniqueContext(t, 1024))
	env["INPUT_TAGS"] = "latest"
	res := runAction(t, env, nil)
	testcheck.OneErrorLine(t, res.stdout, "nothing that names a release was written")
	r.wantTag(t, image, "latest", old)
	if n := fp.count(kindTagPut); n != 2 { // the SHA tag, then the refused version tag
		t.Errorf("%d tag PUTs, want 2: nothing after the refused version tag", n)
	}
}

func TestSeveralImagesOnTwoRegistries(t *testing.T) {
	r := requireRig(t)
	t.Parallel()
	r2 := secondRegistry(t, r)
	first, second := r.registry+"/"+randomName("it/multi"), r2.registry+"/"+randomName("it/multi")
	dir := uniqueContext(t, 1024)
	env := r.inputs("", "v1.0.0", dir)
	env["INPUT_IMAGE"] = first + "\n" + second
	env["INPUT_TAGS"] = "latest"
	env["INPUT_REGISTRY-CREDENTIALS"] = r2.registry + "=" + r2.user + ":" + r2.key
	// Rising versions, so that latest moves on each run.
	for i, via := range pushPaths {
		version := fmt.Sprintf("v1.0.%d", i)
		t.Run(via, func(t *testing.T) {
			env["INPUT_VERSION"] = version
			env["INPUT_PUSH-VIA"] = via
			res := runAction(t, env, nil)
			if res.code != 0 {
				t.Fatalf("exit %d: %s", res.code, errorLine(res.stdout))
			}
			d := res.outputs["digest"]
			for _, reg := range []struct {
				r     rig
				image string
			}{{r, first}, {r2, second}} {
				repo := strings.TrimPrefix(reg.image, reg.r.registry+"/")
				for _, tag := range []string{version, testcheck.SHA, "latest"} {
					reg.r.wantTag(t, repo, tag, d)
				}
				reg.r.verifyImage(t, repo, d)
			}
			if res.outputs["image"] != first+"@"+d || !strings.Contains(res.outputs["metadata"], `"images":["`+first+`","`+second+`"]`) {
				t.Errorf("image %q, metadata %s", res.outputs["image"], res.outputs["metadata"])
			}
			testcheck.NoSecret(t, r2.key, res.all()...)
		})
	}

	// The version exists in the second repository only: fail before building.
	r2.copyTag(t, strings.TrimPrefix(second, r2.registry+"/"), "latest", "v9.9.9")
	env["INPUT_VERSION"], env["INPUT_PUSH-VIA"] = "v9.9.9", "auto"
	env["INPUT_CONTEXT"] = uniqueContext(t, 1024)
	res := runAction(t, env, nil)
	testcheck.OneErrorLine(t, res.stdout, "version tag v9.9.9 already exists in "+second)
	if strings.Contains(res.stdout, "#1 ") {
		t.Errorf("the build ran:\n%s", res.stdout)
	}
	r.wantTag(t, strings.TrimPrefix(first, r.registry+"/"), "v9.9.9", "")
}

// TestTagSuffix: tag-suffix: -nix with tag-suffix-on-latest puts the
// suffix on every tag the run writes and writes no unsuffixed one (latest
// without the suffix, the default, is TestNeighboursHabits'); the guard checks the suffixed
// version tag (the unsuffixed variant of the same version is no conflict,
// a second -nix run is), and the never-backwards rule compares versions.
func TestTagSuffix(t *testing.T) {
	r := requireRig(t)
	t.Parallel()
	image := randomName("it/suffix")
	nixRun := func(version string) result {
		env := r.inputs(image, version, uniqueContext(t, 1024))
		env["INPUT_TAG-SUFFIX"] = "-nix"
		env["INPUT_SEMVER-TAGS"] = "true"
		env["INPUT_TAGS"] = "latest"
		env["INPUT_TAG-SUFFIX-ON-LATEST"] = "true"
		return runAction(t, env, nil)
	}
	res := nixRun("v1.2.0")
	if res.code != 0 {
		t.Fatalf("exit %d: %s", res.code, errorLine(res.stdout))
	}
	v120 := res.outputs["digest"]
	for _, tag := range []string{"v1.2.0-nix", testcheck.SHA + "-nix", "v1-nix", "v1.2-nix", "latest-nix"} {
		r.wantTag(t, image, tag, v120)
	}
	for _, tag := range []string{"v1.2.0", testcheck.SHA, "v1", "v1.2", "latest"} {
		r.wantTag(t, image, tag, "")
	}
	ref := r.registry + "/" + image
	if res.outputs["version-tag"] != ref+":v1.2.0-nix" || res.outputs["sha-tag"] != ref+":"+testcheck.SHA+"-nix" {
		t.Errorf("outputs version-tag %q sha-tag %q, want the suffixed tags", res.outputs["version-tag"], res.outputs["sha-tag"])
	}
	if m := metadata(t, res); m.VersionTag != ref+":v1.2.0-nix" || len(m.Tags) != 5 || m.Tags[0] != ref+":v1.2.0-nix" {
		t.Errorf("metadata version-tag %q tags %v, want the suffixed version tag first of 5", m.VersionTag, m.Tags)
	}

	// The unsuffixed variant of the same version is another tag: no conflict.
	plain := runAction(t, r.inputs(image, "v1.2.0", uniqueContext(t, 1024)), nil)
	if plain.code != 0 {
		t.Fatalf("unsuffixed v1.2.0: exit %d: %s", plain.code, errorLine(plain.stdout))
	}
	r.wantTag(t, image, "v1.2.0-nix", v120)

	// The same suffixed version again is the guard's.
	again := nixRun("v1.2.0")
	testcheck.OneErrorLine(t, again.stdout, "version tag v1.2.0-nix already exists")
	r.wantTag(t, image, "v1.2.0-nix", v120)

	// A hotfix of an older line: v1.1-nix is its own, v1-nix and latest-nix
	// name v1.2.0, a newer release, and stay.
	hotfix := nixRun("v1.1.5")
	if hotfix.code != 0 {
		t.Fatalf("v1.1.5: exit %d: %s", hotfix.code, errorLine(hotfix.stdout))
	}
	r.wantTag(t, image, "v1.1-nix", hotfix.outputs["digest"])
	for _, tag := range []string{"v1-nix", "latest-nix"} {
		r.wantTag(t, image, tag, v120)
	}
}
