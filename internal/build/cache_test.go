package build

import (
	"maps"
	"strings"
	"testing"
)

func TestParseCache(t *testing.T) {
	cases := map[string]Cache{
		"type=registry,ref=r.example/app:cache,mode=max": {"registry", map[string]string{"ref": "r.example/app:cache", "mode": "max"}},
		`type=local, dest=/tmp/c`:                        {"local", map[string]string{"dest": "/tmp/c"}},
		`type=gha,"scope=a,b",url=x`:                     {"gha", map[string]string{"scope": "a,b", "url": "x"}},
		`Type=registry,ref=x`:                            {"registry", map[string]string{"ref": "x"}},
	}
	for line, want := range cases {
		got, err := ParseCache(line)
		if err != nil || got.Type != want.Type || !maps.Equal(got.Attrs, want.Attrs) {
			t.Errorf("%s: %+v %v, want %+v", line, got, err, want)
		}
	}
	for line, want := range map[string]string{
		"ref=x":             "no type=",
		"type=registry,ref": `"ref" is not key=value`,
		`type=a,"ref=x`:     "not comma-separated key=value",
		`type=a,ref="a,b"`:  `as in CSV: "key=a,b"`,
		"type=a,=b":         `"=b" is not key=value`,
	} {
		_, err := ParseCache(line)
		if err == nil || !strings.Contains(err.Error(), want) || strings.Contains(err.Error(), "\n") {
			t.Errorf("%s: %v, want one line with %q", line, err, want)
		}
	}
}
