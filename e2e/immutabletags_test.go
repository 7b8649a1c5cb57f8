package e2e

import (
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/blumeops/build-push-image/internal/testcheck"
)

// immutableNote is what the Tagged line of a version tag read back
// without the settle pause says.
const immutableNote = "(read back without the settle pause: the registry refuses overwrites, registry-immutable-tags)"

// TestImmutableTagsNoPauseZot: on the real zot with a create-only user
// (the users' registry) and registry-immutable-tags: true, the version
// tag is read back without the settle pause (the Tagged line says so),
// and four jobs racing for one new version still give exactly one
// release: the others' writes are refused, or, where zot's check let a
// write through beside the winner's, lost on the read-back. Without the input, on the rig's registry (which lets
// tags be overwritten), the pause is kept (TestRaceSameVersionPlainRegistry
// runs the race there).
func TestImmutableTagsNoPauseZot(t *testing.T) {
	r := requireRig(t)
	zr, _ := realZot(t, r)
	image := randomName("it/immutable")
	archives := make([]string, 4)
	for i := range archives {
		archives[i] = nixStyle(t, layerTar(t, "srv/app", fmt.Sprintf("job %d's application\n", i)))
	}
	env := func(rg rig, version string, i int, immutable bool) map[string]string {
		e := archiveInputs(t, rg, image, version, archives[i])
		e["INPUT_SHA"] = strings.Repeat(fmt.Sprint(i), 40)
		if immutable {
			e["INPUT_REGISTRY-IMMUTABLE-TAGS"] = "true"
		}
		return e
	}

	one := runArchive(t, env(zr, "v1.0.0", 0, true))
	wantLine(t, one.stdout, "Tagged "+zr.registry+"/"+image+":v1.0.0 "+immutableNote)

	jobs := runJobs(t, 4, func(i int) map[string]string { return env(zr, "v2.0.0", i, true) })
	final, status := zr.headDigest(t, image, "v2.0.0")
	if status != http.StatusOK {
		t.Fatalf("version tag: HEAD %d", status)
	}
	won := 0
	for i, j := range jobs {
		testcheck.NoSecret(t, zr.key, j.all()...)
		if j.code != 0 {
			// Refused; or, its write having passed zot's create check
			// beside the winner's (not atomic), overwritten, which the
			// read-back after twice its write's round trip sees.
			want := "version tags are immutable: bump the version"
			if strings.Contains(errorLine(j.stdout), "lost a race") {
				want = "lost a race for the version tag v2.0.0"
				t.Logf("job %d: %s", i, errorLine(j.stdout))
			}
			testcheck.OneErrorLine(t, j.stdout, want)
			continue
		}
		won++
		if j.digest != final {
			t.Errorf("job %d reported success with %s, but the tag names %s", i, j.digest, final)
		}
		wantLine(t, j.stdout, ":v2.0.0 "+immutableNote)
	}
	if won != 1 {
		t.Errorf("%d jobs succeeded, want exactly 1", won)
	}

	plain := runArchive(t, env(r, "v1.0.0", 1, false))
	if strings.Contains(plain.stdout, immutableNote) {
		t.Errorf("without registry-immutable-tags the version tag was read back with no pause:\n%s", plain.stdout)
	}
	wantLine(t, plain.stdout, "Tagged "+r.registry+"/"+image+":v1.0.0\n")
}
