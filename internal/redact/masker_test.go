package redact

import (
	"slices"
	"testing"
)

func TestMaskValues(t *testing.T) {
	pem := "-----BEGIN PRIVATE KEY-----\nMIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQg\r\n  aBcD\n-----END PRIVATE KEY-----\n"
	json := "{\n  \"type\": \"service_account\",\n  \"private_key_id\": \"0f1e2d3c\",\n  \"n\": 12,\n},\n}"
	cases := []struct {
		name, secret string
		want         []string
	}{
		{"one line", "zak_0123", []string{"zak_0123"}},
		{"PEM key", pem, []string{pem, "MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQg", "aBcD"}},
		{"JSON", json, []string{json, `"type": "service_account",`, `"private_key_id": "0f1e2d3c",`}},
		{"repeated line", "abcdef\nabcdef\n", []string{"abcdef\nabcdef\n", "abcdef"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := maskValues(tc.secret); !slices.Equal(got, tc.want) {
				t.Errorf("maskValues = %q\nwant %q", got, tc.want)
			}
		})
	}
}

// TestMasker: a secret is masked once in every form of each mask value,
// and cut out of every line; without a mask nothing is masked, yet
// lines are still redacted.
func TestMasker(t *testing.T) {
	var masked []string
	m := NewMasker(func(form string) { masked = append(masked, form) })
	m.Add("zak_0123456789\nsecond_line_42", "ci")
	m.Add("zak_0123456789\nsecond_line_42", "ci")
	m.Add("  ")
	for _, v := range []string{"zak_0123456789\nsecond_line_42", "zak_0123456789", "second_line_42"} {
		for _, f := range Forms(v, "ci") {
			if n := count(masked, f); n != 1 {
				t.Errorf("form %q masked %d times, want once", f, n)
			}
		}
	}
	if got := m.Redact("key zak_0123456789 and second_line_42"); got != "key *** and ***" {
		t.Errorf("redacted %q", got)
	}
	byHand := NewMasker(nil)
	byHand.Add("zak_0123456789")
	if got := byHand.Redact("key zak_0123456789"); got != "key ***" {
		t.Errorf("by hand, redacted %q", got)
	}
}

func count(list []string, s string) int {
	n := 0
	for _, x := range list {
		if x == s {
			n++
		}
	}
	return n
}
