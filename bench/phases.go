package main

import (
	"regexp"
	"strconv"
	"strings"
	"time"
)

// Where a run's time goes, read from its output. The action's own lines
// are timestamped as they arrive (its log is written as it goes); BuildKit's
// plain progress is printed in bursts, so its export step and its push are
// taken from the durations BuildKit reports itself (0.1 s resolution).

// line is one output line and when it arrived, after the process started.
type line struct {
	at   time.Duration
	text string
}

// phase is a named share of one run's time.
type phase struct {
	name string
	took time.Duration
}

// Phase names, shared by every tool so that rows line up.
const (
	phaseBefore = "before the build: process start, connect, credentials check"
	phaseSolve  = "solve until the export (cache hits)"
	phaseStart  = "process start, connect, solve until the export (cache hits)"
	phaseExport = "BuildKit export step less its push (manifests; OCI tar/layout: sent to the client)"
	phasePush   = "BuildKit push: layers + manifest"
	phaseUpload = "upload by the action"
	phaseTags   = "tags (guard, SHA tag, version tag, settle, re-read)"
	phaseReport = "outputs, summary, exit"
	phaseSkopeo = "skopeo copy"
)

var (
	exportStep = regexp.MustCompile(`^#(\d+) exporting to `)
	stepDone   = regexp.MustCompile(`^#(\d+) DONE ([\d.]+)s$`)
	pushDone   = regexp.MustCompile(`^#(\d+) pushing (?:layers|manifest for \S+) ([\d.]+)s done$`)
	// uploaded is the fallback's line, with the upload's own duration.
	uploaded = regexp.MustCompile(`^Uploaded \S+ from an OCI layout in (\S+)$`)
)

// actionPhases splits a run of the action.
func actionPhases(lines []line, total time.Duration) []phase {
	group, _ := lineAt(lines, func(s string) bool { return strings.HasPrefix(s, "::group::Build ") })
	published, ok := lineAt(lines, func(s string) bool { return strings.HasPrefix(s, "Built and published ") })
	if !ok {
		return nil // a failed run: only its whole time counts
	}
	tagged := lastLineAt(lines, func(s string) bool {
		return strings.HasPrefix(s, "Tagged ") || strings.Contains(s, " already is this exact image ")
	})
	export, push := exportTimes(lines)
	upload, _ := uploadTime(lines)
	return []phase{
		{phaseBefore, group},
		{phaseSolve, max(published-group-export-upload, 0)},
		{phaseExport, export - push},
		{phasePush, push},
		{phaseUpload, upload},
		{phaseTags, max(tagged-published, 0)},
		{phaseReport, total - max(tagged, published)},
	}
}

// buildctlPhases splits a buildctl build.
func buildctlPhases(lines []line, total time.Duration) []phase {
	export, push := exportTimes(lines)
	return []phase{{phaseStart, total - export}, {phaseExport, export - push}, {phasePush, push}}
}

// exportTimes is how long BuildKit says its export step took, and the
// push within it.
func exportTimes(lines []line) (step, push time.Duration) {
	id := ""
	for _, l := range lines {
		if m := exportStep.FindStringSubmatch(l.text); m != nil {
			id = m[1]
		} else if m := stepDone.FindStringSubmatch(l.text); m != nil && m[1] == id {
			step = seconds(m[2])
		} else if m := pushDone.FindStringSubmatch(l.text); m != nil && m[1] == id {
			push += seconds(m[2])
		}
	}
	return step, min(push, step)
}

func seconds(s string) time.Duration {
	f, _ := strconv.ParseFloat(s, 64)
	return time.Duration(f * float64(time.Second))
}

func uploadTime(lines []line) (time.Duration, bool) {
	for _, l := range lines {
		if m := uploaded.FindStringSubmatch(l.text); m != nil {
			d, err := time.ParseDuration(m[1])
			return d, err == nil
		}
	}
	return 0, false
}

// lineAt is when the first line matching arrived.
func lineAt(lines []line, match func(string) bool) (time.Duration, bool) {
	for _, l := range lines {
		if match(l.text) {
			return l.at, true
		}
	}
	return 0, false
}

// lastLineAt is when the last line matching arrived, 0 if none did.
func lastLineAt(lines []line, match func(string) bool) time.Duration {
	var at time.Duration
	for _, l := range lines {
		if match(l.text) {
			at = l.at
		}
	}
	return at
}
