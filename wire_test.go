package main

import (
	"bytes"
	"net"
	"strings"
	"testing"

	"github.com/blumeops/build-push-image/internal/testcheck"
)

// TestPlaintextRemoteRefusedBeforeConnecting: with credentials, a
// plaintext tcp:// address that is not a loopback literal is refused with
// one line before any connection. 0.0.0.0 is such an address, yet on
// Linux a dial to it lands on the local listener: had the program dialled,
// the listener would have seen it (the second case shows it does).
func TestPlaintextRemoteRefusedBeforeConnecting(t *testing.T) {
	for _, withCredentials := range []bool{true, false} {
		l := newCallLog(t)
		env := testcheck.ValidInputs(testcheck.Workspace(t))
		env["INPUT_BUILDKIT-ADDRESS"] = "tcp://0.0.0.0:" + strings.Split(l.Addr().String(), ":")[1]
		if !withCredentials {
			env["INPUT_PUSH"], env["INPUT_USERNAME"], env["INPUT_API-KEY"] = "false", "", ""
		}
		var stdout bytes.Buffer
		code := realMain(nil, testcheck.Lookup(env), &stdout, &bytes.Buffer{})
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
