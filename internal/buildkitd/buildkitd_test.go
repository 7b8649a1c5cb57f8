package buildkitd

import (
	"fmt"
	"os"
	"slices"
	"strings"
	"testing"
)

// The end-to-end tests (e2e/) drive Connect against a real buildkitd and a
// real Docker daemon; these pin what is accepted and passed on.

func TestValidateAddress(t *testing.T) {
	for _, addr := range []string{
		"unix:///run/buildkit/buildkitd.sock", "tcp://10.0.0.5:1234", "tcp://[::1]:1234",
		"docker-container://buildkitd", "docker-container://build_kit-1?context=remote",
		"podman-container://buildkitd", "kube-pod://buildkitd-0?namespace=ci",
		"ssh://ci@builder.example:2222", "ssh://builder.example/run/buildkit/buildkitd.sock",
	} {
		if err := ValidateAddress(addr); err != nil {
			t.Errorf("%s refused: %v", addr, err)
		}
	}
	for addr, want := range map[string]string{
		"/run/buildkit/buildkitd.sock": "must start with unix://, tcp://, docker-container://, podman-container://, kube-pod:// or ssh://",
		"http://builder:1234":          "must start with",
		"npipe:////./pipe/buildkitd":   "must start with",
		"unix://":                      "names no socket",
		"tcp://":                       "is not tcp://<host>:<port>",
		"tcp://host":                   "is not tcp://<host>:<port>",
		"tcp://::1:1234":               "tcp://",
		"docker-container://":          "url lacks container name",
		"ssh://ci:hunter2@builder":     "plain-text password is not supported",
	} {
		err := ValidateAddress(addr)
		if err == nil || !strings.Contains(err.Error(), want) || strings.Contains(err.Error(), "hunter2") {
			t.Errorf("%s: error %v, want one containing %q", addr, err, want)
		}
	}
}

func TestContainerDefaultsAndHash(t *testing.T) {
	c := Container{}.withDefaults()
	if c.Image != DefaultImage || !slices.Equal(c.RunFlags, []string{"--privileged"}) {
		t.Errorf("defaults: %+v", c)
	}
	mirror := Container{Image: "registry.example/mirror/buildkit:v0.34.2"}.withDefaults()
	flags := Container{RunFlags: []string{"--cap-add", "SYS_ADMIN"}}.withDefaults()
	if c.hash() == mirror.hash() || c.hash() == flags.hash() || c.hash() != (Container{}).withDefaults().hash() {
		t.Errorf("hash does not tell image and flags apart: %s %s %s", c.hash(), mirror.hash(), flags.hash())
	}
}

// TestDefaultImageIsTheClientsRelease: the pinned image moves with the
// BuildKit client in go.mod.
func TestDefaultImageIsTheClientsRelease(t *testing.T) {
	mod, err := os.ReadFile("../../go.mod")
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(mod), "\n") {
		if f := strings.Fields(line); len(f) >= 2 && f[0] == "github.com/moby/buildkit" {
			if want := "docker.io/moby/buildkit:" + f[1]; DefaultImage != want {
				t.Errorf("DefaultImage = %s, want %s (go.mod's BuildKit)", DefaultImage, want)
			}
			return
		}
	}
	t.Fatal("go.mod does not require github.com/moby/buildkit")
}

// TestLastWords: an error shows buildkitd's last message, not the frames
// of the stack trace it printed after it.
func TestLastWords(t *testing.T) {
	log := "level=info msg=starting\nbuildkitd: failed to create unix socket on /run/buildkit/otel-grpc.sock: permission denied\n" +
		"main.runTraceController\n\tgithub.com/moby/buildkit/cmd/buildkitd/main.go:1120\nmain.main\n\tmain.go:495\n" +
		"[rootlesskit:child ] error: command exited: exit status 1\n[rootlesskit:child ] error: command exited: exit status 1\n"
	want := "level=info msg=starting | buildkitd: failed to create unix socket on /run/buildkit/otel-grpc.sock: permission denied | [rootlesskit:child ] error: command exited: exit status 1"
	if got := lastWords(log); got != want {
		t.Errorf("lastWords:\n got %q\nwant %q", got, want)
	}
	if got := lastWords(""); got != "(none)" {
		t.Errorf("empty log: %q", got)
	}
	long := ""
	for i := range 20 {
		long += fmt.Sprintf("line %d\n", i)
	}
	long += "last"
	if got := lastWords(long); strings.Count(got, "|") != logLines-1 || !strings.HasSuffix(got, "last") {
		t.Errorf("long log: %q", got)
	}
}

// TestMirrorsConfig: Docker's registry-mirrors become buildkitd's docker.io
// mirrors, plain HTTP where the URL says so.
func TestMirrorsConfig(t *testing.T) {
	config, mirrors := mirrorsConfig([]string{"https://mirror.example/", "http://127.0.0.1:5000", "https://zot.example/v2/docker/", "::bad"})
	if want := []string{"mirror.example", "127.0.0.1:5000", "zot.example/v2/docker"}; !slices.Equal(mirrors, want) {
		t.Errorf("mirrors %q, want %q", mirrors, want)
	}
	if _, err := ParseDaemonConfig(config); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"[registry.'127.0.0.1:5000']\nhttp = true", "[registry.'docker.io']\nmirrors = ['mirror.example', '127.0.0.1:5000', 'zot.example/v2/docker']"} {
		if !strings.Contains(string(config), want) {
			t.Errorf("config lacks %q:\n%s", want, config)
		}
	}
	if config, _ := mirrorsConfig(nil); config != nil {
		t.Errorf("no mirrors: config %q", config)
	}
}

// TestRootlessCommand: the command line BuildKit documents for rootless,
// with the job's directory as socket, state and runtime directory.
func TestRootlessCommand(t *testing.T) {
	l := launch{bin: "/opt/bin/buildkitd", rootlesskit: "/usr/bin/rootlesskit", config: []byte("debug = true"),
		env: []string{"PATH=/usr/bin", "XDG_RUNTIME_DIR=/run/user/1000", "USER=ci"}}
	cmd := l.command("/run/user/1000/buildkitd-1")
	want := []string{"/usr/bin/rootlesskit", "--net=host", "--copy-up=/etc", "--disable-host-loopback",
		"/opt/bin/buildkitd", "--oci-worker-snapshotter=native",
		"--addr", "unix:///run/user/1000/buildkitd-1/buildkitd.sock", "--root", "/run/user/1000/buildkitd-1/state",
		"--allow-insecure-entitlement", "network.host", "--config", "/run/user/1000/buildkitd-1/buildkitd.toml"}
	if !slices.Equal(cmd.Args, want) {
		t.Errorf("args:\n got %q\nwant %q", cmd.Args, want)
	}
	if envValue(cmd.Env, "XDG_RUNTIME_DIR") != "/run/user/1000/buildkitd-1" || envValue(cmd.Env, "USER") != "ci" || len(cmd.Env) != 3 {
		t.Errorf("env %q", cmd.Env)
	}
	l.rootlesskit, l.config = "", nil
	if cmd := l.command("/tmp/d"); cmd.Args[0] != "/opt/bin/buildkitd" || slices.Contains(cmd.Args, "--oci-worker-snapshotter=native") || !slices.Equal(cmd.Env, l.env) {
		t.Errorf("as root: %q %q", cmd.Args, cmd.Env)
	}
}
