// Package redact knows every form in which a secret could reach a line
// the program prints, so that main masks each (::add-mask::, which a
// runner matches literally) and text from elsewhere (a registry's error
// body echoing the Authorization header it was sent) has each cut out
// before it is printed, with or without a runner.
package redact

import (
	"encoding/base64"
	"encoding/json"
	"net/url"
	"slices"
	"strconv"
	"strings"
)

// Hidden is what a form of a secret is replaced with.
const Hidden = "***"

// minCore is the shortest base64 run worth masking on its own: shorter
// runs match ordinary text.
const minCore = 8

// Set is the secrets of a run, each in all its forms.
type Set struct {
	forms []string // longest first, so a form is cut before its parts
}

// Add keeps secret in every form: as is; quoted or escaped (Go's %q,
// JSON); with '+' and '_' swapped; URL-encoded; base64-encoded as a
// Basic-auth header carries it (user:secret), whole for each user given
// and, for any other user, the run that encodes the secret alone at each
// of base64's three alignments.
func (s *Set) Add(secret string, users ...string) {
	if strings.TrimSpace(secret) == "" {
		return
	}
	for _, f := range Forms(secret, users...) {
		if !slices.Contains(s.forms, f) {
			s.forms = append(s.forms, f)
		}
	}
	slices.SortStableFunc(s.forms, func(a, b string) int { return len(b) - len(a) })
}

// Redact replaces every form of every secret in text with Hidden.
func (s *Set) Redact(text string) string {
	for _, f := range s.forms {
		text = strings.ReplaceAll(text, f, Hidden)
	}
	return text
}

// Forms are the forms of secret Add keeps, the secret first.
func Forms(secret string, users ...string) []string {
	out := []string{secret}
	add := func(f string) {
		if f != "" && !slices.Contains(out, f) {
			out = append(out, f)
		}
	}
	quoted := strconv.Quote(secret)
	add(quoted[1 : len(quoted)-1])
	js, _ := json.Marshal(secret) // escapes <, > and & too, as json.Marshal prints them
	add(string(js[1 : len(js)-1]))
	add(strings.ReplaceAll(secret, "+", "_"))
	add(strings.ReplaceAll(secret, "_", "+"))
	add(url.QueryEscape(secret))
	add(url.PathEscape(secret))
	for _, user := range users {
		add(base64.StdEncoding.EncodeToString([]byte(user + ":" + secret)))
	}
	for pad := range 3 {
		add(core(secret, pad))
	}
	return out
}

// core is the part of base64(pad bytes + secret) that depends on the
// secret alone: whatever precedes it ("user:") shifts it by pad bytes.
func core(secret string, pad int) string {
	enc := base64.StdEncoding.EncodeToString([]byte(strings.Repeat(":", pad) + secret))
	start := (pad + 2) / 3 * 4 // the characters that also encode the pad
	end := len(enc) - 4        // the last group may encode what follows
	if end-start < minCore {
		return ""
	}
	return enc[start:end]
}

// Basic cuts a Basic-auth header value into its user and secret, for a
// caller that holds only the header it sent.
func Basic(header string) (user, secret string, ok bool) {
	b64, ok := strings.CutPrefix(header, "Basic ")
	if !ok {
		return "", "", false
	}
	raw, err := base64.StdEncoding.DecodeString(strings.TrimSpace(b64))
	if err != nil {
		return "", "", false
	}
	return strings.Cut(string(raw), ":")
}
