package redact

import (
	"slices"
	"strings"
	"sync"
	"unicode"
)

// Masker is a run's secrets: each is masked as soon as it is known, in
// every form of each of its mask values (maskValues), when there is a
// mask to give them to (a runner's ::add-mask::); every line it redacts
// has every form cut out, mask or not: a line may quote what the program
// did not write (a registry's answer). It is safe for concurrent use (a
// renewed ID token is added while the run goes on).
type Masker struct {
	mu     sync.Mutex
	set    Set
	mask   func(form string) // nil: nothing is masked
	masked map[string]bool
}

// NewMasker is a Masker giving each form to mask once; nil masks nothing.
func NewMasker(mask func(form string)) *Masker {
	return &Masker{mask: mask, masked: map[string]bool{}}
}

// Add keeps secret, and masks it; users are those it is the password of
// (its Basic-auth header is masked whole).
func (m *Masker) Add(secret string, users ...string) {
	if strings.TrimSpace(secret) == "" {
		return
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, v := range maskValues(secret) {
		m.set.Add(v, users...)
		for _, form := range Forms(v, users...) {
			if m.mask != nil && !m.masked[form] {
				m.masked[form] = true
				m.mask(form)
			}
		}
	}
}

// Redact cuts every form of every secret out of line.
func (m *Masker) Redact(line string) string {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.set.Redact(line)
}

// minMaskedLine is how many letters and digits a line of a multi-line
// secret needs to be masked on its own: shorter lines ("{", "},", "a: 1")
// carry nothing secret, and masking them would blank them in every log.
const minMaskedLine = 4

// maskValues is what to mask for secret (each in every form, see
// Masker.Add): the whole value and, since a runner masks line by line,
// each of its meaningful lines, trimmed. A line is meaningful when it
// holds at least minMaskedLine letters or digits and is not a PEM armor
// line (-----BEGIN ...-----), which is the same in every key and would
// blank public certificates too.
func maskValues(secret string) []string {
	out := []string{secret}
	for _, line := range strings.Split(secret, "\n") {
		line = strings.TrimSpace(line)
		if line != secret && meaningful(line) && !slices.Contains(out, line) {
			out = append(out, line)
		}
	}
	return out
}

func meaningful(line string) bool {
	if strings.HasPrefix(line, "-----") && strings.HasSuffix(line, "-----") {
		return false
	}
	n := 0
	for _, r := range line {
		if unicode.IsLetter(r) || unicode.IsDigit(r) {
			n++
		}
	}
	return n >= minMaskedLine
}
