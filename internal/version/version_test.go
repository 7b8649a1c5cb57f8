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
		if got, err := tc.src.Read(dir, df); err != nil || got.Version != tc.want {
			t.Errorf("%s: %+v, %v; want %q", tc.name, got, err, tc.want)
		}
	}
	for name, tc := range map[string]struct {
		src  Source
		want string
	}{
		"no match":        {Source{File: "default.nix", Pattern: mustPattern(t, `release = "([^"]+)"`)}, `matches no version outside comments in ` + filepath.Join(dir, "default.nix")},
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

// TestFindSkipsComments: issue 25's default.nix, a commented-out version
// above the real one, gives the real one; code before the version on its
// line still matches; a # inside a string is no comment.
func TestFindSkipsComments(t *testing.T) {
	nix := mustPattern(t, nixPattern)
	for name, tc := range map[string]struct {
		file string
		want string
		line int
	}{
		"comment line above":   {"{ pkgs }:\n  # pinned: version = \"0.0.0\"; was the old one\n  version = \"2.0.1\";\n", "2.0.1", 3},
		"indented shell":       {"\t# version = \"0.0.0\"\nversion = \"1.0.0\"\n", "1.0.0", 2},
		"trailing comment":     {"name = \"x\"; # version = \"0.0.0\"\nversion = \"3.0.0\";\n", "3.0.0", 2},
		"code before version":  {"# version = \"0.0.0\"\n  pname = \"app\"; version = \"4.1.0\";\n", "4.1.0", 2},
		"# inside a string":    {"url = \"https://x/#a\"; version = \"5.0.0\";\n", "5.0.0", 1},
		"#-comment in a value": {"src = \"a #b\"; version = \"6.0.0\";\n", "6.0.0", 1},
	} {
		f, ok := Find([]byte(tc.file), nix)
		if !ok || f.Version != tc.want || f.Line != tc.line || len(f.Others) != 0 {
			t.Errorf("%s: %+v, %t; want %s on line %d, no others", name, f, ok, tc.want, tc.line)
		}
	}
	if f, ok := Find([]byte("# version = \"1.0.0\"\n  # version = \"2.0.0\"\n"), nix); ok {
		t.Errorf("only comments: %+v, want no version", f)
	}
}

// TestFindFirstOfSeveral: as in the users' files, a dependency's version
// further down does not win; the notice names the line used and the
// others with other values (not those with the same value).
func TestFindFirstOfSeveral(t *testing.T) {
	file := "{ pkgs }:\nlet\n  version = \"0.18.0\";\n  heph = pkgs.buildGoModule {\n    version = \"1.7.0\";\n  };\n  again = { version = \"0.18.0\"; };\nin {}\n"
	dir := t.TempDir()
	write(t, dir, "default.nix", file)
	f, err := Source{File: "default.nix", Pattern: mustPattern(t, nixPattern), Prefix: "v"}.Read(dir, "")
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "default.nix")
	want := Found{Version: "v0.18.0", Path: path, Line: 3, Others: []Match{{Line: 5, Value: "1.7.0"}}}
	if f.Version != want.Version || f.Where() != want.Where() || len(f.Others) != 1 || f.Others[0] != want.Others[0] {
		t.Fatalf("Read = %+v, want %+v", f, want)
	}
	n := f.Notice()
	for _, part := range []string{"version v0.18.0 read from " + path + ":3", `line 5 ("1.7.0")`} {
		if !strings.Contains(n, part) {
			t.Errorf("notice %q lacks %q", n, part)
		}
	}
	if strings.Contains(n, "line 7") {
		t.Errorf("notice %q names a line with the same value", n)
	}
	if (Found{Version: "1", Path: path, Line: 1}).Notice() != "" {
		t.Error("a single match gives a notice")
	}
}

// TestReadWhere: every source says the line it read.
func TestReadWhere(t *testing.T) {
	dir := t.TempDir()
	df := write(t, dir, "Dockerfile", "# syntax\nARG BASE=x\nARG APP_VERSION=1.2.3\nFROM scratch\n")
	write(t, dir, "VERSION", "\n3.0.0\n")
	for src, want := range map[Source]string{
		{Arg: "APP_VERSION"}: df + ":3",
		{File: "VERSION"}:    filepath.Join(dir, "VERSION") + ":2",
	} {
		if f, err := src.Read(dir, df); err != nil || f.Where() != want {
			t.Errorf("%+v: %+v, %v; want %s", src, f, err, want)
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

// TestNoVersionKinds: a source that is not there and one that names no
// version are told apart (the plan leaves such a directory out), and a
// file that cannot be read for another reason is neither.
func TestNoVersionKinds(t *testing.T) {
	dir := t.TempDir()
	for name, body := range map[string]string{"default.nix": "{ tag = \"latest\"; }\n", "Dockerfile": "ARG V\nFROM scratch\n", "empty": ""} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Mkdir(filepath.Join(dir, "adir"), 0o755); err != nil {
		t.Fatal(err)
	}
	pattern := stdregexp.MustCompile(`version\s*=\s*"([^"]+)"`)
	for _, tc := range []struct {
		name      string
		src       Source
		missing   bool
		noVersion bool
	}{
		{"no file", Source{File: "gone.nix", Pattern: pattern}, true, false},
		{"ARG without default", Source{Arg: "V"}, false, true},
		{"pattern matches nothing", Source{File: "default.nix", Pattern: pattern}, false, true},
		{"empty file", Source{File: "empty"}, false, true},
		{"a directory", Source{File: "adir"}, false, false},
	} {
		_, err := tc.src.Read(dir, filepath.Join(dir, "Dockerfile"))
		if err == nil || errors.Is(err, ErrMissing) != tc.missing || errors.Is(err, ErrNoVersion) != tc.noVersion {
			t.Errorf("%s: %v: missing %t, no version %t; want %t, %t", tc.name, err, errors.Is(err, ErrMissing), errors.Is(err, ErrNoVersion), tc.missing, tc.noVersion)
		}
	}
	if _, err := (Source{Arg: "V"}).Read(dir, filepath.Join(dir, "gone")); !errors.Is(err, ErrMissing) {
		t.Errorf("no Dockerfile: %v, want ErrMissing", err)
	}
	if !errors.Is(ErrNoDefault, ErrNoVersion) || ErrNoDefault.Error() != "no default" {
		t.Errorf("ErrNoDefault %q is not ErrNoVersion", ErrNoDefault)
	}
}

// TestNothingEchoed: a value that cannot be a version (the environment
// read through a file, a binary, a line of 200 bytes) is refused naming
// the file and line, never quoted; a notice names such a line without
// its value either.
func TestNothingEchoed(t *testing.T) {
	const secret = "zak_not_to_be_echoed"
	dir := t.TempDir()
	write(t, dir, "environ", "PATH=/bin\x00INPUT_API-KEY="+secret+"\x00")
	write(t, dir, "long", strings.Repeat(secret, 10)+"\n")
	write(t, dir, "two.nix", "version = \"1.0.0\";\nversion = \""+strings.Repeat(secret, 10)+"\";\n")
	for _, src := range []Source{{File: "environ"}, {File: "long"}, {File: "long", Pattern: mustPattern(t, `(.+)`)}} {
		_, err := src.Read(dir, "")
		if err == nil || !strings.Contains(err.Error(), filepath.Join(dir, src.File)+":1: what was read") || strings.Contains(err.Error(), secret) {
			t.Errorf("%s: %v, want the file and line named, nothing quoted", src.File, err)
		}
	}
	f, err := Source{File: "two.nix", Pattern: mustPattern(t, nixPattern)}.Read(dir, "")
	if n := f.Notice(); err != nil || !strings.Contains(n, "not used: line 2 (make") || strings.Contains(n, secret) {
		t.Errorf("notice %q (%v), want line 2 named, its value not quoted", n, err)
	}
}
