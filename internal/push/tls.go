package push

import "fmt"

// ParseTLS reads a TLS mode by its name in the registry-tls input:
// enabled, insecure or disabled.
func ParseTLS(v string) (TLS, error) {
	switch v {
	case "enabled":
		return TLSEnabled, nil
	case "insecure":
		return TLSInsecure, nil
	case "disabled":
		return TLSDisabled, nil
	}
	return 0, fmt.Errorf("%q is not one of enabled, insecure, disabled", v)
}
