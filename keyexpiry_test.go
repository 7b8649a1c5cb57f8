package main

import (
	"bytes"
	"html"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/yuin/goldmark"
	"github.com/yuin/goldmark/extension"

	"github.com/blumeops/build-push-image/internal/zotkey"
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
		line := keyExpiryLine("reg.example", "ci", zotkey.Expiry{Label: label, Date: time.Date(2027, 1, 2, 3, 4, 0, 0, time.UTC), DaysLeft: 3})
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
