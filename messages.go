package main

import (
	"context"
	"fmt"
	"strings"

	"github.com/blumeops/build-push-image/internal/run"
	"github.com/blumeops/build-push-image/internal/tags"
)

// explain is the one line a user sees of a failed run: the run tells its
// failures (an *input.Line naming the input that fixes it, worded where
// the facts are seen), so the line is the error's, but for a cancelled
// run, which only main knows the signals of.
func explain(ctx context.Context, p *run.Pipeline, err error) string {
	if ctx.Err() != nil {
		return cancelled(p.Done())
	}
	return err.Error()
}

// cancelled says what a cancelled run left behind.
func cancelled(done []run.ImageTag) string {
	var written []string
	for _, t := range done {
		if t.State == tags.Written {
			written = append(written, t.Ref())
		}
	}
	if len(written) == 0 {
		return "cancelled (SIGINT or SIGTERM): stopped before any tag was written; temporary files removed"
	}
	return fmt.Sprintf("cancelled (SIGINT or SIGTERM) after tagging %s; temporary files removed", strings.Join(written, ", "))
}
