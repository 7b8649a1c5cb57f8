package source

import (
	"errors"
	"fmt"
)

// Sentinels say what kind of problem an archive has; check them with
// errors.Is. Every one of them is also ErrBad: the archive input is bad
// input, whatever is wrong with it.
var (
	// ErrBad is any archive that cannot be published as it is: not an
	// image, truncated, inconsistent, or hostile.
	ErrBad = errors.New("bad archive")
	// ErrHostile is an archive that names something outside itself: an
	// entry name or link with "..", an absolute path, a link leaving the
	// archive or the layout directory.
	ErrHostile = fmt.Errorf("%w: it points outside itself", ErrBad)
	// ErrTooLarge is an archive that unpacks to more than Limits allow
	// (a decompression bomb, or an image too large to handle).
	ErrTooLarge = fmt.Errorf("%w: too large", ErrBad)
	// ErrChoose is an archive holding several images and no (or no
	// matching) choice among them.
	ErrChoose = fmt.Errorf("%w: which image", ErrBad)
	// ErrPlatform is an image that is not for a platform it must be for
	// (Options.Platforms).
	ErrPlatform = fmt.Errorf("%w: another platform", ErrBad)
)

// Error is what is wrong with an archive, in one line that names neither
// the input nor the path (the caller writes those), e.g. "layer
// 3/layer.tar: its sha256 is … but the config says …".
type Error struct {
	// Reason is the line for the user.
	Reason string
	// Kind is one of the sentinels above.
	Kind error
	// Err is the underlying failure, when there is one.
	Err error
}

func (e *Error) Error() string { return e.Reason }

// Is makes the error match its kind and ErrBad.
func (e *Error) Is(target error) bool { return target == e.Kind || target == ErrBad }

func (e *Error) Unwrap() error { return e.Err }

// bad is an *Error of kind ErrBad.
func bad(format string, args ...any) error {
	return &Error{Reason: fmt.Sprintf(format, args...), Kind: ErrBad, Err: wrapped(args)}
}

// hostile is an *Error of kind ErrHostile.
func hostile(format string, args ...any) error {
	return &Error{Reason: fmt.Sprintf(format, args...), Kind: ErrHostile}
}

// wrapped is the first error among args, so errors.Is sees through the
// message to it (a context cancellation, a full disk).
func wrapped(args []any) error {
	for _, a := range args {
		if err, ok := a.(error); ok {
			return err
		}
	}
	return nil
}
