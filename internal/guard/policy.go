package guard

import "fmt"

// ParsePolicy reads a policy by its name in the on-existing-version input:
// fail or skip-identical.
func ParsePolicy(v string) (Policy, error) {
	switch v {
	case "fail":
		return Fail, nil
	case "skip-identical":
		return SkipIdentical, nil
	}
	return 0, fmt.Errorf("%q is not one of fail, skip-identical", v)
}
