package guard

import "testing"

func TestParsePolicy(t *testing.T) {
	for v, want := range map[string]Policy{"fail": Fail, "skip-identical": SkipIdentical} {
		if got, err := ParsePolicy(v); err != nil || got != want {
			t.Errorf("%s: %v %v, want %v", v, got, err, want)
		}
	}
	if _, err := ParsePolicy("skip"); err == nil || err.Error() != `"skip" is not one of fail, skip-identical` {
		t.Errorf("skip: %v", err)
	}
}
