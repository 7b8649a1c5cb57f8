package build

import "testing"

func TestParseProvenance(t *testing.T) {
	for v, want := range map[string]string{"false": "", "true": "min", "TRUE": "min", "min": "min", "max": "max"} {
		if got, err := ParseProvenance(v); err != nil || got != want {
			t.Errorf("%s: %q %v, want %q", v, got, err, want)
		}
	}
	if _, err := ParseProvenance("full"); err == nil || err.Error() != `"full" is not one of false, true, min, max` {
		t.Errorf("full: %v", err)
	}
}
