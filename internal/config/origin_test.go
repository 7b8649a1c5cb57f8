package config

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/blumeops/build-push-image/internal/input"
	"github.com/blumeops/build-push-image/internal/testcheck"
)

// TestOrigin: the archive input decides the run's origin once, by what the
// path holds: a file, an OCI layout directory, a program (a script or an
// ELF binary with its executable bit), standard input; none is a build.
func TestOrigin(t *testing.T) {
	env := archiveInputs(t)
	dir := filepath.Dir(env["INPUT_ARCHIVE"])
	layout, program := filepath.Join(dir, "layout"), filepath.Join(dir, "stream")
	if err := os.Mkdir(layout, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(program, []byte("#!/bin/sh\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	for archive, want := range map[string]Kind{env["INPUT_ARCHIVE"]: ArchiveFile, layout: ArchiveLayout, program: ArchiveProgram, "-": ArchiveStdin} {
		env["INPUT_ARCHIVE"] = archive
		cfg, err := loadConfig(nil, testcheck.Lookup(env), &bytes.Buffer{})
		if err != nil || cfg.Origin.Kind != want || !cfg.Origin.IsArchive() {
			t.Errorf("archive %s: origin %+v, %v; want kind %d", archive, cfg.Origin, err, want)
		}
		if streamed := want == ArchiveProgram || want == ArchiveStdin; cfg.Origin.Streamed() != streamed {
			t.Errorf("archive %s: streamed %v, want %v", archive, cfg.Origin.Streamed(), streamed)
		}
	}
	cfg, err := loadConfig(nil, testcheck.Lookup(testcheck.ValidInputs(testcheck.Workspace(t))), &bytes.Buffer{})
	if err != nil || cfg.Origin != (Origin{Kind: Build}) || cfg.Origin.IsArchive() {
		t.Errorf("no archive: origin %+v, %v; want a build", cfg.Origin, err)
	}
}

// TestInputErrors: every bad input is an *input.Error naming it (a
// value, an archive input without archive, a build input with it), so
// the line a user reads is found by errors.As, whatever wraps it.
func TestInputErrors(t *testing.T) {
	archive := archiveInputs(t)
	archive["INPUT_ARCHIVE"] = "nope/result"
	archive["INPUT_PUSH"] = "maybe"
	archive["INPUT_NO-CACHE"] = "true"
	build := testcheck.ValidInputs(testcheck.Workspace(t))
	build["INPUT_ARCHIVE-IMAGE"] = "app:1"
	for _, c := range []struct {
		env  map[string]string
		want []string
	}{{archive, []string{"archive", "push"}}, {build, []string{"archive-image"}}} {
		_, err := loadConfig(nil, testcheck.Lookup(c.env), &bytes.Buffer{})
		got := map[string]bool{}
		for _, e := range ErrorList(err) {
			var bad *input.Error
			if !errors.As(e, &bad) {
				t.Fatalf("%v is no *input.Error", e)
			}
			got[bad.Input] = true
		}
		for _, name := range c.want {
			if !got[name] {
				t.Errorf("inputs named %v, want %s in:\n%v", got, name, err)
			}
		}
	}
}
