package e2e

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"

	"github.com/blumeops/build-push-image/internal/testcheck"
	"github.com/blumeops/build-push-image/internal/testrig"
)

// Streams as nixpkgs' streamLayeredImage leaves them: result is a symlink
// to a script in /nix/store that runs the generator (e2e/nixstream, which
// writes what stream_layered_image.py writes) on a conf.json naming real
// store paths under /nix/store. The action runs it with a PATH holding
// git alone.

// nixStore is one test's store paths, removed when it ends.
type nixStore struct {
	t     *testing.T
	paths []string
}

var (
	nixstreamOnce sync.Once
	nixstreamBin  string
)

// newStore makes the test's /nix/store paths' owner.
func newStore(t *testing.T) *nixStore {
	t.Helper()
	if err := os.MkdirAll("/nix/store", 0o755); err != nil {
		t.Fatal(err)
	}
	s := &nixStore{t: t}
	t.Cleanup(func() {
		for _, p := range s.paths {
			_ = os.RemoveAll(p)
		}
	})
	return s
}

// path makes a new store path named name (a fresh hash) and returns it.
func (s *nixStore) path(name string) string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	p := "/nix/store/" + hex.EncodeToString(b) + "-" + name
	s.paths = append(s.paths, p)
	return p
}

// package_ is a store path holding a program, a library, a symlink and a
// hard link: bytes of seed.
func (s *nixStore) package_(name string, seed string, size int) string {
	s.t.Helper()
	p := s.path(name)
	for _, d := range []string{"bin", "lib"} {
		if err := os.MkdirAll(filepath.Join(p, d), 0o755); err != nil {
			s.t.Fatal(err)
		}
	}
	data := bytes.Repeat([]byte(seed+" "), size/(len(seed)+1))
	writeBytes(s.t, filepath.Join(p, "bin", name), append([]byte("#!/bin/sh\n"), data...))
	writeBytes(s.t, filepath.Join(p, "lib", "lib"+name+".so"), []byte(seed+" library"))
	if err := os.Symlink("../lib/lib"+name+".so", filepath.Join(p, "bin", "link")); err != nil {
		s.t.Fatal(err)
	}
	if err := os.Link(filepath.Join(p, "lib", "lib"+name+".so"), filepath.Join(p, "lib", "hard.so")); err != nil {
		s.t.Fatal(err)
	}
	return p
}

// generator is the nixstream binary, in the store as nix would keep it.
func (s *nixStore) generator() string {
	s.t.Helper()
	nixstreamOnce.Do(func() {
		dir, err := os.MkdirTemp("", "bpi-nixstream-")
		if err != nil {
			s.t.Fatal(err)
		}
		nixstreamBin = filepath.Join(dir, "nixstream")
		if out, err := exec.Command("go", "build", "-o", nixstreamBin, "./e2e/nixstream").CombinedOutput(); err != nil {
			s.t.Fatalf("go build nixstream: %v\n%s", err, out)
		}
	})
	p := s.path("stream-generator")
	s.t.Helper()
	if err := os.MkdirAll(filepath.Join(p, "bin"), 0o755); err != nil {
		s.t.Fatal(err)
	}
	copyFile(s.t, nixstreamBin, filepath.Join(p, "bin", "nixstream"))
	return filepath.Join(p, "bin", "nixstream")
}

func copyFile(t *testing.T, from, to string) {
	t.Helper()
	b := readAll(t, from)
	if err := os.WriteFile(to, b, 0o755); err != nil {
		t.Fatal(err)
	}
}

// nixImage is an image streamLayeredImage would stream: one layer per
// package, the customisation layer, the config.
type nixImage struct {
	packages []string
	arch     string
}

// stream writes the image's conf.json and stream script into the store
// and returns the script's path.
func (s *nixStore) stream(img nixImage) string {
	s.t.Helper()
	gen := s.generator()
	custom := s.path("customisation-layer")
	if err := os.MkdirAll(custom, 0o755); err != nil {
		s.t.Fatal(err)
	}
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	_ = tw.WriteHeader(&tar.Header{Typeflag: tar.TypeSymlink, Name: "./bin", Linkname: filepath.Join(img.packages[0], "bin"), Mode: 0o777})
	_ = tw.Close()
	writeBytes(s.t, filepath.Join(custom, "layer.tar"), buf.Bytes())
	sum := sha256.Sum256(buf.Bytes())
	writeBytes(s.t, filepath.Join(custom, "checksum"), []byte(hex.EncodeToString(sum[:])+"\n"))
	layers := make([][]string, len(img.packages))
	for i, p := range img.packages {
		layers[i] = []string{p}
	}
	conf, _ := json.Marshal(map[string]any{
		"architecture": cmpOr(img.arch, "amd64"), "created": "1970-01-01T00:00:01+00:00", "mtime": "1970-01-01T00:00:01+00:00",
		"config": map[string]any{"Cmd": []string{"/bin/" + filepath.Base(img.packages[0])[33:]}}, "repo_tag": "app:nix",
		"uid": 0, "gid": 0, "uname": "root", "gname": "root", "store_dir": "/nix/store",
		"store_layers": layers, "customisation_layer": custom,
	})
	confPath := s.path("conf.json")
	writeBytes(s.t, confPath, conf)
	script := s.path("stream-app")
	s.script(script, "exec "+gen+" "+confPath+"\n")
	return script
}

func cmpOr(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

// script writes an executable store path that runs body with /bin/sh.
func (s *nixStore) script(path, body string) {
	s.t.Helper()
	if err := os.WriteFile(path, []byte("#!/bin/sh\n"+body), 0o555); err != nil {
		s.t.Fatal(err)
	}
}

// result is a workspace's symlink named result to target, as nix-build
// leaves it.
func (s *nixStore) result(target string) string {
	s.t.Helper()
	return resultIn(s.t, s.t.TempDir(), target)
}

func resultIn(t *testing.T, dir, target string) string {
	t.Helper()
	link := filepath.Join(dir, "result")
	if err := os.Symlink(target, link); err != nil {
		t.Fatal(err)
	}
	return link
}

// output runs the stream and returns what it writes.
func output(t *testing.T, result string) []byte {
	t.Helper()
	out, err := exec.Command(result).Output()
	if err != nil {
		t.Fatalf("%s: %v", result, err)
	}
	return out
}

// TestStreamPush publishes streams laid out as streamLayeredImage writes
// them, to the rig's registry and to zot: the config kept, layers that
// unpack to the store paths, the same digest as the gzipped archive of
// the same image; a next release with one store path changed uploads one
// layer and the config; standard input; and every way a stream fails.
func TestStreamPush(t *testing.T) {
	r := requireRig(t)
	zr, zfp := zotTarget(t, r)
	s := newStore(t)
	pkgs := []string{s.package_("hello", "hello", 300<<10), s.package_("libfoo", "foo", 200<<10), s.package_("tools", "tools", 100<<10)}
	result := s.result(s.stream(nixImage{packages: pkgs}))
	fp := newFaultProxy(t, r)
	image := randomName("it/stream")
	env := archiveInputs(t, r, image, "v1.0.0", result)
	env["INPUT_IMAGE"] = fp.addr + "/" + image
	first := runArchive(t, env)
	wantLine(t, first.stdout, "Running "+result)
	wantLine(t, first.stdout, "Creating layer 4 with customisation...")
	wantTagged(t, r, image, first)
	wantStreamPushed(t, r, image, first.outputs["digest"], output(t, result), pkgs)

	t.Run("gzipped archive of the same image, same digest", func(t *testing.T) {
		var gz bytes.Buffer
		zw, _ := gzip.NewWriterLevel(&gz, gzip.BestSpeed)
		_, _ = zw.Write(output(t, result))
		_ = zw.Close()
		archive := writeBytes(t, filepath.Join(t.TempDir(), "image.tar.gz"), gz.Bytes())
		res := runArchive(t, archiveInputs(t, r, randomName("it/stream-gz"), "v1.0.0", archive))
		if res.outputs["digest"] != first.outputs["digest"] {
			t.Errorf("gzipped archive: digest %s, the stream's %s", res.outputs["digest"], first.outputs["digest"])
		}
	})
	t.Run("standard input", func(t *testing.T) {
		env := archiveInputs(t, r, randomName("it/stream-stdin"), "v1.0.0", "-")
		cmd := actionCommand(t, t.Context(), env)
		cmd.Stdin = bytes.NewReader(output(t, result))
		res := runCommand(t, cmd, nil)
		if res.code != 0 || res.outputs["digest"] != first.outputs["digest"] {
			t.Errorf("archive: -: exit %d digest %s, want 0 and %s\n%s", res.code, res.outputs["digest"], first.outputs["digest"], res.stdout)
		}
	})
	t.Run("next release, one store path changed", func(t *testing.T) {
		changed := s.result(s.stream(nixImage{packages: []string{pkgs[0], s.package_("libfoo", "foo2", 200<<10), pkgs[2]}}))
		before := fp.count(kindBlobPut)
		env := archiveInputs(t, r, image, "v1.0.1", changed)
		env["INPUT_IMAGE"] = fp.addr + "/" + image
		env["INPUT_SHA"] = strings.Repeat("b", 40)
		res := runArchive(t, env)
		if n := fp.count(kindBlobPut) - before; n != 2 {
			t.Errorf("next release uploaded %d blobs, want 2 (the changed layer and the config)\n%s", n, res.stdout)
		}
		wantLine(t, res.stdout, "4 layers: 3 reused from the registry, 1 compressed")
	})
	t.Run("guard first: a taken version starts no program", func(t *testing.T) {
		marker := filepath.Join(t.TempDir(), "ran")
		spy := s.path("stream-spy")
		s.script(spy, "echo ran > "+marker+"\nexec "+result+"\n")
		env := archiveInputs(t, r, image, "v1.0.0", s.result(spy))
		res := runAction(t, env, nil)
		if res.code != 1 {
			t.Fatalf("exit %d, want 1\n%s", res.code, res.stdout)
		}
		testcheck.OneErrorLine(t, res.stdout, "version tag v1.0.0 already exists")
		if _, err := os.Stat(marker); err == nil {
			t.Error("the program ran before the guard refused")
		}
	})
	t.Run("zot", func(t *testing.T) {
		image := randomName("it/stream")
		env := archiveInputs(t, zr, image, "v1.0.0", result)
		env["INPUT_IMAGE"] = zfp.addr + "/" + image
		res := runArchive(t, env)
		if res.outputs["digest"] != first.outputs["digest"] {
			t.Errorf("zot: digest %s, want %s", res.outputs["digest"], first.outputs["digest"])
		}
		wantTagged(t, zr, image, res)
	})
	t.Run("failures", func(t *testing.T) {
		streamFailures(t, r, s, output(t, result))
	})
}

// wantStreamPushed checks the image the version tag names: the stream's
// own config, and layers that unpack to the store paths' bytes.
func wantStreamPushed(t *testing.T, r rig, image, digest string, stream []byte, pkgs []string) {
	t.Helper()
	var config []byte
	tr := tar.NewReader(bytes.NewReader(stream))
	for {
		h, err := tr.Next()
		if err != nil {
			break
		}
		if strings.HasSuffix(h.Name, ".json") && h.Name != "manifest.json" {
			config, _ = io.ReadAll(tr)
		}
	}
	p := pull(t, r, image, "v1.0.0")
	if p.digest.String() != digest {
		t.Errorf("v1.0.0 names %s, the run said %s", p.digest, digest)
	}
	if got := readAll(t, filepath.Join(p.dir, p.manifest.Config.Digest.Encoded())); !bytes.Equal(got, config) {
		t.Errorf("config pushed\n%s\nwant the stream's\n%s", got, config)
	}
	root := t.TempDir()
	for _, l := range p.manifest.Layers {
		untar(t, decompressed(t, filepath.Join(p.dir, l.Digest.Encoded()), "+gzip"), root)
	}
	for _, pkg := range pkgs {
		name := filepath.Base(pkg)[33:]
		for _, f := range []string{"bin/" + name, "lib/lib" + name + ".so", "lib/hard.so"} {
			if got, want := readAll(t, filepath.Join(root, pkg, f)), readAll(t, filepath.Join(pkg, f)); !bytes.Equal(got, want) {
				t.Errorf("%s/%s: %d bytes unpacked, want the store path's %d", pkg, f, len(got), len(want))
			}
		}
	}
}

// streamFailures: a program that exits non-zero, output cut short, a
// layer whose bytes do not match its name: one line naming archive, exit
// 1, nothing tagged, the program and its children stopped, nothing left
// in the temporary directory.
func streamFailures(t *testing.T, r rig, s *nixStore, good []byte) {
	corrupt := bytes.Clone(good)
	tr := tar.NewReader(bytes.NewReader(good))
	if _, err := tr.Next(); err != nil { // the first layer: flip a byte deep in it
		t.Fatal(err)
	}
	corrupt[512*3+1000] ^= 0xff
	dir := t.TempDir()
	goodFile := writeBytes(t, filepath.Join(dir, "good.tar"), good)
	corruptFile := writeBytes(t, filepath.Join(dir, "corrupt.tar"), corrupt)
	for _, c := range []struct{ name, body, want string }{
		{"exits non-zero", fmt.Sprintf("/usr/bin/head -c %d %s; echo 'error: out of disk' >&2; exit 3\n", len(good)/2, goodFile),
			"the program writing the image failed: it exited with status 3; its last lines: error: out of disk"},
		{"exits non-zero after the whole image", fmt.Sprintf("/usr/bin/cat %s; exit 4\n", goodFile), "it exited with status 4"},
		{"cut short", fmt.Sprintf("/usr/bin/head -c %d %s\n", len(good)/2, goodFile), "it is truncated"},
		{"layer bytes not its name", fmt.Sprintf("/usr/bin/cat %s\n", corruptFile), "but the config says its diff ID is"},
	} {
		t.Run(c.name, func(t *testing.T) {
			pidFile := filepath.Join(t.TempDir(), "child")
			script := s.path("stream-bad")
			s.script(script, "/usr/bin/sleep 300 >/dev/null 2>&1 &\necho $! > "+pidFile+"\n"+c.body)
			image := randomName("it/stream-bad")
			env := archiveInputs(t, r, image, "v1.0.0", s.result(script))
			res := runAction(t, env, nil)
			if res.code != 1 {
				t.Fatalf("exit %d, want 1\n%s", res.code, res.stdout)
			}
			testcheck.OneErrorLine(t, res.stdout, "archive: ")
			wantLine(t, res.stdout, c.want)
			if _, status := r.headDigest(t, image, "v1.0.0"); status != 404 {
				t.Errorf("v1.0.0: status %d, want 404: nothing tagged", status)
			}
			if left := actionLeftovers(t, res.runnerTemp); len(left) > 0 {
				t.Errorf("RUNNER_TEMP holds %v", left)
			}
			wantProcessGone(t, pidFile)
		})
	}
}

// wantProcessGone fails when the process whose PID the file holds still
// runs (a zombie left for init to reap has stopped).
func wantProcessGone(t *testing.T, pidFile string) {
	t.Helper()
	pid := strings.TrimSpace(string(readAll(t, pidFile)))
	stat, err := os.ReadFile("/proc/" + pid + "/stat")
	if err != nil {
		return
	}
	if _, after, _ := strings.Cut(string(stat), ") "); !strings.HasPrefix(after, "Z") {
		t.Errorf("the program's child %s still runs", pid)
	}
}

// TestStreamCannotReadTheKey runs the step as a runner does, as a user
// that is not root: a shell without the key (the runner) starts the step's
// shell with the key in its environment, which runs action.yml's run: line
// (scripts/action.sh, then the program, from the tool cache). The stream
// program reads its own, its parent's and grandparent's
// /proc/<pid>/environ: the key is in none (the parent is the program, not dumpable; the
// grandparent never had it), though the grandparent's is readable.
func TestStreamCannotReadTheKey(t *testing.T) {
	r := requireRig(t)
	as := rootless(t)
	st := stampedBinaries(t)
	s := newStore(t)
	action := filepath.Join(as.dir(t, ""), "action")
	if out, err := exec.Command("cp", "-a", st.action, action).CombinedOutput(); err != nil {
		t.Fatalf("cp: %v\n%s", err, out)
	}
	if err := os.MkdirAll(filepath.Join(action, "scripts"), 0o755); err != nil {
		t.Fatal(err)
	}
	copyFile(t, "scripts/action.sh", filepath.Join(action, "scripts", "action.sh"))
	cache := as.dir(t, "cache")
	bin := filepath.Join(cache, "build-push-image", st.commit, platform, "build-push-image")
	if err := os.MkdirAll(filepath.Dir(bin), 0o755); err != nil {
		t.Fatal(err)
	}
	copyFile(t, st.own, bin)
	work := as.dir(t, "work")
	if out, err := exec.Command("chown", "-R", fmt.Sprintf("%d:%d", as.uid, as.gid), as.root).CombinedOutput(); err != nil {
		t.Fatalf("chown: %v\n%s", err, out)
	}

	// The stream program: the environ of its parent and grandparent, then
	// the image.
	stream := s.stream(nixImage{packages: []string{s.package_("hello", "hello", 10<<10)}})
	spy := s.path("stream-spy")
	dump := filepath.Join(work, "environ")
	s.script(spy, fmt.Sprintf(`gp=$(awk '{print $4}' /proc/$PPID/stat)
for p in $$ $PPID $gp; do
	if cat /proc/$p/environ > %[1]s.$p 2>/dev/null; then echo "read $p" >> %[1]s; else echo "refused $p" >> %[1]s; fi
	cat %[1]s.$p >> %[1]s.all 2>/dev/null || true
done
echo "parent $PPID grandparent $gp" >> %[1]s
exec %[2]s
`, dump, stream))
	result := resultIn(t, work, spy)
	as.chown(t, result)

	image := randomName("it/stream-key")
	env := archiveInputs(t, r, image, "v1.0.0", result)
	key := env["INPUT_API-KEY"]
	delete(env, "INPUT_API-KEY")
	step := filepath.Join(work, "step.sh")
	as.write(t, step, actionRunLine(t)+"\n")
	// The inputs go to the step through env's arguments: dash, the
	// stand-in runner, drops variables whose names hold a hyphen.
	args := []string{"-c", `IFS= read -r k; exec 0</dev/null; env "INPUT_API-KEY=$k" "$@"; echo "step exit $?"`, "runner"}
	for k, v := range env {
		if k != "PATH" {
			args = append(args, k+"="+v)
		}
	}
	args = append(args, "bash", "--noprofile", "--norc", "-eo", "pipefail", step)
	runner := exec.Command("/bin/sh", args...)
	runner.Dir = work
	runner.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: uint32(as.uid), Gid: uint32(as.gid)}}
	runner.Stdin = strings.NewReader(key + "\n")
	runner.Env = []string{"PATH=" + env["PATH"] + ":/usr/bin:/bin", "HOME=" + as.home, "RUNNER_TOOL_CACHE=" + cache, "BPI_ACTION_PATH=" + action,
		"BUILD_PUSH_IMAGE_DOWNLOAD=false", "GITHUB_OUTPUT=" + filepath.Join(work, "output"), "RUNNER_TEMP=" + work}
	out, err := runner.CombinedOutput()
	if err != nil || !strings.Contains(string(out), "step exit 0") {
		t.Fatalf("step: %v\n%s", err, out)
	}
	log := string(readAll(t, dump))
	t.Logf("the program's view:\n%s", log)
	lines := strings.Split(strings.TrimSpace(log), "\n")
	if len(lines) != 4 || !strings.HasPrefix(lines[0], "read ") || !strings.HasPrefix(lines[1], "refused ") || !strings.HasPrefix(lines[2], "read ") {
		t.Errorf("want its own environ read, the parent's refused and the grandparent's read, got %q", lines)
	}
	all, _ := os.ReadFile(dump + ".all")
	if !bytes.Contains(all, []byte("BPI_ACTION_PATH=")) {
		t.Errorf("the grandparent's environ was not read: the test proves nothing")
	}
	testcheck.NoSecret(t, key, string(all), string(out))
	if d, _ := r.headDigest(t, image, "v1.0.0"); d == "" {
		t.Errorf("the image was not published\n%s", out)
	}
}

// actionRunLine is action.yml's run: line, the step's script.
func actionRunLine(t *testing.T) string {
	t.Helper()
	for _, line := range strings.Split(string(readAll(t, "action.yml")), "\n") {
		if run, ok := strings.CutPrefix(strings.TrimSpace(line), "run: "); ok {
			return run
		}
	}
	t.Fatal("action.yml has no run: line")
	return ""
}

// TestStreamPullRequestCheck: push: false with archive and no key, against
// a real zot that answers anonymous reads (as the users'): the version tag
// absent, this very image, another image; and a registry that refuses
// anonymous reads (the rig's): a warning, the check all the same. Nothing
// is written (counted at the registry).
func TestStreamPullRequestCheck(t *testing.T) {
	r := requireRig(t)
	zr, _ := realZot(t, r, testrig.WithAnonymousRead())
	fp := newFaultProxy(t, zr)
	s := newStore(t)
	pkgs := []string{s.package_("hello", "hello", 100<<10), s.package_("libfoo", "foo", 100<<10)}
	stream := s.result(s.stream(nixImage{packages: pkgs}))
	other := s.result(s.stream(nixImage{packages: []string{pkgs[0], s.package_("libfoo", "foo3", 100<<10)}}))
	image := randomName("it/stream-pr")
	env := archiveInputs(t, zr, image, "v1.0.0", stream)
	env["INPUT_IMAGE"] = fp.addr + "/" + image
	pushed := runArchive(t, env)

	check := func(t *testing.T, version, archive string) result {
		t.Helper()
		env := archiveInputs(t, zr, image, version, archive)
		env["INPUT_IMAGE"] = fp.addr + "/" + image
		env["INPUT_PUSH"] = "false"
		env["INPUT_PLATFORMS"] = "linux/amd64"
		delete(env, "INPUT_USERNAME")
		delete(env, "INPUT_API-KEY")
		before := countWrites(fp)
		res := runAction(t, env, nil)
		if n := countWrites(fp) - before; n != 0 {
			t.Errorf("the check wrote %d times, want never", n)
		}
		return res
	}
	t.Run("this very image", func(t *testing.T) {
		res := check(t, "v1.0.0", stream)
		if res.code != 0 || res.outputs["digest"] != pushed.outputs["digest"] {
			t.Fatalf("exit %d digest %s, want 0 and %s\n%s", res.code, res.outputs["digest"], pushed.outputs["digest"], res.stdout)
		}
		wantLine(t, res.stdout, "v1.0.0 is published already as this very image")
	})
	t.Run("another image", func(t *testing.T) {
		res := check(t, "v1.0.0", other)
		if res.code != 1 {
			t.Fatalf("exit %d, want 1\n%s", res.code, res.stdout)
		}
		testcheck.OneErrorLine(t, res.stdout, "version tag v1.0.0 already exists in "+fp.addr+"/"+image+" ("+pushed.outputs["digest"]+") and names another image")
		wantLine(t, res.stdout, "already published: bump the version")
	})
	t.Run("absent", func(t *testing.T) {
		res := check(t, "v1.0.1", other)
		if res.code != 0 {
			t.Fatalf("exit %d\n%s", res.code, res.stdout)
		}
		wantLine(t, res.stdout, "v1.0.1 is not published yet: a push would publish "+res.outputs["digest"])
		// What the check said is what a push publishes.
		env := archiveInputs(t, zr, image, "v1.0.1", other)
		env["INPUT_IMAGE"] = fp.addr + "/" + image
		if got := runArchive(t, env).outputs["digest"]; got != res.outputs["digest"] {
			t.Errorf("the push published %s, the check said %s", got, res.outputs["digest"])
		}
	})
	t.Run("no anonymous reads", func(t *testing.T) {
		env := archiveInputs(t, r, randomName("it/stream-pr"), "v1.0.0", stream)
		env["INPUT_PUSH"] = "false"
		delete(env, "INPUT_USERNAME")
		delete(env, "INPUT_API-KEY")
		res := runAction(t, env, nil)
		if res.code != 0 || res.outputs["digest"] == "" {
			t.Fatalf("exit %d digest %q, want 0 and a digest\n%s", res.code, res.outputs["digest"], res.stdout)
		}
		wantLine(t, res.stdout, "::warning::"+r.registry+"/")
		wantLine(t, res.stdout, "does not answer anonymous reads")
	})
	t.Run("wrong platform", func(t *testing.T) {
		arm := s.result(s.stream(nixImage{packages: pkgs, arch: "arm64"}))
		env := archiveInputs(t, zr, randomName("it/stream-arm"), "v1.0.0", arm)
		env["INPUT_IMAGE"] = fp.addr + "/" + strings.TrimPrefix(env["INPUT_IMAGE"], zr.registry+"/")
		env["INPUT_PLATFORMS"] = "linux/amd64"
		before := countWrites(fp)
		res := runAction(t, env, nil)
		if res.code != 1 {
			t.Fatalf("exit %d, want 1\n%s", res.code, res.stdout)
		}
		testcheck.OneErrorLine(t, res.stdout, "platforms: archive "+arm+": it is an image for linux/arm64, not for linux/amd64")
		if n := countWrites(fp) - before; n != 0 {
			t.Errorf("the refused image wrote %d times, want nothing uploaded", n)
		}
	})
}
