package run

import (
	"bytes"
	"html"
	"regexp"
	"strings"
	"testing"

	"github.com/yuin/goldmark"
	"github.com/yuin/goldmark/extension"
)

// TestKeyLabelIsTextInTheSummary: a key label the registry chose is
// rendered by goldmark with GFM (what Forgejo renders step summaries and
// Markdown with) as the text it is: no link, image, HTML, code span,
// table or autolink.
func TestKeyLabelIsTextInTheSummary(t *testing.T) {
	labels := []string{
		`[click](https://evil.invalid/x) ![](https://evil.invalid/p.png)`,
		`<img src=https://evil.invalid/p.png> <script>alert(1)</script> &amp;`,
		"`code` ``more`` www.evil.invalid https://evil.invalid/a mail@evil.invalid",
		"a | b |\n|---|---|\n| c | d | **bold** _it_ ~~gone~~ \\[x\\](y) # h",
	}
	md := goldmark.New(goldmark.WithExtensions(extension.GFM))
	tags := regexp.MustCompile(`<[^>]*>`)
	for _, label := range labels {
		// The label as it came, newlines and all: the caller's line may
		// quote it however it likes.
		line := "api-key: the zot API key " + label + " of \"ci\" on reg.example expires on 2027-01-02 03:04 UTC (3 days left)"
		var out bytes.Buffer
		if err := md.Convert([]byte("> **Warning:** "+markdownText(line)+"\n"), &out); err != nil {
			t.Fatal(err)
		}
		rendered := out.String()
		for _, tag := range tags.FindAllString(rendered, -1) {
			switch tag {
			case "<blockquote>", "</blockquote>", "<p>", "</p>", "<strong>", "</strong>":
			default:
				t.Errorf("label %q made %s in %s", label, tag, rendered)
			}
		}
		text := strings.TrimSpace(html.UnescapeString(tags.ReplaceAllString(rendered, "")))
		if want := "Warning: " + strings.NewReplacer("\n", " ", "\r", " ").Replace(line); text != want {
			t.Errorf("rendered as\n%s\nwant\n%s", text, want)
		}
	}
}
