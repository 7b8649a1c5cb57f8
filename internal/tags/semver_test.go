package tags

import (
	"slices"
	"testing"
)

func TestMoving(t *testing.T) {
	for version, want := range map[string][]string{
		"v1.2.3":       {"v1", "v1.2"},
		"1.2.3":        {"1", "1.2"},
		"v10.0.1":      {"v10", "v10.0"},
		"v1.2.0-rc.1":  nil,
		"v1.2.0_build": nil,
	} {
		got, err := Moving(version)
		if err != nil || !slices.Equal(got, want) {
			t.Errorf("%s: %v, %v; want %v", version, got, err, want)
		}
	}
	for _, bad := range []string{"v1.2", "latest", "v1", "release-3"} {
		if _, err := Moving(bad); err == nil {
			t.Errorf("%s: no error", bad)
		}
	}
}

func TestNewer(t *testing.T) {
	cases := []struct {
		a, b string
		want bool
	}{
		{"v1.2.0", "v1.1.5", true},
		{"v1.1.5", "v1.2.0", false},
		{"v1.2.0", "v1.2.0", false},
		{"1.10.0", "1.9.9", true},
		{"v1.2.0", "v1.2.0-rc.1", true},
		{"unknown", "v1.0.0", false},
	}
	for _, c := range cases {
		if got := Newer(c.a, c.b); got != c.want {
			t.Errorf("Newer(%s, %s) = %t", c.a, c.b, got)
		}
	}
}

func TestIsRelease(t *testing.T) {
	for v, want := range map[string]bool{
		"v1.2.3": true, "1.2.3": true, "v1.2.3-rc.1": true, "1.2.3_build.5": true, "v1.2.3-rc.1_b": true,
		"v1": false, "v1.2": false, "1111111": false, "v1.2_x.y": false, "latest": false, "": false,
	} {
		if got := IsRelease(v); got != want {
			t.Errorf("IsRelease(%q) = %v, want %v", v, got, want)
		}
	}
}
