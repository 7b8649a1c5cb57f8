package version

import (
	"errors"
	"os"
	"path/filepath"
	stdregexp "regexp"
	"strings"
	"testing"
)

func TestFromArg(t *testing.T) {
	cases := []struct{ name, dockerfile, want string }{
		{"global", "ARG V=1.2.3\nFROM scratch\n", "1.2.3"},
		{"first stage", "FROM scratch\nARG V=1.2.3\nFROM scratch\nARG V=9\n", "1.2.3"},
		{"global before stage", "ARG V=1.0.0\nFROM scratch\nARG V=2.0.0\n", "1.0.0"},
		{"global without default, stage with", "ARG V\nFROM scratch\nARG V=2.0.0\n", "2.0.0"},
		{"double-quoted", "ARG V=\"1.2.3\"\nFROM scratch\n", "1.2.3"},
		{"single-quoted", "ARG V='1.2.3'\nFROM scratch\n", "1.2.3"},
		{"several in one", "ARG A=1 V=2.0.0 B=3\nFROM scratch\n", "2.0.0"},
		{"line continuation", "ARG A=1 \\\n    V=3.1.4 \\\n    B=2\nFROM scratch\n", "3.1.4"},
		{"other ARGs before it", "ARG BASE=alpine\nARG OTHER\nARG V=0.9.0\nFROM ${BASE}\n", "0.9.0"},
		{"expands earlier ARGs", "ARG MAJOR=4\nARG V=${MAJOR}.1.0\nFROM scratch\n", "4.1.0"},
		{"comments and blank lines", "# a comment\n\nARG V=1.2.3\n# another\nFROM scratch\n", "1.2.3"},
		{"escape directive", "# escape=`\nARG A=1 `\n  V=5.0.0\nFROM scratch\n", "5.0.0"},
		{"lowercase instruction", "arg V=1.2.3\nfrom scratch\n", "1.2.3"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := FromArg([]byte(tc.dockerfile), "V")
			if err != nil || got != tc.want {
				t.Errorf("FromArg = %q, %v; want %q", got, err, tc.want)
			}
		})
	}
}

func TestFromArgErrors(t *testing.T) {
	cases := []struct {
		name, dockerfile, want string
		noDefault              bool
	}{
		{"no ARG", "FROM scratch\nRUN true\n", "no ARG V before the first FROM or in the first stage", true},
		{"only in a later stage", "FROM scratch\nFROM scratch\nARG V=1\n", "no ARG V before the first FROM", true},
		{"without default", "ARG V\nFROM scratch\n", "ARG V has no default", true},
		{"empty default", "ARG V=\nFROM scratch\n", "ARG V has no default", true},
		{"unterminated quote", "ARG V=\"1.2\nFROM scratch\n", "line 1: ARG V: ", false},
		{"no name", "ARG =1\nFROM scratch\n", `line 1: "=1" is not NAME or NAME=value`, false},
		{"ARG alone", "FROM scratch\nARG\n", "line 2: ARG without a name", false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := FromArg([]byte(tc.dockerfile), "V")
			if err == nil || !strings.Contains(err.Error(), tc.want) || errors.Is(err, ErrNoDefault) != tc.noDefault {
				t.Errorf("err %v, want %q (no default: %t)", err, tc.want, tc.noDefault)
			}
		})
	}
}

func write(t *testing.T, dir, name, content string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// nixPattern is the README's pattern for default.nix.
const nixPattern = `version\s*=\s*"([^"]+)"`

func TestRead(t *testing.T) {
	dir := t.TempDir()
	df := write(t, dir, "Dockerfile", "ARG APP_VERSION=1.2.3\nFROM scratch\n")
	write(t, dir, "default.nix", "{ pkgs }:\npkgs.dockerTools.buildLayeredImage {\n  name = \"app\";\n  version = \"2.0.1\";\n}\n")
	write(t, dir, "VERSION", "v3.0.0\n")
	nix, err := ParsePattern(nixPattern)
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name string
		src  Source
		want string
	}{
		{"arg, prefix added", Source{Arg: "APP_VERSION", Prefix: "v"}, "v1.2.3"},
		{"arg, no prefix", Source{Arg: "APP_VERSION"}, "1.2.3"},
		{"nix file", Source{File: "default.nix", Pattern: nix, Prefix: "v"}, "v2.0.1"},
		{"whole file, prefix already there", Source{File: "VERSION", Prefix: "v"}, "v3.0.0"},
	}
	for _, tc := range cases {
		if got, err := tc.src.Read(dir, df); err != nil || got != tc.want {
			t.Errorf("%s: %q, %v; want %q", tc.name, got, err, tc.want)
		}
	}
	for name, tc := range map[string]struct {
		src  Source
		want string
	}{
		"no match":        {Source{File: "default.nix", Pattern: mustPattern(t, `release = "([^"]+)"`)}, `matches no version in ` + filepath.Join(dir, "default.nix")},
		"missing file":    {Source{File: "nope.nix", Pattern: nix}, "cannot read " + filepath.Join(dir, "nope.nix")},
		"no Dockerfile":   {Source{Arg: "APP_VERSION"}, "cannot read the Dockerfile " + filepath.Join(dir, "Nope")},
		"file not a line": {Source{File: "default.nix"}, "holds no version on one line"},
	} {
		path := df
		if name == "no Dockerfile" {
			path = filepath.Join(dir, "Nope")
		}
		if _, err := tc.src.Read(dir, path); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want %q", name, err, tc.want)
		}
	}
}

func mustPattern(t *testing.T, expr string) *stdregexp.Regexp {
	t.Helper()
	re, err := ParsePattern(expr)
	if err != nil {
		t.Fatal(err)
	}
	return re
}

func TestParsePattern(t *testing.T) {
	for expr, want := range map[string]string{
		`version = "[^"]+"`:  "has no group",
		`version = "([^"]+"`: "does not compile",
	} {
		if _, err := ParsePattern(expr); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: %v, want %q", expr, err, want)
		}
	}
	if re, err := ParsePattern(""); re != nil || err != nil {
		t.Errorf("empty pattern: %v %v, want none (the whole file)", re, err)
	}
}
