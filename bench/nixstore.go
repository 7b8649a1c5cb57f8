package main

import (
	"context"
	_ "embed"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"
)

// The stream's store paths and the two programs that stream them. A
// store path is a directory of files, as a package is (bin, lib, share),
// so that the program pays per file what nixpkgs' script pays: a stat,
// an owner lookup and a tar header per file, on each of its two passes.
// The programs:
//   - nixstream.py (this directory): nix-like, what the users' result runs
//     (stream_layered_image.py's work by its means, Python's tarfile); the
//     floor of issue 32 is this one's output;
//   - e2e/nixstream: the tests' Go writer, several times faster: the
//     "fast generator" rows, the action's cost with its input nearly free.

//go:embed nixstream.py
var nixStreamPy []byte

// fastSuffix names the result that runs the fast generator beside the
// nix-like one.
const fastSuffix = "-fast"

// storeDirs are the directories of a store path that files go in.
var storeDirs = []string{"bin", "lib", "lib/bench", "libexec", "share/doc", "share/man/man1"}

// writeStorePath fills p with l's bytes as a package's files: sizes
// log-uniform from 1 KiB to 256 KiB (mean about 46 KiB: a 24 MiB path is
// about 530 files, 1 GiB about 23,000), every 32nd with a symlink beside
// it, as a library's soname is. Nix's store is read-only: files 0444.
func writeStorePath(p string, l nixLayer) error {
	data := l.content()
	rng := rand.New(rand.NewPCG(l.seed, uint64(l.size)))
	for i := 0; len(data) > 0; i++ {
		n := min(len(data), int(math.Exp(math.Log(1024)+rng.Float64()*math.Log(256))))
		dir := filepath.Join(p, storeDirs[rng.IntN(len(storeDirs))])
		name := filepath.Join(dir, fmt.Sprintf("f%05d", i))
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return err
		}
		if err := os.WriteFile(name, data[:n], 0o444); err != nil {
			return err
		}
		if i%32 == 31 {
			if err := os.Symlink(filepath.Base(name), name+".so"); err != nil {
				return err
			}
		}
		data = data[n:]
	}
	return nil
}

// streamPrograms are the nix-like program and the fast generator, put in
// the scratch directory once.
func (b *bench) streamPrograms(ctx context.Context) (nixLike, fast string, err error) {
	if nixLike, err = installNixLike(b.work); err != nil {
		return "", "", err
	}
	fast, err = b.streamGenerator(ctx)
	return nixLike, fast, err
}

// installNixLike writes nixstream.py into dir, with the interpreter's
// path as its first line, as nixpkgs' writePython3 does.
func installNixLike(dir string) (string, error) {
	path := filepath.Join(dir, "nixstream.py")
	if _, err := os.Stat(path); err == nil {
		return path, nil
	}
	python, err := interpreter()
	if err != nil {
		return "", err
	}
	return path, os.WriteFile(path, append([]byte("#!"+python+"\n"), nixStreamPy...), 0o555)
}

// interpreter is the system's python3 (Debian's /usr/bin/python3), or
// else the real path of the one on PATH: a wrapper such as a pyenv shim
// (a bash script) would be timed as the program's start.
func interpreter() (string, error) {
	if _, err := os.Stat("/usr/bin/python3"); err == nil {
		return "/usr/bin/python3", nil
	}
	out, err := exec.Command("python3", "-c", "import sys; print(sys.executable)").Output()
	if err != nil {
		return "", fmt.Errorf("the nix-like stream program needs python3: %w", err)
	}
	return strings.TrimSpace(string(out)), nil
}

// writeResults writes result, the script that runs the nix-like program
// on conf (streamLayeredImage's result is such a wrapper), and beside it
// result-fast, the same with the fast generator.
func writeResults(result, conf, nixLike, fast string) error {
	for path, prog := range map[string]string{result: nixLike, result + fastSuffix: fast} {
		if err := os.WriteFile(path, []byte("#!/bin/sh\nexec "+prog+" "+conf+" \"$@\"\n"), 0o555); err != nil {
			return err
		}
	}
	return nil
}

// fastGenerator is t on the same image streamed by the fast generator.
func fastGenerator(t archiveTool) archiveTool {
	return archiveTool{t.name + fastSuffix, t.title + " [fast Go generator]", func(ctx context.Context, b *bench, j archiveJob) (sample, error) {
		j.archive += fastSuffix
		return t.run(ctx, b, j)
	}}
}

// Phases of the floor, from the nix-like program's lines (NIXSTREAM_PASSES
// set: it says when each layer's first pass ended).
const (
	phaseFloorStart = "the program: interpreter start, imports, conf (until layer 1)"
	phaseFloorHash  = "the program: first pass of each layer (tar into sha256, for its name and size)"
	phaseFloorWrite = "the program: second pass of each layer (tar through the pipe into the output)"
	phaseFloorRest  = "the program: customisation layer, config, manifest.json, exit"
)

// floorPhases splits a run of the nix-like program: each layer's first
// pass runs from its "Creating layer" line to its "Hashed layer" line,
// its second from there to the next layer's line.
func floorPhases(lines []line, total time.Duration) []phase {
	var start, hash, write, created, hashed time.Duration
	seen := false
	for _, l := range lines {
		switch {
		case strings.HasPrefix(l.text, "Hashed layer "):
			hash, hashed, seen = hash+l.at-created, l.at, true
		case strings.HasPrefix(l.text, "Creating layer ") || l.text == "Adding manifests...":
			if start == 0 {
				start = l.at
			}
			if hashed > 0 {
				write, hashed = write+l.at-hashed, 0
			}
			created = l.at
		}
	}
	if !seen {
		return nil // not the nix-like program
	}
	return []phase{
		{phaseFloorStart, start},
		{phaseFloorHash, hash},
		{phaseFloorWrite, write},
		{phaseFloorRest, total - start - hash - write},
	}
}

// programSpan is how long the stream program took from its first layer
// to its manifests, read from its lines wherever they went: the floor's
// output, or the action's log, which passes them on as they come. The
// same span alone and under the action says how much the action's reading
// (its pipe, its use of the other core) slowed the program.
func programSpan(lines []line) (time.Duration, bool) {
	first, ok := lineAt(lines, func(s string) bool { return strings.Contains(s, "Creating layer 1 from paths:") })
	last, done := lineAt(lines, func(s string) bool { return strings.Contains(s, "Adding manifests...") })
	return last - first, ok && done
}
