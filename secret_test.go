package main

import (
	"encoding/base64"
	"strings"
	"testing"
)

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

// assertNoSecret fails when any form of key appears in any of texts, except
// in the runner's own ::add-mask:: command, which is how it gets masked.
func assertNoSecret(t *testing.T, key string, texts ...string) {
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
