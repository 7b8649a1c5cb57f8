// Package input is the error a run reports about one of the action's
// inputs: it carries the input it concerns and the advice to give, so the
// one line a user reads is found (errors.As) or looked up by the error's
// type, not decided by an ordered switch over every way a run can fail;
// a Line is a failure told so, over the error it tells.
// It imports nothing of the action's.
package input

// Error is what is wrong, named by the input that can fix it.
type Error struct {
	// Input names the input (or inputs, "buildkit-image,
	// buildkit-container-flags") that can fix it; "" when Err names it.
	Input string
	// Err is what went wrong, with the facts.
	Err error
	// Advice is how to fix it; "" when Err says it.
	Advice string
}

// Error is the user's line: "input: what went wrong; advice".
func (e *Error) Error() string {
	line := e.Err.Error()
	if e.Input != "" {
		line = e.Input + ": " + line
	}
	if e.Advice != "" {
		line += "; " + e.Advice
	}
	return line
}

// Unwrap lets errors.Is and errors.As see what went wrong.
func (e *Error) Unwrap() error { return e.Err }

// New names err by its input, with advice ("" for none); nil stays nil.
func New(name string, err error, advice string) error {
	if err == nil {
		return nil
	}
	return &Error{Input: name, Err: err, Advice: advice}
}

// Told is the line of the first error of err's chain, outermost first
// (errors.Is's order, depth first), that tell has one for, and whether
// one had: lines looked up by each error's own type or value, so the
// package that wrapped a failure in its own type says what it is, and no
// order of cases decides.
func Told(err error, tell func(error) (string, bool)) (string, bool) {
	if err == nil {
		return "", false
	}
	if line, ok := tell(err); ok {
		return line, true
	}
	switch u := err.(type) {
	case interface{ Unwrap() error }:
		return Told(u.Unwrap(), tell)
	case interface{ Unwrap() []error }:
		for _, e := range u.Unwrap() {
			if line, ok := Told(e, tell); ok {
				return line, true
			}
		}
	}
	return "", false
}

// Line is a failure told: the one line a user reads of Err, worded by
// the package that saw the facts (the input that fixes it, what went
// wrong, how to fix it), over the error it tells, which stays in the
// chain for errors.Is and errors.As.
type Line struct {
	Text string
	Err  error
}

// Error is the user's line.
func (l *Line) Error() string { return l.Text }

// Unwrap lets errors.Is and errors.As see the error told.
func (l *Line) Unwrap() error { return l.Err }

// Tell is err as the line tell has for it (Told), else err as it is;
// nil stays nil.
func Tell(err error, tell func(error) (string, bool)) error {
	if line, ok := Told(err, tell); ok {
		return &Line{Text: line, Err: err}
	}
	return err
}
