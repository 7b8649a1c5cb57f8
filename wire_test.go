package main

import (
	"bytes"
	"net"
	"strings"
	"testing"

	"github.com/blumeops/build-push-image/internal/testcheck"
)

func TestBuildkitWire(t *testing.T) {
	cases := []struct {
		name, addr string
		change     map[string]string
		refused    bool
	}{
		{"remote IP with credentials", "tcp://10.1.2.3:1234", nil, true},
		{"remote name with credentials", "tcp://buildkit.internal:1234", nil, true},
		{"unspecified address with credentials", "tcp://0.0.0.0:1234", nil, true},
		{"remote with build secrets only", "tcp://10.1.2.3:1234", map[string]string{"INPUT_PUSH": "false", "INPUT_USERNAME": "", "INPUT_API-KEY": "", "INPUT_SECRETS": "s=v"}, true},
		{"remote without credentials or secrets", "tcp://10.1.2.3:1234", map[string]string{"INPUT_PUSH": "false", "INPUT_USERNAME": "", "INPUT_API-KEY": ""}, false},
		{"remote over TLS", "tcp://10.1.2.3:1234", map[string]string{"INPUT_BUILDKIT-TLS-SERVER-NAME": "buildkit.internal"}, false},
		{"127.0.0.1", "tcp://127.0.0.1:1234", nil, false},
		{"127.0.0.2", "tcp://127.0.0.2:1234", nil, false},
		{"localhost", "tcp://LocalHost:1234", nil, false},
		{"::1", "tcp://[::1]:1234", nil, false},
		{"unix socket", "unix:///run/buildkit/buildkitd.sock", nil, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			env := validInputs(workspace(t))
			env["INPUT_BUILDKIT-ADDRESS"] = tc.addr
			for k, v := range tc.change {
				env[k] = v
			}
			_, err := loadConfig(nil, fakeEnv(env), &bytes.Buffer{})
			if refused := err != nil && strings.Contains(err.Error(), "buildkit-tls-*"); refused != tc.refused {
				t.Errorf("refused %t, want %t (err: %v)", refused, tc.refused, err)
			}
		})
	}
}

// TestPlaintextRemoteRefusedBeforeConnecting: with credentials, a
// plaintext tcp:// address that is not a loopback literal is refused with
// one line before any connection. 0.0.0.0 is such an address, yet on
// Linux a dial to it lands on the local listener: had the program dialled,
// the listener would have seen it (the second case shows it does).
func TestPlaintextRemoteRefusedBeforeConnecting(t *testing.T) {
	for _, withCredentials := range []bool{true, false} {
		l := newCallLog(t)
		env := validInputs(workspace(t))
		env["INPUT_BUILDKIT-ADDRESS"] = "tcp://0.0.0.0:" + strings.Split(l.Addr().String(), ":")[1]
		if !withCredentials {
			env["INPUT_PUSH"], env["INPUT_USERNAME"], env["INPUT_API-KEY"] = "false", "", ""
		}
		var stdout bytes.Buffer
		code := realMain(nil, fakeEnv(env), &stdout, &bytes.Buffer{})
		dials := l.before(t)
		if !withCredentials {
			if code != 1 || dials == 0 {
				t.Errorf("without credentials: exit %d after %d dials; want exit 1 after the program's own dial", code, dials)
			}
			continue
		}
		if code != 2 || dials != 0 {
			t.Errorf("with credentials: exit %d after %d dials; want exit 2 and no dial", code, dials)
		}
		testcheck.OneErrorLine(t, stdout.String(), "buildkit-address: tcp://0.0.0.0:")
		testcheck.OneErrorLine(t, stdout.String(), "buildkit-tls-*")
	}
}

// callLog is a listener that hangs up on every caller and notes where
// each came from, in order.
type callLog struct {
	net.Listener
	from chan string
}

func newCallLog(t *testing.T) *callLog {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = l.Close() })
	c := &callLog{Listener: l, from: make(chan string, 100)}
	go func() {
		for {
			a, err := l.Accept()
			if err != nil {
				return
			}
			c.from <- a.RemoteAddr().String()
			_ = a.Close()
		}
	}()
	return c
}

// before dials the listener itself and counts the callers accepted ahead
// of that call: the connections made before now.
func (c *callLog) before(t *testing.T) int {
	t.Helper()
	conn, err := net.Dial("tcp", c.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	n := 0
	for from := range c.from {
		if from == conn.LocalAddr().String() {
			return n
		}
		n++
	}
	return n
}
