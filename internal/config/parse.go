package config

import (
	"errors"
	"fmt"
	"regexp"
	"strings"

	"github.com/blumeops/build-push-image/internal/guard"
	"github.com/blumeops/build-push-image/internal/input"
)

// Helpers every input parser shares: errors named by their input, every
// bad input reported at once, and the small value formats.

// inputErrs collects every bad input, each error a line naming its input
// (an *input.Error).
type inputErrs []error

// validateSkipIdentical refuses skip-identical with attestations: BuildKit
// stamps build times and an invocation id into them, so a rebuild never has
// the published digest and the policy could never match.
func validateSkipIdentical(c Config) error {
	if c.OnExisting != guard.SkipIdentical || (c.Provenance == "" && !c.SBOM) {
		return nil
	}
	return errors.New("skip-identical never matches with provenance or sbom on (BuildKit stamps build times into the attestations, so every build has a new digest); turn them off for this step, or use on-existing-version: fail")
}

// add keeps err, named by the input (name "": err names it already). Each
// error of a joined err is kept as a line of its own.
func (e *inputErrs) add(name string, err error) {
	if err == nil {
		return
	}
	if joined, ok := err.(interface{ Unwrap() []error }); ok {
		for _, one := range joined.Unwrap() {
			e.add(name, one)
		}
		return
	}
	if name != "" {
		err = input.New(name, err, "")
	}
	*e = append(*e, err)
}

// set returns a function that stores a parser's value in dst and keeps its
// error, named by the input: set(&errs, "push", &c.Push)(parseBool(v)).
func set[T any](e *inputErrs, name string, dst *T) func(T, error) {
	return func(v T, err error) {
		*dst = v
		e.add(name, err)
	}
}

// read parses input name of raw into dst and keeps its error, named by
// the input, which is spelled once: read(&errs, raw, "push", &c.Push,
// parseBool).
func read[T any](e *inputErrs, raw map[string]string, name string, dst *T, parse func(string) (T, error)) {
	set(e, name, dst)(parse(raw[name]))
}

// lines is parse applied to each line of a multi-line input (eachLine).
func lines[T any](parse func(string) (T, error)) func(string) ([]T, error) {
	return func(text string) ([]T, error) { return eachLine(text, parse) }
}

// eachLine parses every non-empty line of a multi-line input; an error
// names its line, and every bad line is reported.
func eachLine[T any](text string, parse func(string) (T, error)) ([]T, error) {
	var out []T
	var errs []error
	for i, line := range strings.Split(text, "\n") {
		if line = strings.TrimSpace(line); line == "" {
			continue
		}
		v, err := parse(line)
		if err != nil {
			errs = append(errs, fmt.Errorf("line %d: %w", i+1, err))
			continue
		}
		out = append(out, v)
	}
	return out, errors.Join(errs...)
}

func firstNonEmpty(vals ...string) string {
	for _, v := range vals {
		if v != "" {
			return v
		}
	}
	return ""
}

func parseBool(v string) (bool, error) {
	switch strings.ToLower(v) {
	case "true":
		return true, nil
	case "false":
		return false, nil
	}
	return false, fmt.Errorf("%q is not a boolean; use true or false", v)
}

var keyPattern = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_.-]*$`)

// parseKeyValues reads one KEY=VALUE a line; every bad line is reported.
func parseKeyValues(v string) (map[string]string, error) {
	kv := map[string]string{}
	var errs []error
	for i, line := range strings.Split(v, "\n") {
		line = strings.TrimSpace(line)
		if line == "" {
			continue
		}
		k, val, ok := strings.Cut(line, "=")
		if !ok || !keyPattern.MatchString(k) {
			errs = append(errs, fmt.Errorf("line %d is not KEY=VALUE; write one KEY=VALUE per line", i+1))
			continue
		}
		kv[k] = val
	}
	return kv, errors.Join(errs...)
}
