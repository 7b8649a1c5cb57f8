package e2e

import (
	"archive/tar"
	"bytes"
	"crypto/sha256"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/blumeops/build-push-image/internal/testcheck"
	"github.com/blumeops/build-push-image/internal/testrig"
)

// markedStream is a stream program that first touches marker, then writes
// the gzipped docker-archive at archive: the marker says it ran.
func markedStream(t *testing.T, marker, archive string) string {
	t.Helper()
	script := filepath.Join(t.TempDir(), "stream-app")
	body := fmt.Sprintf("#!/bin/sh\n/usr/bin/touch %s\nexec /usr/bin/cat %s\n", marker, archive)
	if err := os.WriteFile(script, []byte(body), 0o755); err != nil {
		t.Fatal(err)
	}
	return script
}

// TestPreflightZotAnonymousRead: on the real zot with anonymous read, as
// the users' zot has, the guard's look-ups succeed without the key, so
// only the push check (an upload started, then cancelled) proves it
// before anything runs: a wrong key and a user that may only read fail
// in one line before the stream program starts (it never touches its
// marker) or buildkitd builds; the right key passes, says what it
// checked, and the stream runs.
func TestPreflightZotAnonymousRead(t *testing.T) {
	zr, _ := realZot(t, requireRig(t), testrig.WithAnonymousRead(), testrig.WithRepoPolicy("readonly/**", []string{"read"}))
	fp := newFaultProxy(t, zr)
	archive := nixStoreImage(t, "app", [2]string{"0c5g8wsvzkpmbx3k9vy0dfz6z4cjhd43-app-1.0", "app " + randomName("")})
	for _, tc := range []struct {
		name, image, key string
		dockerfile       bool
		want             []string
	}{
		{name: "wrong key, stream", image: "team/app", key: testcheck.ZotKey(),
			want: []string{"api-key: credentials rejected by " + fp.addr + ` for username "ci" (HTTP 401`}},
		{name: "read-only user, stream", image: "readonly/app",
			want: []string{`username: "ci" may not push to ` + fp.addr + "/readonly/", "HTTP 403 DENIED"}},
		{name: "read-only user, Dockerfile", image: "readonly/built", dockerfile: true,
			want: []string{`username: "ci" may not push to ` + fp.addr + "/readonly/", "HTTP 403 DENIED"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			marker := filepath.Join(t.TempDir(), "ran")
			image := randomName(tc.image)
			env := fp.inputs(zr, image, "v1.0.0", contextDir(t, map[string]string{"Dockerfile": "FROM scratch\nCOPY Dockerfile /\n"}))
			if !tc.dockerfile {
				env = archiveInputs(t, zr, image, "v1.0.0", markedStream(t, marker, archive))
				env["INPUT_IMAGE"] = fp.addr + "/" + image
			}
			if tc.key != "" {
				env["INPUT_API-KEY"] = tc.key
			}
			before := fp.count(kindBlobPut) + fp.count(kindBlobPatch)
			res := runAction(t, env, nil)
			t.Logf("%s", errorLine(res.stdout))
			for _, want := range tc.want {
				testcheck.OneErrorLine(t, res.stdout, want)
			}
			if _, err := os.Stat(marker); err == nil {
				t.Errorf("the stream program ran before the key was proven")
			}
			if strings.Contains(res.stdout, "::group::Build") || strings.Contains(res.stdout, "[internal] load build definition") {
				t.Errorf("buildkitd built before the key was proven:\n%s", res.stdout)
			}
			if n := fp.count(kindBlobPut) + fp.count(kindBlobPatch) - before; n != 0 {
				t.Errorf("%d blob bytes requests, want none", n)
			}
			testcheck.NoSecret(t, zr.key, res.all()...)
		})
	}
	t.Run("right key", func(t *testing.T) {
		marker := filepath.Join(t.TempDir(), "ran")
		image := randomName("team/app")
		env := archiveInputs(t, zr, image, "v1.0.0", markedStream(t, marker, archive))
		res := runArchive(t, env)
		t.Logf("%s", regexp.MustCompile(`Checked that .*`).FindString(res.stdout))
		wantLines(t, "right key", res.stdout, []string{
			`Checked that the registry takes the api-key of "ci" and lets it push to ` + zr.registry + "/" + image + " before anything is built",
			"a blob upload started; no blob, manifest or tag written; the registry refused to cancel the empty upload session (zot does for a user without its delete action)",
		}, nil)
		if _, err := os.Stat(marker); err != nil {
			t.Errorf("the stream program did not run: %v", err)
		}
	})
}

// TestPreflightDistribution: the distribution registry (htpasswd) answers
// the push check's upload 401 for a wrong password, before the stream
// runs, and lets the right one start and cancel it (the line says so,
// without a session left behind).
func TestPreflightDistribution(t *testing.T) {
	r := requireRig(t)
	fp := newFaultProxy(t, r)
	archive := nixStoreImage(t, "app", [2]string{"0c5g8wsvzkpmbx3k9vy0dfz6z4cjhd43-app-1.0", "app " + randomName("")})
	marker := filepath.Join(t.TempDir(), "ran")
	image := randomName("it/preflight")
	env := archiveInputs(t, r, image, "v1.0.0", markedStream(t, marker, archive))
	env["INPUT_IMAGE"] = fp.addr + "/" + image
	env["INPUT_API-KEY"] = "not-" + r.key
	res := runAction(t, env, nil)
	testcheck.OneErrorLine(t, res.stdout, "api-key: credentials rejected by "+fp.addr+" for username")
	testcheck.OneErrorLine(t, res.stdout, "(HTTP 401")
	if _, err := os.Stat(marker); err == nil {
		t.Errorf("the stream program ran before the key was proven")
	}
	if fp.count(kindPushCheck) == 0 {
		t.Errorf("no upload was started to check the key")
	}
	env["INPUT_API-KEY"] = r.key
	ok := runArchive(t, env)
	t.Logf("%s", regexp.MustCompile(`Checked that .*`).FindString(ok.stdout)) // what it costs: the time is in the line
	wantLines(t, "right key", ok.stdout, []string{"a blob upload started and cancelled; no blob, manifest or tag written"}, []string{"refused to cancel"})
}

// TestPreflightPlanWrongKey: the plan with a wrong key, on the real zot
// with anonymous read (where every look-up succeeds without it), fails
// in one line naming the key instead of planning builds that would all
// fail at their push; with the right key it checks each repository of
// an image to publish once, and says so; a repository the user may not
// push to (403, injected) fails the plan in one line naming it.
func TestPreflightPlanWrongKey(t *testing.T) {
	zr, _ := realZot(t, requireRig(t), testrig.WithAnonymousRead())
	fp := newFaultProxy(t, zr)
	prefix := randomName("plan")
	dir := testcheck.WriteTree(t, map[string]string{"nix/api/default.nix": nixFile("1.0.0"), "nix/web/default.nix": nixFile("2.0.0")})
	env := map[string]string{
		"INPUT_CONTEXTS": "nix/*", "INPUT_IMAGE": fp.addr + "/" + prefix + "/{name}", "INPUT_VERSION-FILE": "default.nix",
		"INPUT_VERSION-PATTERN": `version = "([^"]+)"`, "INPUT_REGISTRY-TLS": "disabled", "INPUT_USERNAME": zr.user, "INPUT_API-KEY": testcheck.ZotKey(),
	}
	res := runPlan(t, dir, env)
	if res.code != 1 {
		t.Fatalf("wrong key: exit %d, want 1\n%s", res.code, res.stdout)
	}
	testcheck.OneErrorLine(t, res.stdout, "api-key: credentials rejected by "+fp.addr+` for username "ci" (HTTP 401`)
	if res.outputs["count"] != "" {
		t.Errorf("count=%s with a wrong key, want no outputs", res.outputs["count"])
	}
	env["INPUT_API-KEY"] = zr.key
	mounts := fp.count(kindPushCheck)
	ok := runPlan(t, dir, env)
	if ok.code != 0 {
		t.Fatalf("right key: exit %d: %s", ok.code, errorLine(ok.stdout))
	}
	wantLines(t, "right key", ok.stdout, []string{`plan: Checked that the registry takes the api-key of "ci" and lets it push to 2 repositories`}, nil)
	if n := fp.count(kindPushCheck) - mounts; n < 2 || n > 4 {
		t.Errorf("%d upload requests, want one check per repository (2), each answered a login challenge at most once", n)
	}
	testcheck.NoSecret(t, zr.key, ok.all()...)

	fp.fail(kindPushCheck, -1, fault{status: http.StatusForbidden, authorized: true})
	denied := runPlan(t, dir, env)
	testcheck.OneErrorLine(t, denied.stdout, `username: "ci" may not push to `+fp.addr+"/"+prefix+"/")
	testcheck.OneErrorLine(t, denied.stdout, "or leave the image out of the plan")
}

// TestFirstErrorWins: the registry refuses the first layer's upload (401)
// while the stream program still writes the image; the action stops the
// program, and the one line names the registry's refusal, never the
// action's own kill of the program.
func TestFirstErrorWins(t *testing.T) {
	r := requireRig(t)
	fp := newFaultProxy(t, r).fail(kindBlobPut, -1, fault{status: 401, challenge: `Basic realm="registry"`})
	script := endlessStream(t)
	image := randomName("it/first-error")
	env := archiveInputs(t, r, image, "v1.0.0", script)
	env["INPUT_IMAGE"] = fp.addr + "/" + image
	start := time.Now()
	res := runAction(t, env, nil)
	took := time.Since(start)
	line := errorLine(res.stdout)
	t.Logf("%s (%s)", line, took.Round(time.Millisecond))
	testcheck.OneErrorLine(t, res.stdout, "api-key: credentials rejected by "+fp.addr)
	for _, unwanted := range []string{"killed", "the program writing the image failed"} {
		if strings.Contains(line, unwanted) {
			t.Errorf("the cause is the action's own stop of the program: %s", line)
		}
	}
	if fp.hits(kindBlobPut) == 0 {
		t.Errorf("no upload was refused: the test tested nothing")
	}
	if took > time.Minute {
		t.Errorf("took %s: the program was not stopped", took)
	}
}

// endlessStream is a program that writes a docker-archive as nix lays it
// out, a first small layer, then a second declared as 8 GiB whose zeros
// it writes from /dev/zero: it still writes when the first layer's
// upload fails.
func endlessStream(t *testing.T) string {
	t.Helper()
	var layer bytes.Buffer
	lw := tar.NewWriter(&layer)
	content := []byte("app " + randomName(""))
	_ = lw.WriteHeader(&tar.Header{Name: "app", Mode: 0o644, Size: int64(len(content)), ModTime: time.Unix(1, 0)})
	_, _ = lw.Write(content)
	_ = lw.Close()
	var prefix bytes.Buffer
	tw := tar.NewWriter(&prefix)
	sum := sha256.Sum256(layer.Bytes())
	_ = tw.WriteHeader(&tar.Header{Name: fmt.Sprintf("%x/layer.tar", sum), Mode: 0o444, Size: int64(layer.Len()), ModTime: time.Unix(1, 0)})
	_, _ = tw.Write(layer.Bytes())
	_ = tw.WriteHeader(&tar.Header{Name: fmt.Sprintf("%x/layer.tar", sha256.Sum256([]byte("big"))), Mode: 0o444, Size: 8 << 30, ModTime: time.Unix(1, 0)})
	_ = tw.Flush()
	dir := t.TempDir()
	head := writeBytes(t, filepath.Join(dir, "head.tar"), prefix.Bytes())
	script := filepath.Join(dir, "stream-app")
	body := fmt.Sprintf("#!/bin/sh\n/usr/bin/cat %s\nexec /usr/bin/head -c %d /dev/zero\n", head, int64(8<<30))
	if err := os.WriteFile(script, []byte(body), 0o755); err != nil {
		t.Fatal(err)
	}
	return script
}

// TestPreflightPlanNothingToPublish: on the real zot with anonymous read
// (where the look-ups succeed without the key), with every version
// published, the plan still proves the key, by an upload to the first
// image's repository: a wrong key fails in one line; the right one
// passes, also where the user may not push there (a 403, injected, comes
// after the login, and nothing is to be pushed).
func TestPreflightPlanNothingToPublish(t *testing.T) {
	r, _ := realZot(t, requireRig(t), testrig.WithAnonymousRead())
	fp := newFaultProxy(t, r)
	prefix := randomName("it/plan-published")
	seed := archiveInputs(t, r, prefix+"/api", "v1.0.0", tinyLayout(t, prefix))
	runArchive(t, seed)
	dir := testcheck.WriteTree(t, map[string]string{"nix/api/default.nix": nixFile("1.0.0")})
	env := map[string]string{
		"INPUT_CONTEXTS": "nix/*", "INPUT_IMAGE": fp.addr + "/" + prefix + "/{name}", "INPUT_VERSION-FILE": "default.nix",
		"INPUT_VERSION-PATTERN": `version\s*=\s*"([^"]+)"`, "INPUT_REGISTRY-TLS": "disabled", "INPUT_USERNAME": r.user, "INPUT_API-KEY": testcheck.ZotKey(),
	}
	wrong := runPlan(t, dir, env)
	testcheck.OneErrorLine(t, wrong.stdout, "api-key: credentials rejected by "+fp.addr)
	env["INPUT_API-KEY"] = r.key
	fp.fail(kindPushCheck, -1, fault{status: http.StatusForbidden, authorized: true})
	ok := runPlan(t, dir, env)
	if ok.code != 0 || ok.outputs["count"] != "0" {
		t.Fatalf("right key, nothing to publish, no right to push: exit %d, count %q: %s", ok.code, ok.outputs["count"], errorLine(ok.stdout))
	}
	wantLines(t, "right key", ok.stdout, []string{`Checked that the registry takes the api-key of "` + r.user + `"`, "nothing is to be published"}, nil)
	if fp.hits(kindPushCheck) == 0 {
		t.Errorf("the login was not checked")
	}
}

// TestActPlanWrongKey runs the README's nix plan + archive-leg workflow
// under act (changed only where a test must: runs-on, the registry, plain
// HTTP) against the real zot with anonymous read, with a wrong key in the
// secret: the plan job fails with the one line naming the key, and no leg
// runs nix-build (it would touch its marker).
func TestActPlanWrongKey(t *testing.T) {
	r := newActRig(t)
	zr, _ := realZot(t, requireRig(t), testrig.WithAnonymousRead())
	prefix, _ := unique(t)
	wf := editReadme(t, readmeBlock(t, "yaml", "archive: result\n          image: ${{ matrix.plan.image }}"), readmeCredentials(zr, prefix, 2)...)
	app := actRepo(t, r, map[string]string{
		".forgejo/workflows/images.yml": wf,
		"containers/lib/common.nix":     "{ }\n",
		"containers/app/default.nix":    "{ pkgs ? import <nixpkgs> { } }:\nlet\n  version = \"1.2.0\";\nin\npkgs.dockerTools.buildLayeredImage { name = \"app\"; tag = version; }\n",
	})
	writeBytes(t, filepath.Join(app, ".secrets"), []byte("REGISTRY_API_KEY="+testcheck.ZotKey()+"\n"))
	marker := filepath.Join(t.TempDir(), "built")
	bin := t.TempDir()
	writeBytes(t, filepath.Join(bin, "nix-build"), []byte("#!/bin/sh\ntouch "+marker+"\nexit 1\n"))
	if err := os.Chmod(filepath.Join(bin, "nix-build"), 0o755); err != nil {
		t.Fatal(err)
	}
	out, err := runActOutcome(t, r, app, 0, 1, `act push -W .forgejo/workflows/images.yml -P nix=-self-hosted --secret-file .secrets \
		--local-repository "blumeops/build-push-image@v2=$PWD/../build-push-image" \
		--action-offline-mode --env BUILD_PUSH_IMAGE_DOWNLOAD=false`, nil, "PATH="+bin+":"+filepath.Dir(r.act)+":"+os.Getenv("PATH"))
	if err == nil {
		t.Fatalf("act succeeded with a wrong key:\n%s", out)
	}
	t.Logf("%s", regexp.MustCompile(`::error::.*`).FindString(out))
	if n := strings.Count(out, "api-key: credentials rejected by "+zr.registry); n == 0 {
		t.Errorf("the plan job does not say the key was rejected:\n%s", out)
	}
	if _, err := os.Stat(marker); err == nil {
		t.Errorf("a leg ran nix-build after the plan failed")
	}
}

// TestActStreamWrongKey runs docs/usage.md's streamLayeredImage steps
// under act (changed only where a test must: the registry, plain HTTP)
// against the real zot with anonymous read, with a wrong key in the
// secret: the step fails with the one line naming the key, before the
// stream program starts (it never touches its marker).
func TestActStreamWrongKey(t *testing.T) {
	r := newActRig(t)
	zr, _ := realZot(t, requireRig(t), testrig.WithAnonymousRead())
	prefix, _ := unique(t)
	app := usageStreamApp(t, r, zr.registry+"/"+prefix)
	writeBytes(t, filepath.Join(app, ".secrets"), []byte("REGISTRY_API_KEY="+testcheck.ZotKey()+"\n"))
	marker := filepath.Join(t.TempDir(), "ran")
	stream := markedStream(t, marker, nixStoreImage(t, "app", [2]string{"0c5g8wsvzkpmbx3k9vy0dfz6z4cjhd43-app-1.2.0", "app " + randomName("")}))
	bin := t.TempDir()
	writeBytes(t, filepath.Join(bin, "nix-build"), []byte("#!/bin/sh\nln -sfn "+stream+" result\n"))
	if err := os.Chmod(filepath.Join(bin, "nix-build"), 0o755); err != nil {
		t.Fatal(err)
	}
	out, err := runActOutcome(t, r, app, 0, 1, `act push -W .forgejo/workflows/image.yml -P nix=-self-hosted --secret-file .secrets \
		--var REGISTRY_USER="$1" --local-repository "blumeops/build-push-image@v2=$PWD/../build-push-image" \
		--action-offline-mode --env BUILD_PUSH_IMAGE_DOWNLOAD=false --env BUILDKIT_HOST=unix:///nonexistent/buildkitd.sock`,
		[]string{zr.user}, "PATH="+bin+":"+filepath.Dir(r.act)+":"+os.Getenv("PATH"))
	t.Logf("%s", regexp.MustCompile(`::error::.*`).FindString(out))
	if err == nil {
		t.Fatalf("act succeeded with a wrong key:\n%s", out)
	}
	if !strings.Contains(out, "::error::api-key: credentials rejected by "+zr.registry) {
		t.Errorf("the step does not say the key was rejected:\n%s", out)
	}
	if _, err := os.Stat(marker); err == nil {
		t.Errorf("the stream program ran before the key was proven")
	}
}
