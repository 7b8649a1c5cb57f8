package e2e

import (
	"os"
	"regexp"
	"strings"
	"testing"
)

// The README's commands and workflows, as the tests that run them read
// them: as written, changed only where a test must (the registry, the
// credentials, the runner's label).

// docBlocks are the code blocks in lang of the Markdown file doc, in order.
func docBlocks(t *testing.T, doc, lang string) []string {
	t.Helper()
	readme, err := os.ReadFile(doc)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, m := range regexp.MustCompile("(?s)```"+lang+"\n(.*?)```").FindAllStringSubmatch(string(readme), -1) {
		out = append(out, m[1])
	}
	return out
}

// readmeTagPush marks the README's Dockerfile workflow, run on a tag push.
const readmeTagPush = "on:\n  push:\n    tags: [\"v*\"]"

// readmeBlock is the first of the README's blocks in lang holding marker.
func readmeBlock(t *testing.T, lang, marker string) string {
	t.Helper()
	return docBlock(t, "README.md", lang, marker)
}

// docBlock is the first block in lang of doc holding marker.
func docBlock(t *testing.T, doc, lang, marker string) string {
	t.Helper()
	for _, b := range docBlocks(t, doc, lang) {
		if strings.Contains(b, marker) {
			return b
		}
	}
	t.Fatalf("%s has no %s block holding %q", doc, lang, marker)
	return ""
}

// readmeEdit replaces old, which must occur n times, with new.
type readmeEdit struct {
	old, new string
	n        int
}

// editReadme applies edits to text, a block of the README.
func editReadme(t *testing.T, text string, edits ...readmeEdit) string {
	t.Helper()
	for _, e := range edits {
		if strings.Count(text, e.old) != e.n {
			t.Fatalf("README.md's block has %d of %q, want %d:\n%s", strings.Count(text, e.old), e.old, e.n, text)
		}
		text = strings.ReplaceAll(text, e.old, e.new)
	}
	return text
}

// readmeCredentials are the edits every README workflow needs: the rig's
// registry under prefix (plain HTTP) and its user, in n steps.
func readmeCredentials(r rig, prefix string, n int) []readmeEdit {
	return []readmeEdit{
		{"registry.example/team/", r.registry + "/" + prefix + "/", 1},
		{"username: ci-bot\n", "username: " + r.user + "\n", n},
		{"api-key: ${{ secrets.REGISTRY_API_KEY }}\n", "api-key: ${{ secrets.REGISTRY_API_KEY }}\n          registry-tls: disabled\n", n},
	}
}
