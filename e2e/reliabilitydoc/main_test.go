package main

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// TestDocNamesLiveTests fails when docs/reliability.md's table names a
// test, or a case of TestFaultsRecovered, that is gone: the table must not
// claim results no test produces any more.
func TestDocNamesLiveTests(t *testing.T) {
	doc, err := os.ReadFile("../../docs/reliability.md")
	if err != nil {
		t.Fatal(err)
	}
	src := e2eSources(t)
	if !strings.Contains(string(doc), tableStart) {
		t.Errorf("docs/reliability.md lacks the marker %q", tableStart)
	}
	names := regexp.MustCompile("\\| `(Test[A-Za-z]+)(?:/([^`]+))?` \\|").FindAllStringSubmatch(string(doc), -1)
	if len(names) < 20 {
		t.Fatalf("docs/reliability.md names %d tests, want the generated table", len(names))
	}
	for _, m := range names {
		if !strings.Contains(src, "func "+m[1]+"(t *testing.T)") {
			t.Errorf("docs/reliability.md names %s, which no e2e test file has any more", m[1])
		}
		if m[1] == "TestFaultsRecovered" && !liveFaultCase(src, m[2]) {
			t.Errorf("docs/reliability.md names the case %q of TestFaultsRecovered, which is gone", m[2])
		}
	}
}

// liveFaultCase: a TestFaultsRecovered case is named <push-via>/<fault>,
// and the fault is one of the cases in the source.
func liveFaultCase(src, name string) bool {
	via, fault, ok := strings.Cut(name, "/")
	return ok && strings.Contains(src, `"`+via+`"`) && strings.Contains(src, `{"`+strings.ReplaceAll(fault, "_", " ")+`"`)
}

// e2eSources is the text of every end-to-end test file.
func e2eSources(t *testing.T) string {
	t.Helper()
	files, err := filepath.Glob("../*_test.go")
	if err != nil || len(files) == 0 {
		t.Fatalf("no e2e test files (%v)", err)
	}
	var b strings.Builder
	for _, f := range files {
		src, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		b.Write(src)
	}
	return b.String()
}
