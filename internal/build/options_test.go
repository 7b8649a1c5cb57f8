package build

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestParseNamedContext(t *testing.T) {
	dir := t.TempDir()
	good := map[string]NamedContext{
		"assets=" + dir: {Name: "assets", Dir: dir},
		"alpine = docker-image://reg.example/al:3 ": {Name: "alpine", Image: "reg.example/al:3"},
	}
	for line, want := range good {
		got, err := ParseNamedContext(line)
		if err != nil || got != want {
			t.Errorf("%q: %+v, %v; want %+v", line, got, err, want)
		}
	}
	for _, line := range []string{"assets", "=" + dir, "a b=" + dir, "x=docker-image://", "x=https://example.com/ctx.tar", "x=" + filepath.Join(dir, "missing")} {
		if _, err := ParseNamedContext(line); err == nil {
			t.Errorf("%q: %v, want an error", line, err)
		}
	}
}

func TestParseSSH(t *testing.T) {
	key := filepath.Join(t.TempDir(), "id_ed25519")
	if err := os.WriteFile(key, []byte("not read here"), 0o600); err != nil {
		t.Fatal(err)
	}
	if s, err := ParseSSH("default", "/run/agent.sock"); err != nil || s.ID != "default" || s.Paths[0] != "/run/agent.sock" {
		t.Errorf("default with an agent: %+v, %v", s, err)
	}
	if s, err := ParseSSH("deploy="+key, ""); err != nil || s.ID != "deploy" || len(s.Paths) != 1 || s.Paths[0] != key {
		t.Errorf("id=key: %+v, %v", s, err)
	}
	for _, line := range []string{"default", "deploy=", "=" + key, "deploy=/no/such/key"} {
		if _, err := ParseSSH(line, ""); err == nil {
			t.Errorf("%q: %v, want an error", line, err)
		}
	}
}

func TestParseHostShmUlimitNetwork(t *testing.T) {
	for line, want := range map[string]string{"db:10.0.0.5": "db=10.0.0.5", "db=10.0.0.5": "db=10.0.0.5", "v6=[::1]": "v6=::1"} {
		if got, err := ParseHost(line); err != nil || got != want {
			t.Errorf("host %q: %q, %v; want %q", line, got, err, want)
		}
	}
	for _, line := range []string{"db", "db:notanip", ":10.0.0.5"} {
		if _, err := ParseHost(line); err == nil {
			t.Errorf("host %q: %v, want an error", line, err)
		}
	}
	if n, err := ParseShmSize("128m"); err != nil || n != 128<<20 {
		t.Errorf("shm-size 128m: %d, %v", n, err)
	}
	if _, err := ParseShmSize("lots"); err == nil {
		t.Errorf("shm-size lots: %v", err)
	}
	if u, err := ParseUlimit("nofile=1024:2048"); err != nil || u.String() != "nofile=1024:2048" {
		t.Errorf("ulimit: %v, %v", u, err)
	}
	if _, err := ParseUlimit("files=1"); err == nil {
		t.Errorf("ulimit files=1: %v", err)
	}
	if n, err := ParseNetwork("default"); err != nil || n != "" {
		t.Errorf("network default: %q, %v", n, err)
	}
	if _, err := ParseNetwork("bridge"); err == nil || !strings.Contains(err.Error(), "default, host, none") {
		t.Errorf("network bridge: %v", err)
	}
}
