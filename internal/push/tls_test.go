package push

import "testing"

func TestParseTLS(t *testing.T) {
	for v, want := range map[string]TLS{"enabled": TLSEnabled, "insecure": TLSInsecure, "disabled": TLSDisabled} {
		if got, err := ParseTLS(v); err != nil || got != want {
			t.Errorf("%s: %v %v, want %v", v, got, err, want)
		}
	}
	if _, err := ParseTLS("off"); err == nil || err.Error() != `"off" is not one of enabled, insecure, disabled` {
		t.Errorf("off: %v", err)
	}
}
