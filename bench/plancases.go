package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"time"
)

// The plan case (issue 19): which of 200 image directories need
// publishing, as `build-push-image plan` answers it (one HEAD per version
// tag, 16 at once), side by side with the loop a workflow writes by hand
// today: per directory, sed the ARG out of the Dockerfile, add the v, and
// curl -I the version tag (one process each, one after the other).

const (
	planImages    = 200
	planPublished = 5 // directories whose version is in the registry
)

// planTree writes planImages directories under dir/containers, each with
// its version in ARG APP_VERSION, and publishes the first planPublished.
func (b *bench) planTree(ctx context.Context, prefix string) (string, error) {
	dir := filepath.Join(b.work, "plan-"+randomHex(4))
	for i := range planImages {
		name := fmt.Sprintf("img%03d", i)
		df := fmt.Sprintf("ARG BASE=scratch\nARG APP_VERSION=1.0.%d\nFROM ${BASE}\nCOPY . /\n", i)
		if err := writeFile(filepath.Join(dir, "containers", name, "Dockerfile"), df); err != nil {
			return "", err
		}
		if i < planPublished {
			j := job{img: b.images["hello"], repo: prefix + "/" + name, version: fmt.Sprintf("v1.0.%d", i)}
			if _, err := runAction(ctx, b, j); err != nil {
				return "", fmt.Errorf("publishing %s: %w", name, err)
			}
		}
	}
	return dir, nil
}

func casePlan(ctx context.Context, b *bench) error {
	prefix := b.repo("plan")
	dir, err := b.planTree(ctx, prefix)
	if err != nil {
		return err
	}
	netrc := filepath.Join(b.work, "netrc")
	host := strings.SplitN(b.registry, ":", 2)[0]
	if err := os.WriteFile(netrc, []byte(fmt.Sprintf("machine %s login %s password %s\n", host, b.user, b.key)), 0o600); err != nil {
		return err
	}
	what := fmt.Sprintf("plan of %d images (%d published)", planImages, planPublished)
	planLabel := what + " · build-push-image plan · whole"
	loopLabel := what + " · sed + curl -I loop (the hand-written detect step) · whole"
	b.res.goal(goal{caseID: "9", label: "plan of 200 images (s)", num: planLabel, limit: 2})
	b.res.goal(goal{caseID: "9", label: "plan / hand-written loop", num: planLabel, den: loopLabel})
	plan := command{
		argv: []string{b.bin, "plan", "--contexts", filepath.Join(dir, "containers", "*"), "--image", prefix + "/{name}",
			"--version-arg", "APP_VERSION", "--username", b.user, "--registry-tls", "disabled"},
		env: []string{"INPUT_API_KEY=" + b.key},
	}
	loop := command{argv: []string{"bash", "-c", detectLoop, "detect", dir, "http://" + b.registry + "/v2/" + strings.SplitN(prefix, "/", 2)[1], netrc}}
	return b.eachRound(b.rounds, func(round int) error {
		for _, c := range rotateCommands([]namedCommand{{planLabel, plan}, {loopLabel, loop}}, round) {
			s, err := execTimed(ctx, c.cmd)
			if err != nil {
				return err
			}
			if want := fmt.Sprintf("%d of %d images to publish", planImages-planPublished, planImages); !strings.Contains(s.out(), want) {
				return fmt.Errorf("%s: want %q in:\n%s", c.label, want, tail(s.out(), 5))
			}
			b.res.addDuration("9", c.label, s.total)
			if d, ok := lookupTime(s.out()); ok {
				b.res.addPhase("9", what+" · build-push-image plan · the look-ups (200 HEADs, 16 at once)", d)
				b.res.addPhase("9", what+" · build-push-image plan · the rest (start, globs, 200 Dockerfiles read)", s.total-d)
			}
			logf("  %-60s %6.2fs", c.label, s.total.Seconds())
		}
		return nil
	})
}

// detectLoop is the hand-written detect step: $1 the checkout, $2 the
// registry's /v2/<prefix> URL, $3 a netrc with the login.
const detectLoop = `set -u
n=0 todo=0
for d in "$1"/containers/*/; do
	n=$((n + 1))
	name=$(basename "$d")
	v=$(sed -n 's/^ARG APP_VERSION=//p' "$d/Dockerfile" | head -n 1)
	case $v in v*) ;; *) v=v$v ;; esac
	if curl -fsS -o /dev/null -I --netrc-file "$3" \
		-H 'Accept: application/vnd.oci.image.index.v1+json, application/vnd.oci.image.manifest.v1+json' \
		"$2/$name/manifests/$v" 2>/dev/null; then
		echo "$name $v published"
	else
		echo "$name $v to publish"
		todo=$((todo + 1))
	fi
done
echo "$todo of $n images to publish"
`

// lookupTime is how long the plan's look-ups took, from its last line
// ("… (200 look-ups in 123ms)").
func lookupTime(out string) (time.Duration, bool) {
	m := regexp.MustCompile(`look-ups in ([0-9.]+[µmn]?s)\)`).FindStringSubmatch(out)
	if m == nil {
		return 0, false
	}
	d, err := time.ParseDuration(m[1])
	return d, err == nil
}

type namedCommand struct {
	label string
	cmd   command
}

// rotateCommands changes which command goes first from round to round.
func rotateCommands(cs []namedCommand, k int) []namedCommand {
	k %= len(cs)
	return append(append([]namedCommand{}, cs[k:]...), cs[:k]...)
}
