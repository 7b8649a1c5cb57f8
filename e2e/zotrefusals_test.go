package e2e

import (
	"net/http"
	"strings"
	"testing"

	"github.com/blumeops/build-push-image/internal/testcheck"
	"github.com/blumeops/build-push-image/internal/testrig"
)

// TestZotRefusals: each refusal of the real zot fails the run in one line
// that says what it is, quoting zot's own words, with no release tagged:
// a wrong key (401: its answer to a HEAD has no body, so the status is all
// it says), a repository the user may only read (403 DENIED), a
// policy condition that denies with the operator's reason (CEL, zot ≥
// v2.1.17), a version tag a condition keeps from the CI user, and a
// manifest of Docker media types (415 without docker2s2). A create-only
// user moving a tag is TestRaceSameVersionZot's.
func TestZotRefusals(t *testing.T) {
	const (
		frozen  = "frozen/ is closed for the release freeze"
		release = "version tags are published by the release pipeline"
	)
	zr, _ := realZot(t, requireRig(t),
		testrig.WithRepoPolicy("readonly/**", []string{"read"}),
		testrig.WithRepoPolicy("frozen/**", []string{"read", "create"},
			testrig.ZotCondition{Expression: `req.action != "create"`, Message: frozen}),
		testrig.WithRepoPolicy("gated/**", []string{"read", "create"},
			testrig.ZotCondition{Expression: `req.action != "create" || req.referenceType != "tag" || !req.tag.startsWith("v")`, Message: release}))
	for _, tc := range []struct {
		name, image, key string
		types            mediaTypes
		want             []string
		shaTagged        bool // the SHA tag is written before the version tag (the transaction's order)
	}{
		{name: "wrong key", image: "team/app", key: testcheck.ZotKey(),
			want: []string{"api-key: credentials rejected", "(HTTP 401", "zot API keys expire"}},
		{name: "repository not writable", image: "readonly/app",
			want: []string{`username: "ci" may not push to`, "HTTP 403 DENIED requested access to the resource is denied"}},
		{name: "condition denies, with the operator's reason", image: "frozen/app",
			want: []string{`username: "ci" may not push to`, "HTTP 403 DENIED", frozen}},
		{name: "condition keeps the version tag", image: "gated/app", shaTagged: true,
			want: []string{"refused to write a tag", "HTTP 403 DENIED", release, "nothing that names a release was written"}},
		{name: "Docker media types", image: "team/docker", types: dockerTypes,
			want: []string{"HTTP 415 MANIFEST_INVALID", "OCI media types"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			image := randomName(tc.image)
			types := tc.types
			if types.manifest == "" {
				types = ociTypes
			}
			env := archiveInputs(t, zr, image, "v1.0.0", tinyLayoutOf(t, image, types))
			if tc.key != "" {
				env["INPUT_API-KEY"] = tc.key
			}
			res := runAction(t, env, nil)
			line := errorLine(res.stdout)
			t.Logf("%s", line)
			for _, want := range tc.want {
				testcheck.OneErrorLine(t, res.stdout, want)
			}
			if _, status := zr.headDigest(t, image, "v1.0.0"); status != http.StatusNotFound && tc.key == "" {
				t.Errorf("version tag: HEAD %d, want 404: nothing released", status)
			}
			if _, status := zr.headDigest(t, image, testcheck.SHA); (status == http.StatusOK) != tc.shaTagged && tc.key == "" {
				t.Errorf("SHA tag: HEAD %d, want it written: %t", status, tc.shaTagged)
			}
			testcheck.NoSecret(t, zr.key, res.all()...)
			if strings.Contains(line, "internal error") {
				t.Errorf("not explained: %s", line)
			}
		})
	}
}

// TestZotAnonymousPlan: against the real zot with anonymousPolicy read,
// as the users' zot has, the plan with no username and no key looks the
// version tags up anonymously: the image released is published, the other
// is to build; no key, so zot's API keys are not asked about.
func TestZotAnonymousPlan(t *testing.T) {
	zr, _ := realZot(t, requireRig(t), testrig.WithAnonymousRead())
	fp := newFaultProxy(t, zr)
	prefix := randomName("anon")
	env := archiveInputs(t, zr, prefix+"/api", "v1.0.0", tinyLayout(t, prefix))
	if res := runAction(t, env, nil); res.code != 0 {
		t.Fatalf("seeding api v1.0.0: exit %d: %s", res.code, errorLine(res.stdout))
	}
	dir := testcheck.WriteTree(t, map[string]string{"nix/api/default.nix": nixFile("1.0.0"), "nix/web/default.nix": nixFile("2.0.0")})
	res := runPlan(t, dir, map[string]string{
		"INPUT_CONTEXTS": "nix/*", "INPUT_IMAGE": fp.addr + "/" + prefix + "/{name}", "INPUT_VERSION-FILE": "default.nix",
		"INPUT_VERSION-PATTERN": `version = "([^"]+)"`, "INPUT_REGISTRY-TLS": "disabled",
	})
	if res.code != 0 {
		t.Fatalf("anonymous plan: exit %d: %s", res.code, errorLine(res.stdout))
	}
	if m := matrixOf(t, res); len(m) != 1 || m[0].Name != "web" {
		t.Errorf("matrix %+v, want web alone (api v1.0.0 is published)", m)
	}
	if n := fp.count(kindTagHead); n != 2 {
		t.Errorf("%d tag look-ups, want 2", n)
	}
	if n := fp.count(kindZotAPI); n != 0 {
		t.Errorf("%d requests to zot's API without a key, want none", n)
	}
}
