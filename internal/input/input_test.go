package input

import (
	"errors"
	"fmt"
	"testing"
)

// TestLine: the line names the input, says what went wrong and how to fix
// it, and is found through any wrapping; the cause stays in the chain.
func TestLine(t *testing.T) {
	cause := errors.New("no such file")
	for _, c := range []struct {
		err  error
		want string
	}{
		{New("archive", cause, "give the path of an archive"), "archive: no such file; give the path of an archive"},
		{New("push", cause, ""), "push: no such file"},
		{New("", cause, "check it"), "no such file; check it"},
		{fmt.Errorf("publish: %w", New("platforms", cause, "build for it")), "platforms: no such file; build for it"},
	} {
		got, ok := Line(c.err)
		if !ok || got != c.want {
			t.Errorf("Line = %q, %v; want %q", got, ok, c.want)
		}
		if !errors.Is(c.err, cause) {
			t.Errorf("%q: the cause is not in the chain", got)
		}
	}
	if line, ok := Line(cause); ok {
		t.Errorf("Line of a plain error = %q, want none", line)
	}
	if New("push", nil, "x") != nil {
		t.Error("New of nil is not nil")
	}
}
