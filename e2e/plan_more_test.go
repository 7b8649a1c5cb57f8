package e2e

import (
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	godigest "github.com/opencontainers/go-digest"
	"gopkg.in/yaml.v3"

	"github.com/blumeops/build-push-image/internal/testcheck"
	"github.com/blumeops/build-push-image/internal/testrig"
)

// docPlanStep is the with: of the plan step in the docs/plan.md block
// holding marker, as the plan's INPUT_* environment, changed only where a
// test must: the registry (zr's, plain HTTP) and the login (zr's user and
// key for the secrets the block names).
func docPlanStep(t *testing.T, zr rig, prefix, marker string) map[string]string {
	t.Helper()
	block := docBlock(t, "docs/plan.md", "yaml", marker)
	var steps []struct {
		Uses string
		With map[string]string
	}
	if err := yaml.Unmarshal([]byte(dedent(block)), &steps); err != nil || len(steps) != 1 || !strings.Contains(steps[0].Uses, "/plan@") {
		t.Fatalf("docs/plan.md block %q: %v, %+v; want one plan step", marker, err, steps)
	}
	env := map[string]string{"INPUT_REGISTRY-TLS": "disabled"}
	for k, v := range steps[0].With {
		switch {
		case k == "image":
			v = strings.Replace(v, "registry.example/team/", zr.registry+"/"+prefix+"/", 1)
		case k == "username":
			v = zr.user
		case strings.Contains(v, "secrets."):
			v = zr.key
		}
		env["INPUT_"+strings.ToUpper(k)] = v
	}
	return env
}

// dedent removes the indentation of the block's first line from every line.
func dedent(block string) string {
	indent := len(block) - len(strings.TrimLeft(block, " "))
	lines := strings.Split(block, "\n")
	for i, l := range lines {
		if len(l) >= indent {
			lines[i] = l[indent:]
		}
	}
	return strings.Join(lines, "\n")
}

// usersZot is the rig and a real zot run as the users run theirs:
// anonymous read, a CI user that may create tags but not move them.
func usersZot(t *testing.T) (r, zr rig) {
	t.Helper()
	r = requireRig(t)
	zr, _ = realZot(t, r, testrig.WithAnonymousRead())
	return r, zr
}

// seedImage puts a small OCI image (a config of its own, no layers) into
// image under each tag, as an earlier publisher did, and returns its
// digest.
func seedImage(t *testing.T, r rig, image, content string, tags ...string) godigest.Digest {
	t.Helper()
	config := []byte(`{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]},"config":{"Labels":{"seed":"` + content + `"}}}`)
	r.uploadBlob(t, image, config)
	manifest := []byte(fmt.Sprintf(`{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":%q,"size":%d},"layers":[]}`,
		godigest.FromBytes(config), len(config)))
	for _, tag := range tags {
		r.putManifest(t, image, tag, "application/vnd.oci.image.manifest.v1+json", manifest)
	}
	return godigest.FromBytes(manifest)
}

// names are the name fields of entries.
func names(entries []planEntry) string {
	var out []string
	for _, e := range entries {
		out = append(out, e.Name)
	}
	return strings.Join(out, ",")
}

// outputList decodes a JSON list output of the plan.
func outputList(t *testing.T, res result, name string) []map[string]any {
	t.Helper()
	var list []map[string]any
	if err := json.Unmarshal([]byte(res.outputs[name]), &list); err != nil || list == nil {
		t.Fatalf("output %s %q: %v", name, res.outputs[name], err)
	}
	return list
}

// fakeNix is a nix on PATH that answers `nix eval --raw .#<name>.version`
// as a flake with versions would (nix cannot run here), and leaves the
// environment it saw in .nix-env in the directory it ran in.
func fakeNix(t *testing.T, versions map[string]string) string {
	t.Helper()
	var cases strings.Builder
	for name, v := range versions {
		fmt.Fprintf(&cases, "  '.#%s.version') printf '%%s' '%s' ;;\n", name, v)
	}
	bin := t.TempDir()
	script := "#!/bin/sh\nenv > .nix-env\n" +
		"[ \"$1 $2\" = 'eval --raw' ] || { echo \"error: unexpected arguments: $*\" >&2; exit 2; }\n" +
		"case \"$3\" in\n" + cases.String() +
		"  *) echo 'evaluating the flake…' >&2; echo \"error: flake 'git+file:///src' does not provide attribute '${3#.#}'\" >&2; exit 1 ;;\nesac\n"
	if err := os.WriteFile(filepath.Join(bin, "nix"), []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	return bin
}

// TestPlanVersionCommand runs docs/plan.md's plan step with
// version-command against a real zot with anonymous read: dex names no
// version in default.nix and nettest has none, so the command gives theirs
// (api's file is read, and api is published); with version-command-first
// api's comes from the command too; the command's environment holds
// NIX_PATH but no input, no NIX_CONFIG and no key; a directory the flake
// does not know is one error line naming it, exit 2. The build action reads
// its version with the same command.
func TestPlanVersionCommand(t *testing.T) {
	r, zr := usersZot(t)
	prefix := randomName("plan/vcmd")
	seedImage(t, zr, prefix+"/api", "api", "v1.0.0-nix")
	dir := testcheck.WriteTree(t, map[string]string{
		"flake.nix":                      "{ }\n",
		"containers/api/default.nix":     nixFile("1.0.0"),
		"containers/dex/default.nix":     "pkgs.dockerTools.buildLayeredImage {\n  name = \"dex\";\n  tag = \"latest\";\n}\n",
		"containers/nettest/Dockerfile":  "FROM scratch\n",
		"containers/nettest/README.md":   "no default.nix",
		"containers/nettest/payload.txt": "x",
	})
	env := docPlanStep(t, zr, prefix, "# where default.nix names none")
	env["INPUT_USERNAME"], env["INPUT_API-KEY"] = zr.user, zr.key
	env["PATH"] = fakeNix(t, map[string]string{"dex": "2.39.1", "nettest": "0.4.0", "api": "1.1.0"}) + ":" + os.Getenv("PATH")
	env["NIX_PATH"] = "nixpkgs=/nix/var/nixpkgs"
	env["NIX_CONFIG"] = "access-tokens = forge.example=" + zr.key

	res := runPlan(t, dir, env)
	if res.code != 0 {
		t.Fatalf("exit %d: %s\n%s", res.code, errorLine(res.stdout), res.stdout)
	}
	m := matrixOf(t, res)
	if names(m) != "dex,nettest" || m[0].Version != "v2.39.1" || m[1].Version != "v0.4.0" {
		t.Fatalf("matrix %+v, want dex v2.39.1 and nettest v0.4.0 (api v1.0.0 is published)", m)
	}
	wantLine(t, res.stdout, "version v2.39.1 read from the output of `nix eval --raw .#dex.version` in containers/dex")
	wantLine(t, res.stdout, "version v1.0.0 read from containers/api/default.nix:4")
	for _, name := range []string{"dex", "nettest"} {
		seen, err := os.ReadFile(filepath.Join(dir, "containers", name, ".nix-env"))
		if err != nil {
			t.Fatalf("the command did not run in containers/%s: %v", name, err)
		}
		if !strings.Contains(string(seen), "NIX_PATH=nixpkgs=") || strings.Contains(string(seen), "NIX_CONFIG") || strings.Contains(string(seen), "INPUT_") {
			t.Errorf("containers/%s: the command's environment:\n%s\nwant NIX_PATH, no NIX_CONFIG, no INPUT_*", name, seen)
		}
		testcheck.NoSecret(t, zr.key, string(seen))
	}
	if _, err := os.Stat(filepath.Join(dir, "containers", "api", ".nix-env")); err == nil {
		t.Errorf("the command ran for api, whose file names its version")
	}
	testcheck.NoSecret(t, zr.key, res.stdout, res.stderr, res.outputFile)

	env["INPUT_VERSION-COMMAND-FIRST"] = "true"
	first := runPlan(t, dir, env)
	if m := matrixOf(t, first); first.code != 0 || names(m) != "api,dex,nettest" || m[0].Version != "v1.1.0" {
		t.Fatalf("version-command-first: exit %d, matrix %+v; want api v1.1.0 from the command, dex, nettest", first.code, m)
	}

	if err := os.MkdirAll(filepath.Join(dir, "containers", "broken"), 0o755); err != nil {
		t.Fatal(err)
	}
	delete(env, "INPUT_VERSION-COMMAND-FIRST")
	bad := runPlan(t, dir, env)
	if bad.code != 2 {
		t.Fatalf("exit %d, want 2\n%s", bad.code, bad.stdout)
	}
	testcheck.OneErrorLine(t, bad.stdout, "version-command: containers/broken: `nix eval --raw .#broken.version` exited with status 1: error: flake 'git+file:///src' does not provide attribute 'broken.version'; run it in that directory by hand")

	// The build action: its context's name for {name}, the same rules.
	build := r.inputs(prefix+"/dex", "", filepath.Join(dir, "containers", "dex"))
	build["INPUT_VERSION-FILE"], build["INPUT_VERSION-PATTERN"] = env["INPUT_VERSION-FILE"], env["INPUT_VERSION-PATTERN"]
	build["INPUT_VERSION-COMMAND"], build["INPUT_TAG-SUFFIX"] = env["INPUT_VERSION-COMMAND"], "-nix"
	build["INPUT_PUSH"], build["PATH"] = "false", env["PATH"]
	delete(build, "INPUT_API-KEY")
	delete(build, "INPUT_USERNAME")
	if err := os.WriteFile(filepath.Join(dir, "containers", "dex", "Dockerfile"), []byte("FROM scratch\nCOPY default.nix /\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	built := runAction(t, build, nil)
	if built.code != 0 || !strings.HasSuffix(built.outputs["version-tag"], "/dex:v2.39.1-nix") {
		t.Fatalf("build: exit %d, version-tag %q, want …/dex:v2.39.1-nix\n%s", built.code, built.outputs["version-tag"], built.stdout)
	}
	wantLine(t, built.stdout, "version v2.39.1 read from the output of `nix eval --raw .#dex.version`")
}

// changedRepo is a git repository of two nix images, app and web, and a
// flake.lock, with a second commit changing app's files but not its
// version; it returns the directory and the first commit.
func changedRepo(t *testing.T) (dir, base string) {
	t.Helper()
	dir = testcheck.WriteTree(t, map[string]string{
		"flake.lock":                 "{\"nixpkgs\": \"1\"}\n",
		"containers/app/default.nix": nixFile("1.2.0"),
		"containers/web/default.nix": nixFile("2.0.0"),
	})
	forgeGit(t, dir, nil, "init", "-q", "-b", "main")
	forgeCommit(t, dir, "README", "images\n")
	base = forgeGit(t, dir, nil, "rev-parse", "HEAD")
	forgeCommit(t, dir, "containers/app/extra.nix", "{ pkgs }: [ pkgs.curl ]\n")
	return dir, base
}

// eventEnv is the environment of a runner's event: its name and file.
func eventEnv(t *testing.T, env map[string]string, name, body string) map[string]string {
	t.Helper()
	out := map[string]string{"GITHUB_EVENT_NAME": name, "GITHUB_EVENT_PATH": writeBytes(t, filepath.Join(t.TempDir(), "event.json"), []byte(body))}
	for k, v := range env {
		out[k] = v
	}
	return out
}

// TestPlanChanged runs the plan by hand, as a runner would for a push and
// for a pull request (their event files), against a real zot with
// anonymous read where both images' versions are published: on the push
// the changed app is one warning and changed-unbumped, and docs/plan.md's
// step fails the job on it; in the pull request app is in the matrix (to
// check), and web joins it when flake.lock (shared-paths) changes; a base
// the checkout lacks is a notice naming fetch-depth: 0 under changed: auto
// and the one error under changed: true.
func TestPlanChanged(t *testing.T) {
	_, zr := usersZot(t)
	prefix := randomName("plan/changed")
	seedImage(t, zr, prefix+"/app", "app", "v1.2.0-nix")
	seedImage(t, zr, prefix+"/web", "web", "v2.0.0-nix")
	dir, base := changedRepo(t)
	env := map[string]string{
		"INPUT_CONTEXTS":        "containers/*",
		"INPUT_IMAGE":           zr.registry + "/" + prefix + "/{name}",
		"INPUT_VERSION-FILE":    "default.nix",
		"INPUT_VERSION-PATTERN": `version\s*=\s*"([^"]+)"`,
		"INPUT_TAG-SUFFIX":      "-nix",
		"INPUT_SHARED-PATHS":    "flake.lock",
		"INPUT_REGISTRY-TLS":    "disabled",
	}

	push := runPlan(t, dir, eventEnv(t, env, "push", `{"before": "`+base+`"}`))
	if push.code != 0 || push.outputs["count"] != "0" {
		t.Fatalf("push: exit %d count %s, want 0 and 0\n%s", push.code, push.outputs["count"], push.stdout)
	}
	warnings := regexp.MustCompile(`(?m)^::warning::.*$`).FindAllString(push.stdout, -1)
	if len(warnings) != 1 || !strings.Contains(warnings[0], "plan: changed since "+base[:12]+" but their version is published, so nothing publishes them (1): containers/app ("+zr.registry+"/"+prefix+"/app:v1.2.0-nix); bump the version") {
		t.Errorf("push: warnings %q, want one naming containers/app", warnings)
	}
	unbumped := outputList(t, push, "changed-unbumped")
	if len(unbumped) != 1 || unbumped[0]["name"] != "app" || unbumped[0]["changed"] != true || unbumped[0]["published"] != true {
		t.Errorf("changed-unbumped %s, want app alone", push.outputs["changed-unbumped"])
	}
	step := docBlock(t, "docs/plan.md", "yaml", "changed-unbumped != '[]'")
	var steps []struct{ Run string }
	if err := yaml.Unmarshal([]byte(dedent(step)), &steps); err != nil || len(steps) != 1 {
		t.Fatalf("docs/plan.md step: %v", err)
	}
	sh := exec.Command("bash", "-e", "-c", steps[0].Run)
	sh.Env = append(os.Environ(), "UNBUMPED="+push.outputs["changed-unbumped"])
	if out, err := sh.CombinedOutput(); err == nil || !strings.Contains(string(out), `"name":"app"`) {
		t.Errorf("docs/plan.md's step on the push's output: %v, %s; want it to fail naming app", err, out)
	}

	pr := `{"pull_request": {"number": 7, "base": {"sha": "` + base + `"}}}`
	check := runPlan(t, dir, eventEnv(t, env, "pull_request", pr))
	m := matrixOf(t, check)
	if check.code != 0 || names(m) != "app" || m[0].Version != "v1.2.0" || !strings.Contains(check.outputs["matrix"], `"changed":true`) {
		t.Fatalf("pull request: exit %d, matrix %s; want app, changed\n%s", check.code, check.outputs["matrix"], check.stdout)
	}
	wantLine(t, check.stdout, "plan: to check   "+zr.registry+"/"+prefix+"/app:v1.2.0-nix containers/app")

	forgeCommit(t, dir, "flake.lock", "{\"nixpkgs\": \"2\"}\n")
	if m := matrixOf(t, runPlan(t, dir, eventEnv(t, env, "pull_request", pr))); names(m) != "app,web" {
		t.Errorf("flake.lock changed: matrix %+v, want app and web", m)
	}

	missing := strings.Repeat("ab", 20)
	shallow := runPlan(t, dir, eventEnv(t, env, "push", `{"before": "`+missing+`"}`))
	if shallow.code != 0 || shallow.outputs["changed-unbumped"] != "[]" {
		t.Fatalf("base missing, changed: auto: exit %d, changed-unbumped %s\n%s", shallow.code, shallow.outputs["changed-unbumped"], shallow.stdout)
	}
	wantLine(t, shallow.stdout, "::notice::plan: changed images not looked for: the base commit "+missing+" is not in the checkout; check out the history with actions/checkout's fetch-depth: 0")
	env["INPUT_CHANGED"] = "true"
	strict := runPlan(t, dir, eventEnv(t, env, "push", `{"before": "`+missing+`"}`))
	if strict.code != 1 {
		t.Fatalf("base missing, changed: true: exit %d, want 1\n%s", strict.code, strict.stdout)
	}
	testcheck.OneErrorLine(t, strict.stdout, "changed: changed images not looked for: the base commit "+missing+" is not in the checkout; check out the history with actions/checkout's fetch-depth: 0")
}

// TestPlanAdoptTags runs docs/plan.md's adopt-tags step against a real
// zot with anonymous read and a create-only CI user, holding the old
// scheme's tags: api's two old tags of v1.0.0 name one image, web's name
// two (ambiguous: built), job's v3.0.0-nix names another image already
// (published: left alone), new has none. Anonymous, api is adoptable and
// not written; with the key its v1.0.0-nix is written to the digest its old
// tags name, nothing built; a second run adopts nothing. A version tag
// another job takes while the plan adopts is refused by the guard.
func TestPlanAdoptTags(t *testing.T) {
	_, zr := usersZot(t)
	prefix := randomName("plan/adopt")
	api := seedImage(t, zr, prefix+"/api", "api-1.0.0", "v1.0.0-abc1234-nix", "v1.0.0-def5678-nix")
	seedImage(t, zr, prefix+"/api", "api-0.9.0", "v0.9.0-0123456-nix")
	seedImage(t, zr, prefix+"/web", "web-a", "v2.0.0-aaaaaaa-nix")
	seedImage(t, zr, prefix+"/web", "web-b", "v2.0.0-bbbbbbb-nix")
	seedImage(t, zr, prefix+"/job", "job-old", "v3.0.0-1234567-nix")
	taken := seedImage(t, zr, prefix+"/job", "job-taken", "v3.0.0-nix")
	dir := testcheck.WriteTree(t, map[string]string{
		"containers/api/default.nix": nixFile("1.0.0"),
		"containers/web/default.nix": nixFile("2.0.0"),
		"containers/job/default.nix": nixFile("3.0.0"),
		"containers/new/default.nix": nixFile("4.0.0"),
	})
	env := docPlanStep(t, zr, prefix, "# v1.2.0-abc1234-nix: v1.2.0-nix")
	if env["INPUT_ADOPT-TAGS"] != "{version}-*-nix" || env["INPUT_API-KEY"] != zr.key {
		t.Fatalf("the docs' step: %v", env)
	}
	anonymous := map[string]string{}
	for k, v := range env {
		if k != "INPUT_USERNAME" && k != "INPUT_API-KEY" {
			anonymous[k] = v
		}
	}

	dry := runPlan(t, dir, anonymous)
	if dry.code != 0 || names(matrixOf(t, dry)) != "new,web" {
		t.Fatalf("anonymous: exit %d, matrix %s; want web (ambiguous) and new\n%s", dry.code, dry.outputs["matrix"], dry.stdout)
	}
	wantLine(t, dry.stdout, "::warning::plan: adoptable, not adopted: no api-key (1): "+zr.registry+"/"+prefix+"/api:v1.0.0-nix from v1.0.0-abc1234-nix")
	wantLine(t, dry.stdout, "::warning::adopt-tags: "+zr.registry+"/"+prefix+"/web: the old tags of v2.0.0 name 2 images")
	if _, code := zr.headDigest(t, prefix+"/api", "v1.0.0-nix"); code != http.StatusNotFound {
		t.Fatalf("an anonymous plan wrote api:v1.0.0-nix (HEAD %d)", code)
	}

	res := runPlan(t, dir, env)
	if res.code != 0 || names(matrixOf(t, res)) != "new,web" {
		t.Fatalf("with the key: exit %d, matrix %s\n%s", res.code, res.outputs["matrix"], res.stdout)
	}
	wantLine(t, res.stdout, "plan: adopted  "+zr.registry+"/"+prefix+"/api:v1.0.0-nix from v1.0.0-abc1234-nix ("+api.String()+"): tag written, nothing built")
	if d, _ := zr.headDigest(t, prefix+"/api", "v1.0.0-nix"); d != api.String() {
		t.Errorf("api:v1.0.0-nix names %q, want %s, the image its old tags name", d, api)
	}
	adoptable := outputList(t, res, "adoptable")
	if len(adoptable) != 1 || adoptable[0]["adopt"] != "v1.0.0-abc1234-nix" || adoptable[0]["adopted"] != true || adoptable[0]["digest"] != api.String() {
		t.Errorf("adoptable %s, want api adopted", res.outputs["adoptable"])
	}
	if d, _ := zr.headDigest(t, prefix+"/job", "v3.0.0-nix"); d != taken.String() {
		t.Errorf("job:v3.0.0-nix names %q, want %s: a taken version tag is never moved", d, taken)
	}
	testcheck.NoSecret(t, zr.key, res.stdout, res.stderr, res.outputFile)

	again := runPlan(t, dir, env)
	if again.code != 0 || again.outputs["adoptable"] != "[]" || strings.Contains(again.stdout, "plan: adopted") || names(matrixOf(t, again)) != "new,web" {
		t.Errorf("second run: exit %d, adoptable %s, matrix %s; want nothing adopted\n%s", again.code, again.outputs["adoptable"], again.outputs["matrix"], again.stdout)
	}

	// Another job takes race's v5.0.0-nix for another image between the
	// plan's look-up and its write (while the plan lists the tags): the
	// guard refuses, nothing is written, one error line.
	old := seedImage(t, zr, prefix+"/race", "race-old", "v5.0.0-abc1234-nix")
	fp := newFaultProxy(t, zr)
	var other godigest.Digest
	fp.fail(kindTagsList, 1, fault{inspect: func() { other = seedImage(t, zr, prefix+"/race", "race-other", "v5.0.0-nix") }})
	raced := docPlanStep(t, zr, prefix, "# v1.2.0-abc1234-nix: v1.2.0-nix")
	raced["INPUT_IMAGE"] = strings.Replace(raced["INPUT_IMAGE"], zr.registry, fp.addr, 1)
	race := runPlan(t, testcheck.WriteTree(t, map[string]string{"containers/race/default.nix": nixFile("5.0.0")}), raced)
	if race.code != 1 {
		t.Fatalf("taken meanwhile: exit %d, want 1\n%s", race.code, race.stdout)
	}
	testcheck.OneErrorLine(t, race.stdout, "adopt-tags: version tag v5.0.0-nix already exists in "+fp.addr+"/"+prefix+"/race ("+other.String()+"); version tags are immutable")
	if d, _ := zr.headDigest(t, prefix+"/race", "v5.0.0-nix"); d != other.String() || d == old.String() {
		t.Errorf("race:v5.0.0-nix names %s, want %s, the other job's", d, other)
	}
}
