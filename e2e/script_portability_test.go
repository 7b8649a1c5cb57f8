package e2e

// scripts/action.sh runs on every runner the action's users have, macOS
// included: its stock bash 3.2 and BSD userland. Two checks that run here,
// on Linux: a deny-list of bash 4+ constructs and GNU-only flags over the
// script (and over the release workflow's steps, which may run on a macOS
// host runner), and the script's download path run with busybox's tools in
// place of GNU coreutils, shasum in place of sha256sum, and no flock,
// timeout or Go, as on a stock macOS runner. Neither is macOS itself:
// BPI_TEST_BASH=<a bash 3.2> runs the script tests under that bash as well
// (docs/usage.md says what was run that way).

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// portabilityRule is one construct a portable script must not use, with an
// example line it must catch (so each rule is shown to be able to fail).
type portabilityRule struct {
	re, why, example string
}

var portabilityRules = []portabilityRule{
	// Not in bash 3.2 (macOS's /bin/bash).
	{`\b(declare|local|typeset)\s+(-\w+\s+)*-\w*[Ang]`, "declare -A/-n/-g (associative arrays, namerefs, globals) need bash 4+", `declare -A seen=()`},
	{`\b(mapfile|readarray)\b`, "mapfile/readarray need bash 4+; use a while read loop", `mapfile -t lines < f`},
	{`\$\{[#!]?\w+(\[[^\]]*\])?(\^\^?|,,?)`, "${var^^} and ${var,,} need bash 4+; use tr '[:upper:]' '[:lower:]'", `os=${os,,}`},
	{`\$\{\w+(\[[^\]]*\])?@[QEPAaKkUuL]\}`, "${var@Q} needs bash 4.4+", `echo "${x@Q}"`},
	{`\[\[?\s+-v\s`, "test -v needs bash 4.2+; use ${NAME+set}", `[[ -v TOKEN ]] && echo set`},
	{`\bcoproc\b`, "coproc needs bash 4+", `coproc cat`},
	{`\|&`, "|& needs bash 4+; use 2>&1 |", `make |& tee log`},
	{`&>>`, "&>> needs bash 4+; use >>file 2>&1", `echo x &>> log`},
	{`(^|\s);;?&(\s|$)`, "case fall-through (;& ;;&) needs bash 4+", `a) echo a ;&`},
	{`\bwait\s+-n\b`, "wait -n needs bash 4.3+", `wait -n`},
	{`(^|[^$\w])\{[A-Za-z_]\w*\}[<>]`, "{fd}> named descriptors need bash 4.1+", `exec {lock}>file`},
	{`\$\{\w+\[-\d+\]\}`, "negative array indexes need bash 4.3+", `last=${parts[-1]}`},
	{`\bshopt\s+(-\w+\s+)*(globstar|lastpipe|inherit_errexit|direxpand|localvar_inherit)\b`, "this shopt needs bash 4+", `shopt -s globstar`},
	{`\$\{?(EPOCHSECONDS|EPOCHREALTIME|BASHPID)\b`, "$EPOCHSECONDS, $BASHPID need bash 4+; use date +%s, $$", `start=$EPOCHSECONDS`},
	{`\bprintf\s+(-v\s+\w+\s+)?['"][^'"]*%\(`, "printf %(fmt)T needs bash 4.2+; use date", `printf '%(%s)T' -1`},
	{`\{\d+\.\.\d+\.\.\d+\}|\{0\d+\.\.`, "brace ranges with a step or zero padding need bash 4+", `for i in {1..9..2}; do :; done`},
	{`\$'[^']*\\[uU]`, `\u escapes in $'...' need bash 4.2+`, `sep=$'\u2014'`},
	// Environment listing: the trap the action's step fell into once.
	{`\benv\s+(-\w+\s+)*-\w*0`, "env -0 is missing from older macOS env; list names with awk's ENVIRON", `done < <(env -0)`},
	{`\bcompgen\s+-e\b`, "compgen -e leaves out names that are no shell identifiers (INPUT_API-KEY) in bash 4+; use awk's ENVIRON", `for n in $(compgen -e); do :; done`},
	// GNU-only flags and tools (macOS has BSD ones).
	{`\bsed\s+(-\w+\s+)*-\w*i`, "sed -i takes its argument differently in GNU and BSD sed; write a temp file and mv", `sed -i 's/a/b/' f`},
	{`\breadlink\s+-f\b|\brealpath\b`, "readlink -f and realpath are missing from older macOS; use (cd DIR && pwd -P)", `dir=$(readlink -f .)`},
	{`\bgrep\s+(-\w+\s+)*-\w*P`, "grep -P is GNU only; use grep -E", `grep -oP '\d+'`},
	{`\bstat\s+(-c\b|--)`, "stat -c/--format is GNU only (BSD: stat -f)", `stat -c %s f`},
	{`\bdate\s+(-\w+\s+)*(-d\b|--date)`, "date -d is GNU only (BSD: date -j -f)", `date -d yesterday`},
	{`\bsort\s+(-\w+\s+)*-\w*V`, "sort -V is GNU only", `sort -V tags`},
	{`\bxargs\s+(-\w+\s+)*-\w*r`, "xargs -r is GNU only; check for empty input first", `find . | xargs -r rm`},
	{`\bfind\b.*\s-(printf|regextype|iregex)\b`, "find -printf/-regextype are GNU only", `find . -printf '%p\n'`},
	{`\b(tac|nproc|sha1sum|md5sum|base32)\b`, "a GNU-only tool (macOS: tail -r, sysctl -n hw.ncpu, shasum, md5)", `nproc`},
	{`\bbase64\s+-w`, "base64 -w is GNU only", `base64 -w0 f`},
	{`\bhead\s+-[nc]\s*-\d`, "head with a negative count is GNU only", `head -n -1 f`},
	{`\b(sed|grep|sort|cut|head|tail|mktemp|date|stat|cp|mv|rm|mkdir|ls|tr|wc|uniq|chmod|readlink|basename|dirname|tee|touch|ln|du|df)\s+([^|;&)]*\s)?--\w`, "GNU long options are mostly missing from BSD tools", `mkdir --parents d`},
}

// guardedTools are on some runners only: each use needs a command -v check
// in the same script (and a fallback or a one-line failure).
var guardedTools = []string{"sha256sum", "shasum", "flock", "timeout", "curl", "go"}

// portabilityProblems lists the rule violations in a script, by line.
func portabilityProblems(script string) []string {
	var problems []string
	for i, line := range strings.Split(script, "\n") {
		if strings.HasPrefix(strings.TrimSpace(line), "#") {
			continue
		}
		for _, r := range portabilityRules {
			if regexp.MustCompile(r.re).MatchString(line) {
				problems = append(problems, fmt.Sprintf("line %d: %s: %s", i+1, r.why, strings.TrimSpace(line)))
			}
		}
	}
	for _, tool := range guardedTools {
		word := `(^|[\s(=|])` + tool + `(\s|\)|;|$)`
		used := regexp.MustCompile(word).MatchString(stripComments(script))
		// The check and the name on one line: command -v NAME, or a loop
		// over names that runs command -v on each.
		checked := regexp.MustCompile(`command -v.*` + word + `|` + word + `.*command -v`).MatchString(script)
		if used && !checked {
			problems = append(problems, tool+" is used without a command -v "+tool+" check (not every runner has it)")
		}
	}
	return problems
}

func stripComments(script string) string {
	var keep []string
	for _, line := range strings.Split(script, "\n") {
		if !strings.HasPrefix(strings.TrimSpace(line), "#") {
			keep = append(keep, line)
		}
	}
	return strings.Join(keep, "\n")
}

// TestPortabilityRulesCatchTheirExamples: every rule flags its example, so
// a rule that matches nothing cannot pass for a clean script.
func TestPortabilityRulesCatchTheirExamples(t *testing.T) {
	for _, r := range portabilityRules {
		if !regexp.MustCompile(r.re).MatchString(r.example) {
			t.Errorf("rule %q (%s) does not catch its example %q", r.re, r.why, r.example)
		}
	}
	if got := portabilityProblems("timeout 5 true\n"); len(got) != 1 {
		t.Errorf("an unguarded timeout gives %q, want one problem", got)
	}
}

// TestActionScriptIsPortable: scripts/action.sh uses nothing of bash 4+ and
// no GNU-only flag, and checks for the tools some runners lack.
func TestActionScriptIsPortable(t *testing.T) {
	data, err := os.ReadFile("scripts/action.sh")
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range portabilityProblems(string(data)) {
		t.Errorf("scripts/action.sh: %s", p)
	}
}

// TestReleaseStepsArePortable: the release workflow runs on a host runner
// with Go, which may be a Mac: its steps' scripts follow the same rules (a
// tool checked for in one step counts for the job's later steps).
func TestReleaseStepsArePortable(t *testing.T) {
	jobs := releaseJobs(t)
	for name, steps := range jobs {
		var runs []string
		for _, step := range steps {
			if step.Run != "" {
				runs = append(runs, "# step "+step.Name+"\n"+step.Run)
			}
		}
		for _, p := range portabilityProblems(strings.Join(runs, "\n")) {
			t.Errorf("release.yml, job %s (lines of its run: scripts in order): %s", name, p)
		}
	}
	if len(jobs["release"]) == 0 {
		t.Fatal("release.yml: no job release")
	}
}

// TestScriptWithBSDLikeTools runs the download path the way a stock macOS
// runner would give it tools: busybox's awk, sed, find, xargs, sort, tr,
// cut, mktemp, env, date (no GNU coreutils), shasum (Perl's) instead of
// sha256sum, no flock, no timeout, no Go. The script downloads, verifies
// and runs the release binary, then runs it from the cache.
func TestScriptWithBSDLikeTools(t *testing.T) {
	requireRig(t)
	busybox := "/bin/busybox"
	if _, err := os.Stat(busybox); err != nil {
		t.Fatalf("%s: %v (make test installs busybox-static)", busybox, err)
	}
	dir := t.TempDir()
	for _, tool := range []string{"awk", "sed", "find", "xargs", "sort", "tr", "cut", "head", "mkdir", "mktemp", "rm", "chmod", "mv", "env", "date", "uname", "cat"} {
		if err := os.Symlink(busybox, filepath.Join(dir, tool)); err != nil {
			t.Fatal(err)
		}
	}
	for _, tool := range []string{"git", "curl", "shasum"} {
		real, err := exec.LookPath(tool)
		if err != nil {
			t.Fatalf("%s: %v", tool, err)
		}
		if err := os.Symlink(real, filepath.Join(dir, tool)); err != nil {
			t.Fatal(err)
		}
	}
	f := newReleaseServer(t)
	s := stampedBinaries(t)
	asset := f.release(t, "/blumeops/build-push-image", "v2", s.commit, s.own)
	cache := t.TempDir()
	run := scriptRun{cache: cache, exactPath: dir, env: stepEnv(f.URL)}
	out, code := runScript(t, s, run)
	wantRanDownload(t, out, code, f.URL+asset)
	out, code = runScript(t, s, run)
	if !strings.Contains(out, "binary: cached ") || !strings.Contains(out, programRan) || code != 2 {
		t.Errorf("exit %d: the second run did not take the cached binary", code)
	}
}
