package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"time"
)

// The archive cases (issue 17): pushing an image the runner already built,
// a gzipped docker-archive as nix leaves it, against what the users run
// today: gunzip into a temporary file (Debian's skopeo 1.9.3 cannot read
// the gzipped form; newer skopeo decompresses it to a temporary file
// itself) and skopeo copy docker-archive:.

// archiveJob is one push of an archive to repo:version.
type archiveJob struct {
	archive, repo, version string
	extra                  []string // the action's flags
	env                    []string // more of its environment (secret inputs)
}

func (j archiveJob) sha() string { return job{repo: j.repo, version: j.version}.sha() }

// archiveTool is one way to push an archive.
type archiveTool struct {
	name, title string
	run         func(ctx context.Context, b *bench, j archiveJob) (sample, error)
}

var (
	toolArchive     = archiveTool{"archive", "build-push-image archive: (default: gzip level 1)", runArchiveAction}
	toolArchiveZstd = archiveTool{"archive-zstd", "build-push-image archive:, compression: zstd", func(ctx context.Context, b *bench, j archiveJob) (sample, error) {
		j.extra = append(j.extra, "--compression", "zstd")
		return runArchiveAction(ctx, b, j)
	}}
	// toolArchiveLevel5 is gzip at klauspost's default level, the action's
	// default before DefaultGzipLevel: what level 1 saves, side by side.
	toolArchiveLevel5 = archiveTool{"archive-gzip5", "build-push-image archive:, compression-level: 5 (gzip)", func(ctx context.Context, b *bench, j archiveJob) (sample, error) {
		j.extra = append(j.extra, "--compression-level", "5")
		return runArchiveAction(ctx, b, j)
	}}
	toolSkopeoArchive = archiveTool{"skopeo-archive", "gunzip + skopeo copy docker-archive: (the users' command)", runSkopeoArchive}
)

// runArchiveAction runs the action with archive, as a runner without
// Docker or buildkitd would (it reads no BuildKit input).
func runArchiveAction(ctx context.Context, b *bench, j archiveJob) (sample, error) {
	args := append([]string{
		b.bin, "--image", j.repo, "--version", j.version, "--sha", j.sha(), "--archive", j.archive,
		"--username", b.user, "--registry-tls", "disabled",
	}, j.extra...)
	store, remove := b.coldStore() // j.env may name the runner's own (warmStore)
	defer remove()
	s, err := execTimed(ctx, command{argv: args, env: append([]string{"INPUT_API_KEY=" + b.key, "RUNNER_TEMP=" + b.work, store}, j.env...)})
	s.phases = archivePhases(s.lines, s.total)
	return s, err
}

// runSkopeoArchive is the users' command: gunzip the archive into a
// temporary file, then skopeo copy it (with its blob-info cache, the
// machine's, as on their runner).
func runSkopeoArchive(ctx context.Context, b *bench, j archiveJob) (sample, error) {
	tmp := filepath.Join(b.work, "gunzipped-"+randomHex(4)+".tar")
	defer os.Remove(tmp)
	unzipped, err := execTimed(ctx, command{argv: []string{"gunzip", "-c", j.archive}, stdout: tmp})
	if err != nil {
		return sample{}, err
	}
	copied, err := b.skopeoCopy(ctx, "docker-archive:"+tmp, j.repo, j.version)
	if err != nil {
		return sample{}, err
	}
	return thenSkopeo(unzipped, []phase{{phaseGunzip, unzipped.total}}, copied), nil
}

// Phases of an archive push, from the action's own lines.
const (
	phaseGunzip        = "gunzip into a temporary file"
	phaseArchiveBefore = "before reading: process start, inputs, guard (credentials check)"
	phaseDecompress    = "read: waiting on decompression of the archive"
	phaseCompress      = "read: waiting on compression of layers"
	phaseBacklog       = "read: waiting on uploads (every upload slot busy)"
	phaseProve         = "read: proving reused layers (each known blob recalled from the proof store, or streamed, unpacked, hashed)"
	phaseReadRest      = "read: the rest (tar entries, hashing, writing compressed layers)"
	phaseArchiveUpload = "upload left after the read: last layers, config, manifest"
)

var (
	readLine     = regexp.MustCompile(`^Read .* in (\S+): `)
	readWaits    = regexp.MustCompile(`; waited (\S+) on decompression, (\S+) on compression, (\S+) on uploads, (\S+) proving `)
	uploadedMore = regexp.MustCompile(`^Uploaded .* in (\S+) more$`)
)

// archivePhases splits a run of the action with archive.
func archivePhases(lines []line, total time.Duration) []phase {
	group, _ := lineAt(lines, func(s string) bool { return strings.HasPrefix(s, "::group::Publish ") })
	published, ok := lineAt(lines, func(s string) bool { return strings.HasPrefix(s, "Published the archive's image ") })
	if !ok {
		return nil
	}
	tagged := lastLineAt(lines, func(s string) bool {
		return strings.HasPrefix(s, "Tagged ") || strings.Contains(s, " already is this exact image ")
	})
	read, upload := durationIn(lines, readLine, 1), durationIn(lines, uploadedMore, 1)
	// Reading is one pass: each wait is the time the reader spent blocked
	// on that stage, the rest its own work.
	decompress, compress, backlog := durationIn(lines, readWaits, 1), durationIn(lines, readWaits, 2), durationIn(lines, readWaits, 3)
	prove := durationIn(lines, readWaits, 4)
	return []phase{
		{phaseArchiveBefore, group},
		{phaseDecompress, decompress},
		{phaseCompress, compress},
		{phaseBacklog, backlog},
		{phaseProve, prove},
		{phaseReadRest, max(read-decompress-compress-backlog-prove, 0)},
		{phaseArchiveUpload, upload},
		{phaseTags, max(tagged-published, 0)},
		{phaseReport, total - max(tagged, published)},
	}
}

// durationIn is the duration in group i of the first line matching re.
func durationIn(lines []line, re *regexp.Regexp, i int) time.Duration {
	for _, l := range lines {
		if m := re.FindStringSubmatch(l.text); m != nil {
			d, _ := time.ParseDuration(m[i])
			return d
		}
	}
	return 0
}

// archiveSeeds keeps every generated layer new: no registry, cache or
// earlier round has seen it.
var archiveSeeds uint64 = 1 << 20

// newArchive writes a fresh archive of n layers of size bytes (plus the
// given fixed layers first) and returns its path.
func (b *bench) newArchive(fixed []nixLayer, n int, size int64) (string, []nixLayer, error) {
	layers := append(append([]nixLayer{}, fixed...), nixLayers(archiveSeeds, n, size)...)
	archiveSeeds += uint64(n)
	path, err := b.archiveOf(layers)
	return path, layers, err
}

// archiveOf writes the archive of layers and returns its path.
func (b *bench) archiveOf(layers []nixLayer) (string, error) {
	path := filepath.Join(b.work, "archives", fmt.Sprintf("image-%d.tar.gz", archiveSeeds))
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return "", err
	}
	start := time.Now()
	if err := writeNixArchive(path, layers); err != nil {
		return "", fmt.Errorf("archive %s: %w", path, err)
	}
	logf("  generated %s (%d layers) in %s", filepath.Base(path), len(layers), time.Since(start).Round(time.Millisecond))
	return path, nil
}

// archiveImage is a title for the result rows.
func archiveImage(name, title string) *image { return &image{name: name, title: title} }

func (b *bench) timedArchive(ctx context.Context, caseID, what string, img *image, t archiveTool, j archiveJob) (sample, error) {
	s, err := t.run(ctx, b, j)
	if err != nil {
		return s, fmt.Errorf("%s, %s, %s: %w", what, img.name, t.name, err)
	}
	as := tool{name: t.name, title: t.title}
	b.record(caseID, what, img, as, s)
	if s.cpu > 0 { // of every process the tool ran: a measure the machine's load moves less than the time
		b.res.addDuration(caseID, label(what, img, as, "cpu (user + system)"), s.cpu)
	}
	if span, ok := programSpan(s.lines); ok {
		b.res.addDuration(caseID, label(what, img, as, "the stream program, layer 1 to its manifests"), span)
	}
	logf("  %-16s %-6s %-15s whole %6.2fs  cpu %6.2fs  rss %4d MiB", what, img.name, t.name, s.total.Seconds(), s.cpu.Seconds(), s.rssKiB/1024)
	for _, l := range s.lines {
		if readLine.MatchString(l.text) {
			logf("    %s", l.text) // what was compressed, what reused
		}
	}
	return s, nil
}

// archiveRatio is the whole-job ratio of two archive pushers (the goals
// of issue 17 are all about the whole job); a limit of 0 sets no goal.
func (b *bench) archiveRatio(caseID, what string, img *image, num, den archiveTool, limit float64) {
	b.ratio(caseID, what, img, "whole", tool{name: num.name, title: num.title}, tool{name: den.name, title: den.title}, limit)
}

// caseArchiveVsSkopeo (6): a fresh archive pushed by the action and by
// the users' command, side by side: 8 × 32 MiB and 1 GiB (16 × 64 MiB).
func caseArchiveVsSkopeo(ctx context.Context, b *bench) error {
	tools := []archiveTool{toolArchive, toolArchiveLevel5, toolSkopeoArchive}
	specs := []struct {
		img  *image
		n    int
		size int64
	}{
		{archiveImage("a8", "nix-style archive, 8 × 32 MiB compressible"), 8, 32 * mib},
		{archiveImage("a1g", "nix-style archive, 16 × 64 MiB compressible (1 GiB)"), 16, 64 * mib},
	}
	for _, sp := range specs {
		b.archiveRatio("6", "archive push", sp.img, toolArchive, toolSkopeoArchive, 0.5)
		b.archiveRatio("6", "archive push", sp.img, toolArchiveLevel5, toolSkopeoArchive, 0)
	}
	big := specs[1].img
	rss := label("archive push", big, tool{name: toolArchive.name, title: toolArchive.title}, "peak RSS")
	b.res.goal(goal{caseID: "6", label: "peak RSS of " + toolArchive.title + ", 1 GiB (worst round)", num: rss, limit: 100, worst: true})
	return b.eachRound(min(b.rounds, 3), func(round int) error {
		for _, sp := range specs {
			path, _, err := b.newArchive(nil, sp.n, sp.size)
			if err != nil {
				return err
			}
			for _, t := range rotateArchive(tools, round) {
				j := archiveJob{archive: path, repo: b.repo("archive", sp.img.name, t.name, fmt.Sprint(round)), version: "v1.0.0"}
				s, err := b.timedArchive(ctx, "6", "archive push", sp.img, t, j)
				if err != nil {
					return err
				}
				if sp.img == big && t.name == toolArchive.name {
					b.res.add("6", rss, "MiB", float64(s.rssKiB)/1024)
				}
				if err := b.forget(ctx, j.repo, j.version); err != nil {
					return err
				}
			}
			if err := os.Remove(path); err != nil {
				return err
			}
		}
		return nil
	})
}

// caseTextArchive (13): caseArchiveVsSkopeo's 8 × 32 MiB with text-like
// layers (base64), gzipped by pigz -6 as buildLayeredImage does: reading
// the archive is then a real single-stream inflate, which both sides pay,
// and gzip level 1 stores the text (docs/benchmarks.md, case 13).
func caseTextArchive(ctx context.Context, b *bench) error {
	img := archiveImage("t8", "nix-style archive, 8 × 32 MiB base64 text")
	tools := []archiveTool{toolArchive, toolArchiveZstd, toolSkopeoArchive}
	b.archiveRatio("13", "text archive push", img, toolArchive, toolSkopeoArchive, 0.5)
	b.archiveRatio("13", "text archive push", img, toolArchiveZstd, toolSkopeoArchive, 0)
	return b.eachRound(min(b.rounds, 3), func(round int) error {
		path, err := b.archiveOf(textLayers(archiveSeeds, 8, 32*mib))
		archiveSeeds += 8
		if err != nil {
			return err
		}
		defer os.Remove(path)
		for _, t := range rotateArchive(tools, round) {
			j := archiveJob{archive: path, repo: b.repo("text", t.name, fmt.Sprint(round)), version: "v1.0.0"}
			if _, err := b.timedArchive(ctx, "13", "text archive push", img, t, j); err != nil {
				return err
			}
			if err := b.forget(ctx, j.repo, j.version); err != nil {
				return err
			}
		}
		return nil
	})
}

// caseSecondRelease (7): the next release of an 8-layer image with one
// layer changed, after the first was pushed by both: the action, on a
// fresh runner (no local state: it learns what the repository holds from
// the release's tags), against skopeo with its blob-info cache warm. The
// action once more with signing-key (both releases): the reused layers are
// proven by the first release's signature, not streamed; and once more on
// the runner that pushed the first release (its proof store warm).
func caseSecondRelease(ctx context.Context, b *bench) error {
	plain, _, _, err := signingKeys()
	if err != nil {
		return err
	}
	img := archiveImage("r2", "second release, 8 × 32 MiB, 1 layer changed")
	signed := signedWith("archive-signed", "build-push-image archive:, signing-key (reused layers proven by the release's signature)", "INPUT_SIGNING_KEY="+plain)
	tools := []archiveTool{toolArchive, signed, warmStore(toolArchive), toolSkopeoArchive}
	b.archiveRatio("7", "second release", img, toolArchive, toolSkopeoArchive, 1)
	b.archiveRatio("7", "second release", img, signed, toolSkopeoArchive, 0)
	b.archiveRatio("7", "second release", img, tools[2], toolSkopeoArchive, 0.75)
	first, layers, err := b.newArchive(nil, 8, 32*mib)
	if err != nil {
		return err
	}
	return b.eachRound(b.rounds, func(round int) error {
		second, _, err := b.newArchive(layers[:7], 1, 32*mib)
		if err != nil {
			return err
		}
		defer os.Remove(second)
		for _, t := range rotateArchive(tools, round) {
			repo := b.repo("release", t.name, fmt.Sprint(round))
			if _, err := t.run(ctx, b, archiveJob{archive: first, repo: repo, version: "v1.0.0"}); err != nil {
				return fmt.Errorf("first release, %s: %w", t.name, err)
			}
			if _, err := b.timedArchive(ctx, "7", "second release", img, t, archiveJob{archive: second, repo: repo, version: "v1.1.0"}); err != nil {
				return err
			}
		}
		return nil
	})
}

// caseColdArchive (8): every layer new, as after a commit: the action's
// default gzip (level 1), its zstd, and BuildKit building and pushing the same
// files with its default (gzip).
func caseColdArchive(ctx context.Context, b *bench) error {
	img := archiveImage("c8", "every layer new, 8 × 32 MiB compressible")
	buildkit := archiveTool{name: toolBuildkit.name, title: toolBuildkit.title}
	tools := []archiveTool{toolArchive, toolArchiveZstd, buildkit}
	b.archiveRatio("8", "cold push", img, toolArchiveZstd, buildkit, 0.7)
	b.archiveRatio("8", "cold push", img, toolArchive, buildkit, 0)
	return b.eachRound(b.rounds, func(round int) error {
		for _, t := range rotateArchive(tools, round) {
			repo := b.repo("cold", t.name, fmt.Sprint(round))
			if t.name == buildkit.name {
				if err := b.coldBuildkit(ctx, img, repo); err != nil {
					return err
				}
				continue
			}
			path, _, err := b.newArchive(nil, 8, 32*mib)
			if err != nil {
				return err
			}
			if _, err := b.timedArchive(ctx, "8", "cold push", img, t, archiveJob{archive: path, repo: repo, version: "v1.0.0"}); err != nil {
				return err
			}
			if err := os.Remove(path); err != nil {
				return err
			}
		}
		return nil
	})
}

// coldBuildkit builds and pushes new files of the same shape with
// buildctl: BuildKit's own push, compressing with its default.
func (b *bench) coldBuildkit(ctx context.Context, img *image, repo string) error {
	layers := nixLayers(archiveSeeds, 8, 32*mib)
	archiveSeeds += 8
	dir := filepath.Join(b.work, "cold-"+randomHex(4))
	defer os.RemoveAll(dir)
	if err := writeNixContext(dir, layers); err != nil {
		return err
	}
	ctxImg := &image{name: img.name, title: img.title, dir: dir}
	_, err := b.timed(ctx, "8", "cold push", toolBuildkit, job{img: ctxImg, repo: repo, version: "v1.0.0"})
	return err
}

func rotateArchive(tools []archiveTool, k int) []archiveTool {
	k %= len(tools)
	return append(append([]archiveTool{}, tools[k:]...), tools[:k]...)
}
