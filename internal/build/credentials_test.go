package build

import (
	"encoding/base64"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

func TestParseCredentials(t *testing.T) {
	creds, err := ParseCredentials("\nghcr.io=bot:tok:with=colons\n  Reg.Example:5000=ci:pw  \n")
	want := []Credential{{Host: "ghcr.io", Username: "bot", Password: "tok:with=colons"}, {Host: "reg.example:5000", Username: "ci", Password: "pw"}}
	if err != nil || !reflect.DeepEqual(creds, want) {
		t.Fatalf("got %+v, %v; want %+v", creds, err, want)
	}
}

// A bad line is named by its number, and nothing of it is repeated: it may
// be a secret pasted whole.
func TestParseCredentialsErrorsNameTheLineOnly(t *testing.T) {
	const secret = "s3cr3t_v@lue"
	for text, line := range map[string]string{
		secret:                                       "line 1",
		"ok.example=u:p\n" + secret + "=u:p":         "line 2",
		"https://reg.example=u:" + secret:            "line 1",
		"reg.example=" + secret:                      "line 1",
		"reg.example=:" + secret:                     "line 1",
		"reg.example=u:":                             "line 1",
		"reg.example=u:p\n\nreg.example=v:" + secret: "line 3",
		"docker.io=u:p\nindex.docker.io=v:" + secret: "line 2",
	} {
		_, err := ParseCredentials(text)
		if err == nil || !strings.HasPrefix(err.Error(), line+":") {
			t.Errorf("%q: %v, want an error on %s", text, err, line)
		}
		if err != nil && strings.Contains(err.Error(), secret) {
			t.Errorf("error repeats the secret: %v", err)
		}
	}
}

func TestReadDockerConfig(t *testing.T) {
	dir := t.TempDir()
	auth := base64.StdEncoding.EncodeToString([]byte("alice:pa:ss"))
	cfg := `{"auths": {"https://index.docker.io/v1/": {"auth": "` + auth + `"}, "reg.example:5000": {"username": "bob", "password": "pw"},
		"quay.io": {}, "https://tok.example/v2/": {"username": "<token>", "identitytoken": "idt"}},
		"credsStore": "desktop", "credHelpers": {"gcr.io": "gcloud"}}`
	if err := os.WriteFile(filepath.Join(dir, "config.json"), []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	got, err := ReadDockerConfig(dir)
	if err != nil {
		t.Fatal(err)
	}
	want := DockerConfig{
		Credentials: []Credential{
			{Host: "index.docker.io", Username: "alice", Password: "pa:ss"},
			{Host: "reg.example:5000", Username: "bob", Password: "pw"},
			{Host: "tok.example", Username: "<token>", IdentityToken: "idt"},
		},
		Helpers: []string{"desktop", "gcloud"},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got %+v\nwant %+v", got, want)
	}
	if s := Secrets(got.Credentials); !reflect.DeepEqual(s, []string{"pa:ss", "pw", "idt"}) {
		t.Errorf("secrets to mask: %q", s)
	}
}

func TestReadDockerConfigMissingOrBroken(t *testing.T) {
	dir := t.TempDir()
	if got, err := ReadDockerConfig(dir); err != nil || len(got.Credentials) != 0 {
		t.Errorf("no config.json: %+v, %v", got, err)
	}
	const secret = "c2VjcmV0LXdpdGhvdXQtY29sb24="
	if err := os.WriteFile(filepath.Join(dir, "config.json"), []byte(`{"auths": {"r.example": {"auth": "`+secret+`"}}}`), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := ReadDockerConfig(dir)
	if err == nil || strings.Contains(err.Error(), secret) || strings.Contains(err.Error(), "secret-without-colon") {
		t.Errorf("broken auth: %v", err)
	}
}

func TestMergeCredentialsFirstWins(t *testing.T) {
	a := []Credential{{Host: "r.example", Username: "input"}}
	b := []Credential{{Host: "r.example", Username: "docker-config"}, {Host: "other.example", Username: "x"}}
	hub := []Credential{{Host: "docker.io", Username: "input"}, {Host: "index.docker.io", Username: "docker-config"}}
	got := MergeCredentials(a, b, hub)
	if len(got) != 3 || got[0].Username != "input" || got[1].Host != "other.example" || got[2].Username != "input" {
		t.Errorf("%+v", got)
	}
}
