package main

import (
	"context"
	"crypto/sha1"
	"fmt"
	"os"
	"path/filepath"
)

// The next release at the floor (issue 32): the floor of a stream is the
// program's own output, timed in the same run; the proof store
// (internal/proofs) warm or cold; the version tag read back without a
// pause on a registry that refuses overwrites.

// toolFloor is the stream program alone, its output to /dev/null: what
// no pusher of the stream can beat. NIXSTREAM_PASSES has the nix-like
// program say when each first pass ends, for the floor's phases.
var toolFloor = archiveTool{"floor", "the floor: the stream program's own output (result > /dev/null)", func(ctx context.Context, _ *bench, j archiveJob) (sample, error) {
	s, err := execTimed(ctx, command{argv: []string{j.archive}, stdout: os.DevNull, env: []string{"NIXSTREAM_PASSES=1"}})
	s.phases = floorPhases(s.lines, s.total)
	return s, err
}}

// toolPipeFloor is the same output through a pipe to cat: what reading
// the program costs it (a write per tarfile record, a reader to wake) on
// top of the floor, before the reader does anything with the bytes.
var toolPipeFloor = archiveTool{"floor-pipe", "the program's output through a pipe, to cat (result piped to cat > /dev/null)", func(ctx context.Context, _ *bench, j archiveJob) (sample, error) {
	return execTimed(ctx, command{argv: []string{"sh", "-c", `"$0" | cat`, j.archive}, stdout: os.DevNull})
}}

// warmStore is t with the runner's proof store kept between the jobs of
// one repository (its first release, then the next), as on the users'
// persistent runner; runArchiveAction alone gives each job an empty one.
func warmStore(t archiveTool) archiveTool {
	return archiveTool{t.name + "-warm", t.title + ", proof store warm", func(ctx context.Context, b *bench, j archiveJob) (sample, error) {
		j.env = append(j.env, "RUNNER_TOOL_CACHE="+filepath.Join(b.work, "toolcache", fmt.Sprintf("warm-%x", sha1.Sum([]byte(j.repo)))))
		return t.run(ctx, b, j)
	}}
}

// coldStore is a proof store of the job's own, removed after it: the
// action on a fresh runner, proving every reused layer by download.
func (b *bench) coldStore() (env string, remove func()) {
	dir := filepath.Join(b.work, "toolcache", "cold-"+randomHex(4))
	return "RUNNER_TOOL_CACHE=" + dir, func() { _ = os.RemoveAll(dir) }
}

// toolImmutable is the default build with registry-immutable-tags: the
// version tag read back at once. The rig's registry lets tags be
// overwritten; what this measures is the action's own time, which is the
// same on a registry that refuses (zot with a create-only user) as long
// as no job races it.
var toolImmutable = tool{"immutable", "build-push-image (default), registry-immutable-tags: true", func(ctx context.Context, b *bench, j job) (sample, error) {
	return runAction(ctx, b, j, "--registry-immutable-tags", "true")
}}

// caseImmutableBuild (14): a warm build of 1 × 32 MiB and 8 × 32 MiB
// with registry-immutable-tags against BuildKit's own push, the default
// (with its pause) beside them.
func caseImmutableBuild(ctx context.Context, b *bench) error {
	imgs, err := b.warm(ctx, "x8", "x1")
	if err != nil {
		return err
	}
	tools := []tool{toolImmutable, toolBuildkit, toolDefault}
	for _, img := range imgs {
		b.ratio("14", "fresh push", img, "whole", toolImmutable, toolBuildkit, 1.10)
		b.ratio("14", "fresh push", img, "whole", toolDefault, toolBuildkit, 0)
	}
	return b.eachRound(b.rounds, func(round int) error {
		for _, img := range imgs {
			if err := b.resync(ctx, img); err != nil {
				return err
			}
			for _, t := range rotate(tools, round) {
				j := job{img: img, repo: b.repo("immutable", img.name, t.name, fmt.Sprint(round)), version: "v1.0.0"}
				if _, err := b.timed(ctx, "14", "fresh push", t, j); err != nil {
					return err
				}
				if err := b.forget(ctx, j.repo, j.version); err != nil {
					return err
				}
			}
		}
		return nil
	})
}

// caseStreamBig (15): a 1 GiB nix image (16 × 64 MiB) from the stream:
// the first release, the next with one store path changed, and a re-run
// with nothing new (a next version of the same image), each by the
// users' pipeline, by the stream with the proof store warm and cold, and
// the floor (with the fast generator's beside it).
func caseStreamBig(ctx context.Context, b *bench) error {
	img := archiveImage("b1g", "nix stream, 16 store paths × 64 MiB (1 GiB)")
	tools := []archiveTool{toolUsersStream, warmStore(toolStream), toolStream, toolFloor, fastGenerator(toolFloor)}
	steps := []string{"1 GiB first release", "1 GiB next release, 1 path changed", "1 GiB re-run, nothing new"}
	for _, what := range steps {
		b.archiveRatio("15", what, img, tools[1], toolUsersStream, 0)
		b.archiveRatio("15", what, img, tools[1], toolFloor, 0)
		b.archiveRatio("15", what, img, toolStream, toolFloor, 0)
	}
	return b.eachRound(min(b.rounds, 1), func(round int) error {
		layers := nixLayers(archiveSeeds, 16, 64*mib)
		archiveSeeds += 16
		first, err := b.newStream(ctx, layers)
		if err != nil {
			return err
		}
		defer first.remove()
		changed := append(append([]nixLayer{}, layers[:15]...), nixLayers(archiveSeeds, 1, 64*mib)...)
		archiveSeeds++
		next, err := b.newStream(ctx, changed)
		if err != nil {
			return err
		}
		defer func() {
			_ = os.RemoveAll(next.paths[15])
			for _, p := range next.paths[16:] {
				_ = os.RemoveAll(p)
			}
		}()
		results := []string{first.result, next.result, next.result}
		for _, t := range rotateArchive(tools, round) {
			repo := b.repo("big-stream", t.name, fmt.Sprint(round))
			for i, what := range steps {
				j := archiveJob{archive: results[i], repo: repo, version: fmt.Sprintf("v1.%d.0", i)}
				if _, err := b.timedArchive(ctx, "15", what, img, t, j); err != nil {
					return err
				}
			}
		}
		return nil
	})
}
