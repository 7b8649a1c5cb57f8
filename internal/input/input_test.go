package input

import (
	"errors"
	"fmt"
	"testing"
)

// TestError: the line names the input, says what went wrong and how to
// fix it, and is found through any wrapping; the cause stays in the chain.
func TestError(t *testing.T) {
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
		var e *Error
		if !errors.As(c.err, &e) || e.Error() != c.want {
			t.Errorf("%v: the input error is %v; want %q", c.err, e, c.want)
		}
		if !errors.Is(c.err, cause) {
			t.Errorf("%v: the cause is not in the chain", c.err)
		}
	}
	if New("push", nil, "x") != nil {
		t.Error("New of nil is not nil")
	}
}

// TestTold: the outermost error with a line tells it, through single and
// joined wrapping, in errors.Is's order; none tells: false.
func TestTold(t *testing.T) {
	inner, outer, other := errors.New("inner"), errors.New("outer"), errors.New("other")
	tell := func(e error) (string, bool) {
		if e == inner || e == outer {
			return e.Error() + " told", true
		}
		return "", false
	}
	for _, c := range []struct {
		err  error
		want string
	}{
		{fmt.Errorf("a: %w", fmt.Errorf("%w: %w", outer, inner)), "outer told"},
		{fmt.Errorf("%w: %w", other, fmt.Errorf("b: %w", inner)), "inner told"},
		{errors.Join(other, New("push", inner, "")), "inner told"},
	} {
		if got, ok := Told(c.err, tell); !ok || got != c.want {
			t.Errorf("%v: told %q, %v; want %q", c.err, got, ok, c.want)
		}
	}
	if got, ok := Told(fmt.Errorf("c: %w", other), tell); ok {
		t.Errorf("nothing to tell, told %q", got)
	}
}

// TestTell: a failure something tells is its line, the error told still
// in the chain; one nothing tells stays as it is, and nil stays nil.
func TestTell(t *testing.T) {
	cause := errors.New("refused")
	tell := func(e error) (string, bool) { return "registry-tls: " + e.Error() + "; set it", e == cause }
	err := Tell(fmt.Errorf("push: %w", cause), tell)
	var l *Line
	if !errors.As(err, &l) || err.Error() != "registry-tls: refused; set it" || !errors.Is(err, cause) {
		t.Errorf("told %v (%T), want the line over the cause", err, err)
	}
	other := errors.New("other")
	if got := Tell(other, tell); got != other {
		t.Errorf("nothing to tell, got %v", got)
	}
	if Tell(nil, tell) != nil {
		t.Error("Tell of nil is not nil")
	}
}
