package main

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"time"
)

// The stream cases (issue 22): nix's streamLayeredImage leaves result, a
// program writing the uncompressed docker-archive (nixstream.py, which
// does what nixpkgs' stream_layered_image.py does, as it does it: two
// passes per layer, over real store paths under /nix/store; the fast
// generator rows run e2e/nixstream, a Go writer, instead). Side by side:
//   (a) what the users run today: buildLayeredImage's build (the stream
//       through pigz -6 into the store), then gunzip + skopeo copy;
//   (b) the same build, then archive: with this action;
//   (c) the stream itself, archive: result, with this action.
// (a) and (b) include the build's pigz: streamLayeredImage does not gzip.

var (
	toolUsersStream = archiveTool{"users", "(a) stream → pigz -6, gunzip + skopeo copy docker-archive:", runUsersStream}
	toolBuiltStream = archiveTool{"built-archive", "(b) stream → pigz -6, build-push-image archive: result.tar.gz", runBuiltStream}
	toolStream      = archiveTool{"stream", "(c) build-push-image archive: result (the stream), registry-immutable-tags", runUsersZot}
)

// Phases of the users' command and of the build before (b).
const (
	phaseStreamPigz = "the build: the stream through pigz -6 into the store"
)

// runUsersZot is the action as the users would set it for their zot,
// whose CI identity may create a tag but not update it: with
// registry-immutable-tags, the version tag is read back twice its write's
// round trip after it, without the settle pause (case 14's default rows
// show what the pause costs).
func runUsersZot(ctx context.Context, b *bench, j archiveJob) (sample, error) {
	j.extra = append(slices.Clip(j.extra), "--registry-immutable-tags", "true")
	return runArchiveAction(ctx, b, j)
}

// nixBuild is buildLayeredImage's build: the stream gzipped by pigz -6.
func (b *bench) nixBuild(ctx context.Context, result string) (string, sample, error) {
	out := filepath.Join(b.work, "built-"+randomHex(4)+".tar.gz")
	s, err := execTimed(ctx, command{argv: []string{"sh", "-c", `"$0" | pigz -6 -n`, result}, stdout: out})
	return out, s, err
}

func runUsersStream(ctx context.Context, b *bench, j archiveJob) (sample, error) {
	built, build, err := b.nixBuild(ctx, j.archive)
	if err != nil {
		return sample{}, err
	}
	defer os.Remove(built)
	s, err := runSkopeoArchive(ctx, b, archiveJob{archive: built, repo: j.repo, version: j.version})
	s.total, s.cpu = s.total+build.total, s.cpu+build.cpu
	s.phases = append([]phase{{phaseStreamPigz, build.total}}, s.phases...)
	return s, err
}

func runBuiltStream(ctx context.Context, b *bench, j archiveJob) (sample, error) {
	built, build, err := b.nixBuild(ctx, j.archive)
	if err != nil {
		return sample{}, err
	}
	defer os.Remove(built)
	s, err := runArchiveAction(ctx, b, archiveJob{archive: built, repo: j.repo, version: j.version, extra: j.extra})
	s.total, s.cpu = s.total+build.total, s.cpu+build.cpu
	s.phases = append([]phase{{phaseStreamPigz, build.total}}, s.phases...)
	return s, err
}

// nixStream is one streamLayeredImage result: its store paths, conf and
// scripts, under /nix/store.
type nixStream struct {
	result string   // the script (result-fast beside it)
	paths  []string // every store path made for it, removed after
}

// streamGenerator is e2e/nixstream, built once into the scratch
// directory.
func (b *bench) streamGenerator(ctx context.Context) (string, error) {
	bin := filepath.Join(b.work, "nixstream")
	if _, err := os.Stat(bin); err == nil {
		return bin, nil
	}
	cmd := exec.CommandContext(ctx, "go", "build", "-o", bin, "./e2e/nixstream")
	cmd.Dir = b.root
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go build nixstream: %w\n%s", err, out)
	}
	return bin, nil
}

// newStream writes the store paths of layers (directories of files:
// writeStorePath), the customisation layer, the conf, and the result
// scripts that stream them (writeResults).
func (b *bench) newStream(ctx context.Context, layers []nixLayer) (*nixStream, error) {
	nixLike, fast, err := b.streamPrograms(ctx)
	if err != nil {
		return nil, err
	}
	s := &nixStream{}
	var storeLayers [][]string
	start := time.Now()
	for _, l := range layers {
		p := fmt.Sprintf("/nix/store/%032x-bench-stream-%d", l.seed, l.seed)
		if _, err := os.Stat(p); err != nil { // a store path is written once
			if err := writeStorePath(p, l); err != nil {
				return nil, err
			}
		}
		s.paths = append(s.paths, p)
		storeLayers = append(storeLayers, []string{p})
	}
	logf("  generated %d store paths in %s", len(layers), time.Since(start).Round(time.Millisecond))
	var custom bytes.Buffer
	tw := tar.NewWriter(&custom)
	_ = tw.WriteHeader(&tar.Header{Typeflag: tar.TypeSymlink, Name: "./bin", Linkname: s.paths[0] + "/bin", Mode: 0o777, ModTime: fixedTime})
	_ = tw.Close()
	sum := sha256.Sum256(custom.Bytes())
	tag := randomHex(8)
	customDir := "/nix/store/" + hex.EncodeToString(sum[:16]) + "-customisation-layer-" + tag
	conf, _ := json.Marshal(map[string]any{
		"architecture": "amd64", "created": "1970-01-01T00:00:01+00:00", "mtime": "1970-01-01T00:00:01+00:00",
		"config": map[string]any{"Env": []string{"PATH=/bin"}}, "repo_tag": "bench/app:nix",
		"uid": 0, "gid": 0, "uname": "root", "gname": "root", "store_dir": "/nix/store",
		"store_layers": storeLayers, "customisation_layer": customDir,
	})
	confPath := "/nix/store/" + tag + "-conf.json"
	s.result = "/nix/store/" + tag + "-stream-bench"
	s.paths = append(s.paths, customDir, confPath, s.result, s.result+fastSuffix)
	for name, data := range map[string][]byte{
		filepath.Join(customDir, "layer.tar"): custom.Bytes(),
		filepath.Join(customDir, "checksum"):  []byte(hex.EncodeToString(sum[:]) + "\n"),
		confPath:                              conf,
	} {
		if err := os.MkdirAll(filepath.Dir(name), 0o755); err != nil {
			return nil, err
		}
		if err := os.WriteFile(name, data, 0o444); err != nil {
			return nil, err
		}
	}
	return s, writeResults(s.result, confPath, nixLike, fast)
}

// remove removes the stream's store paths.
func (s *nixStream) remove() {
	for _, p := range s.paths {
		_ = os.RemoveAll(p)
	}
}

// caseStream (11): the first release of an image of 8 store paths × 24
// MiB (+ the customisation layer): (a), (b), (c) side by side, every
// layer new; and the peak RSS of (c) for 1 GiB (16 × 64 MiB).
func caseStream(ctx context.Context, b *bench) error {
	img := archiveImage("s8", "nix stream, 8 store paths × 24 MiB compressible + customisation layer")
	big := archiveImage("s1g", "nix stream, 16 store paths × 64 MiB compressible (1 GiB)")
	// Every layer is new: the proof store has nothing to give, warm or cold.
	fastStream, fastFloor := fastGenerator(toolStream), fastGenerator(toolFloor)
	tools := []archiveTool{toolUsersStream, toolBuiltStream, toolStream, toolFloor, fastStream, fastFloor, toolPipeFloor}
	b.archiveRatio("11", "first release", img, toolStream, toolUsersStream, 0.35)
	b.archiveRatio("11", "first release", img, toolBuiltStream, toolUsersStream, 0)
	b.archiveRatio("11", "first release", img, toolStream, toolFloor, 1.5)
	b.archiveRatio("11", "first release", img, fastStream, fastFloor, 0)
	b.archiveRatio("11", "first release", img, toolStream, toolPipeFloor, 0)
	rss := label("first release", big, tool{name: toolStream.name, title: toolStream.title}, "peak RSS")
	b.res.goal(goal{caseID: "11", label: "peak RSS of " + toolStream.title + ", 1 GiB (worst round)", num: rss, limit: 100, worst: true})
	err := b.eachRound(b.rounds, func(round int) error {
		for _, t := range rotateArchive(tools, round) {
			if err := b.streamOnce(ctx, "11", "first release", img, t, 8, 24*mib, fmt.Sprint(round)); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	return b.eachRound(min(b.rounds, 2), func(round int) error {
		s, err := b.streamOnce2(ctx, big, 16, 64*mib, fmt.Sprint(round))
		if err == nil {
			b.res.add("11", rss, "MiB", float64(s.rssKiB)/1024)
		}
		return err
	})
}

// streamOnce pushes a fresh stream of n × size with t.
func (b *bench) streamOnce(ctx context.Context, caseID, what string, img *image, t archiveTool, n int, size int64, round string) error {
	layers := nixLayers(archiveSeeds, n, size)
	archiveSeeds += uint64(n)
	s, err := b.newStream(ctx, layers)
	if err != nil {
		return err
	}
	defer s.remove()
	j := archiveJob{archive: s.result, repo: b.repo("stream", img.name, t.name, round), version: "v1.0.0"}
	if _, err := b.timedArchive(ctx, caseID, what, img, t, j); err != nil || strings.HasPrefix(t.name, toolFloor.name) { // the floor pushes nothing
		return err
	}
	return b.forget(ctx, j.repo, j.version)
}

// streamOnce2 is (c) alone, for its peak RSS.
func (b *bench) streamOnce2(ctx context.Context, img *image, n int, size int64, round string) (sample, error) {
	layers := nixLayers(archiveSeeds, n, size)
	archiveSeeds += uint64(n)
	s, err := b.newStream(ctx, layers)
	if err != nil {
		return sample{}, err
	}
	defer s.remove()
	j := archiveJob{archive: s.result, repo: b.repo("stream", img.name, round), version: "v1.0.0"}
	out, err := b.timedArchive(ctx, "11", "first release", img, toolStream, j)
	if err != nil {
		return out, err
	}
	return out, b.forget(ctx, j.repo, j.version)
}

// caseStreamNext (12): the next release with one store path changed:
// skopeo's blob-info cache warm (it pushed the first release), the
// action with no local state (it learns from the release's tags and
// proves them by download) and on the runner that pushed the first
// release (its proof store warm), and the floor.
func caseStreamNext(ctx context.Context, b *bench) error {
	img := archiveImage("n8", "next release, 8 store paths × 24 MiB, 1 changed")
	warm := warmStore(toolStream)
	fastWarm, fastFloor := fastGenerator(warm), fastGenerator(toolFloor)
	tools := []archiveTool{toolUsersStream, toolBuiltStream, toolStream, warm, toolFloor, fastWarm, fastFloor, toolPipeFloor}
	b.archiveRatio("12", "next release", img, toolStream, toolUsersStream, 0.25)
	b.archiveRatio("12", "next release", img, warm, toolUsersStream, 0.20)
	b.archiveRatio("12", "next release", img, toolBuiltStream, toolUsersStream, 0)
	b.archiveRatio("12", "next release", img, warm, toolFloor, 1.5)
	b.archiveRatio("12", "next release", img, toolStream, toolFloor, 0)
	b.archiveRatio("12", "next release", img, fastWarm, fastFloor, 0)
	b.archiveRatio("12", "next release", img, warm, toolPipeFloor, 0)
	layers := nixLayers(archiveSeeds, 8, 24*mib)
	archiveSeeds += 8
	first, err := b.newStream(ctx, layers)
	if err != nil {
		return err
	}
	defer first.remove()
	return b.eachRound(b.rounds, func(round int) error {
		changed := append(append([]nixLayer{}, layers[:7]...), nixLayers(archiveSeeds, 1, 24*mib)...)
		archiveSeeds++
		next, err := b.newStream(ctx, changed)
		if err != nil {
			return err
		}
		defer func() {
			_ = os.RemoveAll(next.paths[7]) // the changed one; the others are first's
			for _, p := range next.paths[8:] {
				_ = os.RemoveAll(p)
			}
		}()
		for _, t := range rotateArchive(tools, round) {
			repo := b.repo("next", t.name, fmt.Sprint(round))
			start := time.Now()
			if _, err := t.run(ctx, b, archiveJob{archive: first.result, repo: repo, version: "v1.0.0"}); err != nil {
				return fmt.Errorf("first release, %s: %w", t.name, err)
			}
			logf("  (first release by %s in %s)", t.name, time.Since(start).Round(time.Millisecond))
			if _, err := b.timedArchive(ctx, "12", "next release", img, t, archiveJob{archive: next.result, repo: repo, version: "v1.1.0"}); err != nil {
				return err
			}
		}
		return nil
	})
}
