package plan

import (
	"context"
	"encoding/json"
	"errors"
	"reflect"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/regclient/regclient/types/ref"

	"github.com/blumeops/build-push-image/internal/config"
	"github.com/blumeops/build-push-image/internal/testcheck"
	"github.com/blumeops/build-push-image/internal/version"
)

// tree makes files (path → content) under a fresh directory and changes
// into it, as a job runs in its checkout.
func tree(t *testing.T, files map[string]string) {
	t.Helper()
	t.Chdir(testcheck.WriteTree(t, files))
}

func argPlan(globs ...string) config.Plan {
	return config.Plan{Contexts: globs, Image: "registry.example/team/{name}", Source: version.Source{Arg: "APP_VERSION", Prefix: "v"}}
}

// refOf is image as regclient reads it.
func refOf(t *testing.T, image string) ref.Ref {
	t.Helper()
	r, err := ref.New(image)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func TestFindDockerfiles(t *testing.T) {
	tree(t, map[string]string{
		"containers/b/Dockerfile": "ARG APP_VERSION=2.0.0\nFROM scratch\n",
		"containers/a/Dockerfile": "ARG BASE=scratch\nFROM ${BASE}\nARG APP_VERSION=v1.0.0\n",
		"containers/README.md":    "not an image",
		"containers/.cache/x":     "a hidden directory, as a shell's * skips it",
	})
	got, err := Find(argPlan("containers/*"))
	if err != nil {
		t.Fatal(err)
	}
	want := []Image{
		{Name: "a", Context: "containers/a", File: "containers/a/Dockerfile", Image: "registry.example/team/a", Ref: refOf(t, "registry.example/team/a"), Version: "v1.0.0", Tag: "v1.0.0",
			From: &version.Found{Version: "v1.0.0", Path: "containers/a/Dockerfile", Line: 3}},
		{Name: "b", Context: "containers/b", File: "containers/b/Dockerfile", Image: "registry.example/team/b", Ref: refOf(t, "registry.example/team/b"), Version: "v2.0.0", Tag: "v2.0.0",
			From: &version.Found{Version: "v2.0.0", Path: "containers/b/Dockerfile", Line: 1}},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("Find = %+v\nwant %+v", got, want)
	}
}

// TestFindNix: nix-style directories (default.nix, no Dockerfile), the
// version tag with the suffix.
func TestFindNix(t *testing.T) {
	tree(t, map[string]string{
		"nix/app/default.nix":  "{ pkgs }:\npkgs.dockerTools.buildLayeredImage {\n  name = \"app\";\n  version = \"3.1.0\";\n}\n",
		"nix/tool/default.nix": "{\n  version = \"0.4.2\";\n}\n",
	})
	pattern, err := version.ParsePattern(`version\s*=\s*"([^"]+)"`)
	if err != nil {
		t.Fatal(err)
	}
	cfg := config.Plan{Contexts: []string{"nix/*"}, Image: "registry.example/{name}", TagSuffix: "-nix",
		Source: version.Source{File: "default.nix", Pattern: pattern, Prefix: "v"}}
	got, err := Find(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got[0].Tag != "v3.1.0-nix" || got[0].Version != "v3.1.0" || got[0].File != "" || got[1].Tag != "v0.4.2-nix" {
		t.Errorf("Find = %+v; want app v3.1.0-nix and tool v0.4.2-nix, no Dockerfile", got)
	}
}

// TestFindBadInput: every bad directory or glob is one error of its own.
func TestFindBadInput(t *testing.T) {
	tree(t, map[string]string{
		"c/ok/Dockerfile":     "ARG APP_VERSION=1.0.0\nFROM scratch\n",
		"c/noarg/Dockerfile":  "FROM scratch\n",
		"c/broken/Dockerfile": "ARG APP_VERSION=\"1.0\nFROM scratch\n",
		"c/empty/.keep":       "",
		"d/ok/Dockerfile":     "ARG APP_VERSION=1.0.0\nFROM scratch\n",
		"e/Upper/Dockerfile":  "ARG APP_VERSION=1.0.0\nFROM scratch\n",
		"files/not-a-dir.txt": "x",
		"f/plus/Dockerfile":   "ARG APP_VERSION=1.0+1\nFROM scratch\n",
	})
	cfg := argPlan("c/*", "d/*", "e/*", "none/*", "files/*", "f/*")
	cfg.Exclude = []string{"d/gone"}
	cfg.FailUnversioned = true
	_, err := Find(cfg)
	want := []string{
		"version-arg: c/broken/Dockerfile: line 1: ARG APP_VERSION:",
		"contexts: directory c/empty has no Dockerfile; version-arg reads the version from it: add one, or leave the directory out with !c/empty",
		`contexts: "!d/gone" leaves out no directory the other globs match`,
		"version-arg: c/noarg/Dockerfile: no ARG APP_VERSION",
		"image: directories c/ok and d/ok both give registry.example/team/ok",
		`image: directory "Upper": "registry.example/team/Upper" must be lowercase`,
		`contexts: "none/*" matches no directory`,
		`contexts: "files/*" matches no directory`,
		`version-arg: the version read from f/plus/Dockerfile:1: "v1.0+1" contains '+'`,
	}
	got := config.ErrorList(err)
	if len(got) != len(want) {
		t.Fatalf("%d errors, want %d:\n%v", len(got), len(want), err)
	}
	for _, w := range want {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("no error %q in:\n%v", w, err)
		}
	}
}

// nixPlan is the users' plan: default.nix and the README's pattern.
func nixPlan(t *testing.T, globs ...string) config.Plan {
	t.Helper()
	pattern, err := version.ParsePattern(`version\s*=\s*"([^"]+)"`)
	if err != nil {
		t.Fatal(err)
	}
	cfg := config.Plan{Image: "registry.example/team/{name}", TagSuffix: "-nix",
		Source: version.Source{File: "default.nix", Pattern: pattern, Prefix: "v"}}
	for _, g := range globs {
		if x, ok := strings.CutPrefix(g, "!"); ok {
			cfg.Exclude = append(cfg.Exclude, x)
		} else {
			cfg.Contexts = append(cfg.Contexts, g)
		}
	}
	return cfg
}

// TestFindRealTree: a tree as the users' is: a directory that is no image
// (lib/, no default.nix), images tagged latest whose file names no
// version, and exclusions. Those that name no version are left out with
// the reason, the others planned, nothing fails; with FailUnversioned each
// is an error.
func TestFindRealTree(t *testing.T) {
	tree(t, map[string]string{
		"containers/app/default.nix":        "{ pkgs }:\nlet\n  version = \"2.0.1\";\nin pkgs.dockerTools.buildLayeredImage { name = \"app\"; tag = version; }\n",
		"containers/dex/default.nix":        "pkgs.dockerTools.buildLayeredImage {\n  name = \"team/dex\";\n  tag = \"latest\";\n}\n",
		"containers/lib/common.nix":         "{ }\n",
		"containers/old/default.nix":        "{ version = \"0.1.0\"; }\n",
		"containers/old/sub/default.nix":    "{ version = \"0.2.0\"; }\n",
		"containers/tools/cli/default.nix":  "{ version = \"1.4.0\"; }\n",
		"containers/tools/test/default.nix": "{ version = \"9.9.9\"; }\n",
	})
	got, err := Find(nixPlan(t, "containers/*", "containers/*/*", "!containers/old", "!containers/*/test"))
	if err != nil {
		t.Fatal(err)
	}
	var planned, left []string
	for _, img := range got {
		if img.Skipped != "" {
			left = append(left, img.Context+": "+img.Skipped)
		} else {
			planned = append(planned, img.Name+":"+img.Tag)
		}
	}
	if want := []string{"app:v2.0.1-nix", "cli:v1.4.0-nix"}; !slices.Equal(planned, want) {
		t.Errorf("planned %v, want %v (old and everything in it, tools/test excluded)", planned, want)
	}
	wantLeft := []string{
		"containers/dex: default.nix names no version",
		"containers/lib: no default.nix",
		"containers/tools: no default.nix",
	}
	if len(left) != len(wantLeft) {
		t.Fatalf("left out %q, want %q", left, wantLeft)
	}
	for i := range left {
		if left[i] != wantLeft[i] {
			t.Errorf("left out %q, want %q", left[i], wantLeft[i])
		}
	}

	strict := nixPlan(t, "containers/*", "!containers/old")
	strict.FailUnversioned = true
	_, err = Find(strict)
	for _, w := range []string{
		"version-file: version-pattern", "matches no version outside comments in containers/dex/default.nix",
		"version-file: cannot read containers/lib/default.nix", "version-file: cannot read containers/tools/default.nix",
	} {
		if err == nil || !strings.Contains(err.Error(), w) {
			t.Errorf("on-unversioned: fail: err %v, want %q", err, w)
		}
	}
	if n := len(config.ErrorList(err)); n != 3 {
		t.Errorf("on-unversioned: fail: %d errors, want one per directory without a version (3):\n%v", n, err)
	}
}

// TestSkippedIsNotLookedUp: a directory left out is not looked up, not in
// the matrix, and in all with its reason.
func TestSkippedIsNotLookedUp(t *testing.T) {
	images := []Image{
		{Name: "a", Context: "c/a", Image: "r.example/a", Ref: refOf(t, "r.example/a"), Version: "v1.0.0", Tag: "v1.0.0"},
		{Name: "lib", Context: "c/lib", Image: "r.example/lib", Skipped: "no default.nix"},
	}
	var looked []string
	res, err := Check(context.Background(), images, func(_ context.Context, repo ref.Ref, tag string) (bool, error) {
		looked = append(looked, repo.Reference+":"+tag)
		return false, nil
	})
	if err != nil || !slices.Equal(looked, []string{"r.example/a:v1.0.0"}) {
		t.Fatalf("looked up %v (%v), want a alone", looked, err)
	}
	out := map[string]string{}
	for _, kv := range Result(res).Outputs() {
		out[kv[0]] = kv[1]
	}
	if out["count"] != "1" || strings.Contains(out["images"], "lib") {
		t.Errorf("count %s, images %s: want a alone", out["count"], out["images"])
	}
	if want := `{"name":"lib","context":"c/lib","file":"","image":"r.example/lib","version":"","skipped":"no default.nix","published":false}`; !strings.Contains(out["all"], want) {
		t.Errorf("all %s\nlacks %s", out["all"], want)
	}
}

func TestCheck(t *testing.T) {
	var images []Image
	for i := range 100 {
		images = append(images, Image{Name: string(rune('a' + i%26)), Image: "r.example/x" + string(rune('a'+i%26)), Tag: "v1.0." + string(rune('0'+i%10))})
	}
	var running, most atomic.Int32
	published := func(ctx context.Context, _ ref.Ref, tag string) (bool, error) {
		n := running.Add(1)
		defer running.Add(-1)
		for m := most.Load(); n > m && !most.CompareAndSwap(m, n); m = most.Load() {
		}
		time.Sleep(2 * time.Millisecond)
		return strings.HasSuffix(tag, "0"), nil
	}
	res, err := Check(context.Background(), images, published)
	if err != nil {
		t.Fatal(err)
	}
	for i, s := range res {
		if s.Image != images[i] || s.Published != strings.HasSuffix(images[i].Tag, "0") {
			t.Fatalf("result %d: %+v, want image %+v in order", i, s, images[i])
		}
	}
	if m := most.Load(); m > Concurrency || m < 2 {
		t.Errorf("%d look-ups at once, want 2 to %d", m, Concurrency)
	}
	boom := errors.New("boom")
	_, err = Check(context.Background(), images, func(context.Context, ref.Ref, string) (bool, error) { return false, boom })
	var le *LookupError
	if !errors.As(err, &le) || !errors.Is(err, boom) || le.Tag == "" {
		t.Errorf("err %v, want a LookupError naming the tag, wrapping the cause", err)
	}
}

func TestOutputs(t *testing.T) {
	a := Image{Name: "a", Context: "c/a", File: "c/a/Dockerfile", Image: "r.example/a", Version: "v1.0.0", Tag: "v1.0.0-nix"}
	b := Image{Name: "b", Context: "c/b", Image: "r.example/b", Version: "v2.0.0", Tag: "v2.0.0-nix"}
	out := map[string]string{}
	for _, kv := range (Result{{Image: a, Published: true}, {Image: b}}).Outputs() {
		out[kv[0]] = kv[1]
	}
	if want := `{"include":[{"name":"b","context":"c/b","file":"","image":"r.example/b","version":"v2.0.0"}]}`; out["matrix"] != want {
		t.Errorf("matrix %s\nwant   %s", out["matrix"], want)
	}
	if want := `[{"name":"b","context":"c/b","file":"","image":"r.example/b","version":"v2.0.0"}]`; out["images"] != want {
		t.Errorf("images %s\nwant   %s", out["images"], want)
	}
	if out["count"] != "1" {
		t.Errorf("count %q, want 1", out["count"])
	}
	var all []map[string]any
	if err := json.Unmarshal([]byte(out["all"]), &all); err != nil || len(all) != 2 || all[0]["published"] != true || all[1]["published"] != false || all[0]["name"] != "a" {
		t.Errorf("all %s (%v), want a published and b not", out["all"], err)
	}
	empty := map[string]string{}
	for _, kv := range Result(nil).Outputs() {
		empty[kv[0]] = kv[1]
	}
	if empty["matrix"] != `{"include":[]}` || empty["images"] != "[]" || empty["count"] != "0" || empty["all"] != "[]" {
		t.Errorf("empty plan: %v, want an empty include, count 0, all []", empty)
	}
}
