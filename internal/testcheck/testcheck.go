// Package testcheck holds the assertions the unit tests (package main) and
// the end-to-end tests (package e2e) share: one ::error:: line, and no
// secret anywhere. It is test support, not part of the action.
package testcheck

import (
	"encoding/base64"
	"strings"
	"testing"
)

// SHA is the commit SHA the tests pass as the sha input.
const SHA = "0123456789abcdef0123456789abcdef01234567"

// OneErrorLine checks the output holds exactly one ::error:: line, that it
// contains want, and that nothing looks like a panic.
func OneErrorLine(t testing.TB, out, want string) {
	t.Helper()
	var errs []string
	for _, l := range strings.Split(out, "\n") {
		if strings.HasPrefix(l, "::error") {
			errs = append(errs, l)
		}
	}
	if len(errs) != 1 {
		t.Fatalf("want exactly one ::error:: line, got %d in:\n%s", len(errs), out)
	}
	if !strings.Contains(errs[0], want) {
		t.Errorf("error line %q does not contain %q", errs[0], want)
	}
	if strings.Contains(out, "goroutine ") || strings.Contains(out, "panic:") {
		t.Errorf("output looks like a panic:\n%s", out)
	}
}

// secretForms are the ways a key could leak: as is, and base64-encoded
// alone or inside a Basic-auth header value (at each alignment).
func secretForms(key string) []string {
	forms := []string{key}
	for _, prefix := range []string{"", "ci:", "x:", "xx:"} {
		enc := base64.StdEncoding.EncodeToString([]byte(prefix + key))
		// Skip the characters that depend on the prefix; the rest encodes
		// the key alone.
		skip := (len(prefix) + 2) / 3 * 4
		if len(enc) > skip+8 {
			forms = append(forms, strings.TrimRight(enc[skip:len(enc)-4], "="))
		}
	}
	return forms
}

// NoSecret fails when any form of key appears in any of texts, except in
// the runner's own ::add-mask:: command, which is how it gets masked.
func NoSecret(t testing.TB, key string, texts ...string) {
	t.Helper()
	if key == "" {
		return
	}
	for i, text := range texts {
		for _, line := range strings.Split(text, "\n") {
			if strings.HasPrefix(line, "::add-mask::") {
				continue
			}
			for _, form := range secretForms(key) {
				if strings.Contains(line, form) {
					t.Errorf("secret (form %q) leaked in text %d: %q", form, i, line)
				}
			}
		}
	}
}
