package main

import (
	"os"
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
	src, err := os.ReadFile("../reliability_test.go")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(doc), tableStart) {
		t.Errorf("docs/reliability.md lacks the marker %q", tableStart)
	}
	names := regexp.MustCompile("\\| `(Test[A-Za-z]+)(?:/([^`]+))?` \\|").FindAllStringSubmatch(string(doc), -1)
	if len(names) < 20 {
		t.Fatalf("docs/reliability.md names %d tests, want the generated table", len(names))
	}
	for _, m := range names {
		if !strings.Contains(string(src), "func "+m[1]+"(t *testing.T)") {
			t.Errorf("docs/reliability.md names %s, which e2e/reliability_test.go no longer has", m[1])
		}
		if m[1] == "TestFaultsRecovered" && !strings.Contains(string(src), `{"`+strings.ReplaceAll(m[2], "_", " ")+`"`) {
			t.Errorf("docs/reliability.md names the case %q of TestFaultsRecovered, which is gone", m[2])
		}
	}
}
