package config

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"slices"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/blumeops/build-push-image/internal/input"
)

// Input is one action input: its name (the flag name, and INPUT_<NAME> in
// the environment), its default and its description, as in action.yml.
type Input struct {
	Name, Default, Description string
}

// Inputs are an action.yml's inputs, in its order: the program's flags,
// their defaults the program's defaults and their descriptions its --help.
// The action.yml itself stays at the repository root (the action's
// metadata), so main embeds it and hands it here.
type Inputs []Input

// MustInputs is ParseInputs for an embedded action.yml: a broken one is a
// build error, caught by every test of the program.
func MustInputs(actionYAML []byte) Inputs {
	in, err := ParseInputs(actionYAML)
	if err != nil {
		panic(err)
	}
	return in
}

// ParseInputs reads the inputs: section of an action.yml.
func ParseInputs(b []byte) (Inputs, error) {
	var doc struct{ Inputs yaml.Node }
	if err := yaml.Unmarshal(b, &doc); err != nil {
		return nil, fmt.Errorf("action.yml: %w", err)
	}
	n := doc.Inputs
	if n.Kind != yaml.MappingNode || len(n.Content) == 0 {
		return nil, errors.New("action.yml: inputs: is missing or not a mapping")
	}
	out := make(Inputs, 0, len(n.Content)/2)
	for i := 0; i+1 < len(n.Content); i += 2 {
		var v struct{ Description, Default string }
		if err := n.Content[i+1].Decode(&v); err != nil {
			return nil, fmt.Errorf("action.yml: input %s: %w", n.Content[i].Value, err)
		}
		out = append(out, Input{Name: n.Content[i].Value, Default: v.Default, Description: strings.Join(strings.Fields(v.Description), " ")})
	}
	return out, nil
}

// LookupEnv reads the environment as os.LookupEnv does: a variable's
// value, and whether it is set at all. Under a runner an input that is not
// set takes action.yml's default, and one set to "" stays empty.
type LookupEnv func(string) (string, bool)

// Getenv is l as os.Getenv: unset and empty read the same.
func (l LookupEnv) Getenv(name string) string {
	v, _ := l(name)
	return v
}

// Load reads every input from flags, falling back to INPUT_* and
// then to the defaults, and validates the result.
func Load(inputs Inputs, args []string, env LookupEnv, usage io.Writer) (Config, error) {
	raw, err := inputs.Read(args, env, usage)
	if err != nil {
		return Config{}, err
	}
	c, err := parse(raw, env.Getenv)
	if given := inputs.checkArchiveInputs(raw, c.Origin); given != nil {
		return Config{}, errors.Join(given, err)
	}
	if err != nil {
		return Config{}, err
	}
	return c, nil
}

// Read reads every input: a flag, else INPUT_<NAME>, else the default.
// usage gets --help and the flag package's complaints.
func (inputs Inputs) Read(args []string, env LookupEnv, usage io.Writer) (map[string]string, error) {
	fs := flag.NewFlagSet("build-push-image", flag.ContinueOnError)
	fs.SetOutput(usage)
	// --help lists every flag but the secret inputs, which are defined
	// only to be refused in one clear line rather than as unknown flags.
	listed := flag.NewFlagSet("build-push-image", flag.ContinueOnError)
	listed.SetOutput(usage)
	fs.Usage = func() {
		fmt.Fprintln(usage, "Usage: build-push-image [--input value ...]\n       build-push-image plan [--input value ...]\n\nEvery input of action.yml (plan/action.yml for plan) is a flag, or INPUT_<NAME> in the environment; a flag wins.\napi-key, signing-key and signing-key-password are no flags: they are read from the environment only, INPUT_API-KEY or INPUT_API_KEY and so on.")
		listed.PrintDefaults()
	}
	flags := make(map[string]*string, len(inputs))
	for _, in := range inputs {
		flags[in.Name] = fs.String(in.Name, in.Default, in.Description)
		if !slices.Contains(SecretInputs, in.Name) {
			listed.String(in.Name, in.Default, in.Description)
		}
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil, err
		}
		return nil, fmt.Errorf("command line: %w; see --help", err)
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("command line: unexpected argument %q; every input is a --flag", fs.Arg(0))
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	for _, name := range SecretInputs {
		if set[name] {
			return nil, input.New(name, errors.New("not accepted as a flag, since a command line is visible to every process on the machine"),
				fmt.Sprintf("set INPUT_%s in the environment instead", strings.ReplaceAll(strings.ToUpper(name), "-", "_")))
		}
	}
	raw := make(map[string]string, len(inputs))
	runner := UnderRunner(env.Getenv)
	for _, in := range inputs {
		v, present := envInput(env, in.Name)
		if set[in.Name] {
			v = strings.TrimSpace(*flags[in.Name])
		}
		if v == "" && (!keepsEmpty[in.Name] || !(set[in.Name] || runner && present)) {
			v = in.Default
		}
		raw[in.Name] = v
	}
	return raw, nil
}

// SecretInputs are the inputs that hold a secret: never taken from the
// command line, which every process on the machine can read, and masked
// before anything else is printed.
var SecretInputs = []string{"api-key", "signing-key", "signing-key-password"}

// keepsEmpty are the inputs whose empty value means something
// (version-prefix: none). A runner passes every input of the action,
// action.yml's defaults applied, so there an input set to "" is the
// user's; one not set at all (a run: step calling the binary with a few
// INPUT_*) takes the default, as by hand, where only an empty flag
// (--version-prefix=) is empty.
var keepsEmpty = map[string]bool{"version-prefix": true}

// UnderRunner is true in a GitHub, Forgejo or Gitea Actions job (act sets
// GITHUB_ACTIONS too): those runners read ::add-mask:: from our stdout and
// pass every input, defaults applied.
func UnderRunner(getenv func(string) string) bool {
	for _, name := range []string{"GITHUB_ACTIONS", "FORGEJO_ACTIONS", "GITEA_ACTIONS"} {
		if getenv(name) == "true" {
			return true
		}
	}
	return false
}

// envInput reads INPUT_<NAME>, and whether it is set. Runners keep the
// hyphens of an input's name (INPUT_API-KEY), which a shell cannot export,
// so the underscore spelling is accepted too.
func envInput(env LookupEnv, name string) (string, bool) {
	upper := strings.ToUpper(name)
	v, ok := env("INPUT_" + upper)
	if v != "" {
		return strings.TrimSpace(v), true
	}
	v2, ok2 := env("INPUT_" + strings.ReplaceAll(upper, "-", "_"))
	return strings.TrimSpace(v2), ok || ok2
}
