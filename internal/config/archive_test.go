package config

import (
	"bytes"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/blumeops/build-push-image/internal/testcheck"
)

// archiveInputs are valid inputs that push an archive: no context, no
// Dockerfile, no buildkitd.
func archiveInputs(t *testing.T) map[string]string {
	t.Helper()
	dir := t.TempDir()
	archive := filepath.Join(dir, "image.tar")
	if err := os.WriteFile(archive, []byte("read after the guard"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(archive, filepath.Join(dir, "result")); err != nil {
		t.Fatal(err)
	}
	env := testcheck.ValidInputs(dir)
	delete(env, "INPUT_CONTEXT")
	delete(env, "INPUT_BUILDKIT-ADDRESS")
	env["INPUT_ARCHIVE"] = filepath.Join(dir, "result")
	return env
}

func TestArchiveNeedsNoBuild(t *testing.T) {
	env := archiveInputs(t)
	env["BUILDKIT_HOST"] = "not an address" // not read: no buildkitd is contacted
	env["INPUT_REUSE-FROM"] = "v1.1.0\nv1.0.0-nix"
	env["INPUT_ARCHIVE-IMAGE"] = "app:1.2"
	cfg, err := loadConfig(nil, testcheck.Lookup(env), &bytes.Buffer{})
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Origin.Path != env["INPUT_ARCHIVE"] || cfg.ArchiveImage != "app:1.2" || !slices.Equal(cfg.ReuseFrom, []Reuse{{Line: "v1.1.0", Own: true, Tag: "v1.1.0"}, {Line: "v1.0.0-nix", Own: true, Tag: "v1.0.0-nix"}}) {
		t.Errorf("archive %q image %q reuse-from %+v", cfg.Origin.Path, cfg.ArchiveImage, cfg.ReuseFrom)
	}
	if cfg.ArchiveIdle != 2*time.Minute { // action.yml's default
		t.Errorf("archive-idle-timeout %s, want 2m", cfg.ArchiveIdle)
	}
	env["INPUT_ARCHIVE-IDLE-TIMEOUT"] = "90s"
	if cfg, err := loadConfig(nil, testcheck.Lookup(env), &bytes.Buffer{}); err != nil || cfg.ArchiveIdle != 90*time.Second {
		t.Errorf("archive-idle-timeout: 90s gave %s, %v", cfg.ArchiveIdle, err)
	}
}

// TestArchiveVersionFileInContext: with archive, context is where
// version-file is read from (a plan row's context), so a plan row drives
// an archive leg as it drives a build.
func TestArchiveVersionFileInContext(t *testing.T) {
	env := archiveInputs(t)
	dir := filepath.Dir(env["INPUT_ARCHIVE"])
	if err := os.MkdirAll(filepath.Join(dir, "containers/app"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "containers/app/default.nix"), []byte("{ version = \"2.0.1\"; }\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Chdir(dir)
	delete(env, "INPUT_VERSION")
	env["INPUT_CONTEXT"] = "containers/app"
	env["INPUT_VERSION-FILE"] = "default.nix"
	env["INPUT_VERSION-PATTERN"] = `version\s*=\s*"([^"]+)"`
	env["INPUT_VERSION-PREFIX"] = "v"
	cfg, err := loadConfig(nil, testcheck.Lookup(env), &bytes.Buffer{})
	if err != nil || cfg.Version != "v2.0.1" {
		t.Fatalf("version %q, %v: want v2.0.1 from containers/app/default.nix", cfg.Version, err)
	}
	env["INPUT_CONTEXT"] = "containers/gone"
	testcheck.OneErrorLine(t, loadErrors(t, env), `context: directory "containers/gone" not found`)
	delete(env, "INPUT_VERSION-FILE")
	delete(env, "INPUT_VERSION-PATTERN")
	env["INPUT_VERSION"] = "v1.0.0"
	env["INPUT_CONTEXT"] = "containers/app"
	testcheck.OneErrorLine(t, loadErrors(t, env), "archive: context is for building an image")
}

// TestArchiveTransports: skopeo's docker-archive:, oci-archive: and oci:
// before the path name the same archive.
func TestArchiveTransports(t *testing.T) {
	env := archiveInputs(t)
	path := env["INPUT_ARCHIVE"]
	for _, transport := range []string{"docker-archive:", "oci-archive:", "oci:"} {
		env["INPUT_ARCHIVE"] = transport + path
		cfg, err := loadConfig(nil, testcheck.Lookup(env), &bytes.Buffer{})
		if err != nil || cfg.Origin.Path != path {
			t.Errorf("%s: archive %q, %v; want %s", transport, cfg.Origin.Path, err, path)
		}
	}
}

func TestArchiveInputErrors(t *testing.T) {
	for _, tc := range []struct {
		name string
		set  map[string]string
		want string
	}{
		{"build inputs given", map[string]string{"INPUT_FILE": "Dockerfile", "INPUT_PLATFORMS": "linux/amd64", "INPUT_BUILDKIT-ADDRESS": "tcp://127.0.0.1:1234", "INPUT_PUSH-VIA": "action"},
			"archive: file, push-via, buildkit-address are for building an image, and archive pushes one already built; remove them, or remove archive to build"},
		{"one build input", map[string]string{"INPUT_NO-CACHE": "true"}, "archive: no-cache is for building an image, and archive pushes one already built; remove it, or remove archive to build"},
		{"archive missing", map[string]string{"INPUT_ARCHIVE": "nope/result"}, `archive: "nope/result" not found; give the path of a docker-archive`},
		{"archive leaves the workspace", map[string]string{"INPUT_ARCHIVE": "../result"}, `archive: "../result" leaves the workspace`},
		{"transport, then a path not found", map[string]string{"INPUT_ARCHIVE": "docker-archive:nope/result"}, `archive: "nope/result" not found after docker-archive:; give the path of the archive (skopeo's image name after it goes in archive-image)`},
		{"archive-image of two lines", map[string]string{"INPUT_ARCHIVE-IMAGE": "app:1\napp:2"}, "archive-image: one image"},
		{"reuse-from not a tag", map[string]string{"INPUT_REUSE-FROM": "v1\n-bad"}, `reuse-from: line 2: "-bad" is not a valid tag`},
		{"archive-idle-timeout not a duration", map[string]string{"INPUT_ARCHIVE-IDLE-TIMEOUT": "ten"}, `archive-idle-timeout: "ten" must be a duration from 1s to 24h0m0s, e.g. 2m or 90s`},
		{"archive-idle-timeout too short", map[string]string{"INPUT_ARCHIVE-IDLE-TIMEOUT": "10ms"}, `archive-idle-timeout: "10ms" must be a duration from 1s`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			env := archiveInputs(t)
			for k, v := range tc.set {
				env[k] = v
			}
			testcheck.OneErrorLine(t, loadErrors(t, env), tc.want)
		})
	}
}

func TestArchiveOnlyInputsNeedArchive(t *testing.T) {
	for _, name := range archiveOnly {
		env := testcheck.ValidInputs(testcheck.Workspace(t))
		env["INPUT_"+strings.ToUpper(name)] = "v1"
		testcheck.OneErrorLine(t, loadErrors(t, env), name+": only used with archive")
	}
}

// TestArchiveListsNameInputs: buildOnly and archiveOnly hold names, not
// inputs, so a renamed input would drop out of them silently (a build
// input with archive would be ignored instead of refused).
func TestArchiveListsNameInputs(t *testing.T) {
	for _, name := range slices.Concat(buildOnly, archiveOnly) {
		if !slices.ContainsFunc(actionInputs, func(in Input) bool { return in.Name == name }) {
			t.Errorf("%s is not an input of action.yml", name)
		}
	}
}
