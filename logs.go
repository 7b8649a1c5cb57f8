// How results and errors read in a job log, on runners that render
// summaries and annotations and on those that print everything raw.

package main

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/sethvargo/go-githubactions"
	"golang.org/x/term"

	"github.com/blumeops/build-push-image/internal/notice"
	"github.com/blumeops/build-push-image/internal/plan"
	"github.com/blumeops/build-push-image/internal/run"
	vsource "github.com/blumeops/build-push-image/internal/version"
)

// summaryRows is what a run produced, as the rows of its summary: the
// Markdown table of the step summary and the plain lines of the log show
// the same rows.
func summaryRows(out run.Published) [][2]string {
	rows := [][2]string{{"image", out.Image}}
	for _, t := range out.Tags {
		rows = append(rows, [2]string{"tag", t})
	}
	rows = append(rows, [2]string{"digest", out.Digest})
	if out.Signature != "" {
		rows = append(rows, [2]string{"signature", out.Signature}, [2]string{"verify", out.Verify})
	}
	return append(rows,
		[2]string{"pushed", fmt.Sprint(out.Pushed)},
		[2]string{"time", fmt.Sprintf("%.1f s", out.Seconds)})
}

// summary is the step summary, a Markdown table.
func summary(out run.Published) string {
	var b strings.Builder
	b.WriteString("### build-push-image\n\n| | |\n|---|---|\n")
	for _, r := range summaryRows(out) {
		fmt.Fprintf(&b, "| %s | `%s` |\n", r[0], r[1])
	}
	return b.String()
}

// logSummary prints the summary's rows as plain lines, for runners that
// do not render the step summary (Forgejo's) and for runs by hand.
func logSummary(action *githubactions.Action, out run.Published) {
	for _, r := range summaryRows(out) {
		action.Infof("summary: %-6s %s", r[0], r[1])
	}
}

// printError prints msg as one ::error:: line that also reads well as
// plain text: runners that render annotations show msg, and runners that
// print workflow commands raw (Forgejo's) show "::error::msg" without
// escape codes. Only a '%' the runner would decode (%25, %0A, %0D) is
// escaped, so the message comes out the same on both.
func printError(w io.Writer, msg string) {
	fmt.Fprintf(w, "::error::%s\n", escapeDecodable(oneLine(msg)))
}

// escapeDecodable escapes each '%' that starts one of the runner's escape
// codes, leaving every other '%' as it is (the runner leaves those too).
func escapeDecodable(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		b.WriteByte(s[i])
		if s[i] == '%' && i+3 <= len(s) && isEscapeCode(s[i+1:i+3]) {
			b.WriteString("25")
		}
	}
	return b.String()
}

func isEscapeCode(s string) bool {
	switch strings.ToUpper(s) {
	case "25", "0A", "0D":
		return true
	}
	return false
}

// oneLine keeps an error to a single line: a runner shows only the first
// line of an ::error:: annotation, and a stack trace helps no one.
func oneLine(s string) string {
	return strings.Join(strings.Fields(strings.ReplaceAll(s, "\n", " ")), " ")
}

// logVersion says, in one line, where the action's version read from the
// sources came from: the notice naming other lines that matched
// (versionNotice), or else an info line.
func logVersion(action *githubactions.Action, from vsource.Found) {
	if from.Path == "" || versionNotice(action, from) {
		return // the version input gave it, or the notice said it
	}
	action.Infof("%s", readFrom(from))
}

// readFrom says which version was read where: one wording for the
// action's line and the plan's rows.
func readFrom(from vsource.Found) string {
	return fmt.Sprintf("version %s read from %s%s", from.Version, from.Where(), otherMatches(from))
}

// versionNotice gives the notice that other lines of the file matched
// with other values, the first time this runner sees the file match so
// (notice.Given); until the matches change, the version's line says so in
// a few words instead (otherMatches). It says whether it gave it. Both
// commands give their notices through it.
func versionNotice(action *githubactions.Action, from vsource.Found) bool {
	n := from.Notice()
	if n == "" || notice.Given(action.Getenv("RUNNER_TOOL_CACHE"), from.Path, n) {
		return false
	}
	action.Noticef("%s", n)
	return true
}

// otherMatches is what a version's line says of other lines that
// matched, once their notice was given.
func otherMatches(from vsource.Found) string {
	if len(from.Others) == 0 {
		return ""
	}
	return "; other lines matched too: named in a notice on an earlier run of this runner, not repeated until they change"
}

// versionFrom is where a plan row's version was read, for its line: the
// plan's one line per version.
func versionFrom(from *vsource.Found) string {
	if from == nil || from.Path == "" {
		return ""
	}
	return " (" + readFrom(*from) + ")"
}

// logPlan says what the plan found: one line per directory, then the
// count, then one warning naming every directory left out and why.
func logPlan(action *githubactions.Action, res plan.Result, took time.Duration) {
	looked := 0
	for _, s := range res {
		state := "to publish"
		switch {
		case s.Skipped != "":
			action.Infof("plan: %-10s %s: %s", "left out", s.Context, s.Skipped)
			continue
		case s.Check:
			state = "to check" // changed in a pull request, version published
		case s.Published:
			state = "published"
		}
		looked++
		action.Infof("plan: %-10s %s:%s %s%s", state, s.Image.Image, s.Tag, s.Context, versionFrom(s.From))
	}
	action.Infof("plan: %d of %d images to publish (%d look-ups in %s)", len(res.Pending()), looked, looked, took.Round(time.Millisecond))
	if skipped := res.Skipped(); len(skipped) > 0 {
		why := make([]string, len(skipped))
		for i, s := range skipped {
			why[i] = fmt.Sprintf("%s (%s)", s.Context, s.Skipped)
		}
		action.Warningf("plan: left out, no version in them (%d): %s; leave out a directory that is no image with !<directory> in contexts, check version-file and version-pattern against one that is, or set on-unversioned: fail to make this an error", len(skipped), strings.Join(why, ", "))
	}
}

// report writes the outputs and the step summary.
func report(action *githubactions.Action, out run.Published) {
	meta, _ := json.Marshal(out)
	setOutputs(action, [][2]string{
		{"digest", out.Digest},
		{"image", out.Image + "@" + out.Digest},
		{"tags", strings.Join(out.Tags, "\n")},
		{"version-tag", out.VersionTag},
		{"sha-tag", out.SHATag},
		{"signature", out.Signature},
		{"metadata", string(meta)},
	})
	if action.Getenv("GITHUB_STEP_SUMMARY") != "" {
		action.AddStepSummary(summary(out))
	}
	logSummary(action, out)
}

// setOutputs writes each output to $GITHUB_OUTPUT with a random heredoc
// delimiter that cannot collide with a value, or prints them when the
// program runs outside a runner.
func setOutputs(action *githubactions.Action, kv [][2]string) {
	if action.Getenv("GITHUB_OUTPUT") == "" {
		for _, o := range kv {
			action.Infof("%s=%s", o[0], o[1])
		}
		return
	}
	for _, o := range kv {
		delim := randomDelimiter(o[1])
		action.IssueFileCommand(&githubactions.Command{
			Name:    "output",
			Message: fmt.Sprintf("%s<<%s\n%s\n%s", o[0], delim, o[1], delim),
		})
	}
}

func randomDelimiter(value string) string {
	for {
		b := make([]byte, 16)
		_, _ = rand.Read(b)
		d := "ghadelimiter_" + hex.EncodeToString(b)
		if !strings.Contains(value, d) {
			return d
		}
	}
}

// drainDelay is how long a failed run waits before it exits when its
// output is a terminal. act's host mode (v0.2.89) reads a step's output
// from a pty and, when the step fails, closes the pty as soon as the
// process exits, without reading what is left: under load the last lines,
// the ::error:: line among them, were lost (TestActPlanChangedPullRequest,
// about 1 run in 5 on a loaded machine). A pipe loses nothing, and act
// reads a successful step to its end, so only a failure on a terminal
// waits.
const drainDelay = 500 * time.Millisecond

// letTerminalDrain gives the reader of a terminal time to read the failed
// run's last lines before the process exits.
func letTerminalDrain(f *os.File, code int) {
	if code != 0 && term.IsTerminal(int(f.Fd())) {
		time.Sleep(drainDelay)
	}
}
