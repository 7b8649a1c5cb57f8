package build

import (
	"fmt"
	"strings"
)

// ParseProvenance reads the provenance input into Request.Provenance:
// false is none (""), true is min, and min or max name the mode.
func ParseProvenance(v string) (string, error) {
	switch strings.ToLower(v) {
	case "false":
		return "", nil
	case "true", "min":
		return "min", nil
	case "max":
		return "max", nil
	}
	return "", fmt.Errorf("%q is not one of false, true, min, max", v)
}
