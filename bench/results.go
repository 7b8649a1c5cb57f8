package main

import (
	"fmt"
	"slices"
	"strings"
	"time"
)

// row is one measurement over the rounds.
type row struct {
	caseID, label, unit string
	values              []float64
	phase               bool // a share of a run's time (phases.go)
}

func (r *row) median() float64 {
	v := slices.Clone(r.values)
	slices.Sort(v)
	n := len(v)
	if n%2 == 1 {
		return v[n/2]
	}
	return (v[n/2-1] + v[n/2]) / 2
}

// goal compares a measurement, or the ratio of two, with a limit.
type goal struct {
	caseID, label string
	num, den      string  // row labels; den empty for an absolute goal
	limit         float64 // met when the value is at most limit; 0: no limit
	worst         bool    // use the worst round instead of the median
}

// results collects rows in the order they were first recorded.
type results struct {
	rows     []*row
	byLabel  map[string]*row
	goals    []goal
	failures []string
}

func newResults() *results { return &results{byLabel: map[string]*row{}} }

func (r *results) add(caseID, label, unit string, v float64) {
	rw, ok := r.byLabel[label]
	if !ok {
		rw = &row{caseID: caseID, label: label, unit: unit}
		r.byLabel[label] = rw
		r.rows = append(r.rows, rw)
	}
	rw.values = append(rw.values, v)
}

func (r *results) addDuration(caseID, label string, d time.Duration) {
	r.add(caseID, label, "s", d.Seconds())
}

// addPhase records a share of a run's time; phases get a table of their
// own.
func (r *results) addPhase(caseID, label string, d time.Duration) {
	r.add(caseID, label, "s", d.Seconds())
	r.byLabel[label].phase = true
}

func (r *results) goal(g goal) { r.goals = append(r.goals, g) }

// value is a goal's measured value, false when a row is missing.
func (r *results) value(g goal) (float64, bool) {
	num, ok := r.byLabel[g.num]
	if !ok {
		return 0, false
	}
	v := num.median()
	if g.worst {
		v = slices.Max(num.values)
	}
	if g.den == "" {
		return v, true
	}
	den, ok := r.byLabel[g.den]
	if !ok || den.median() == 0 {
		return 0, false
	}
	return v / den.median(), true
}

func (r *results) markdown(machine []string, rounds int, took time.Duration) string {
	var b strings.Builder
	fmt.Fprintf(&b, "# build-push-image benchmark results\n\n%s, `make bench`, %d rounds per case (medians), whole run %s.\n\n",
		time.Now().UTC().Format("2006-01-02 15:04 UTC"), rounds, took.Round(time.Second))
	for _, m := range machine {
		fmt.Fprintf(&b, "- %s\n", m)
	}
	r.table(&b, "Measurements", false)
	r.table(&b, "Where the time goes (phases, from the output's lines as they arrived)", true)
	b.WriteString("\n## Goals and ratios\n\n| case | what | value | goal | met |\n|---|---|---:|---:|---|\n")
	for _, g := range r.goals {
		fmt.Fprintf(&b, "| %s | %s | %s |\n", g.caseID, g.label, r.goalCells(g))
	}
	for _, f := range r.failures {
		fmt.Fprintf(&b, "\n**FAILED** %s\n", strings.ReplaceAll(tail(f, 3), "\n", " "))
	}
	return b.String()
}

// table writes the rows that are phases, or those that are not.
func (r *results) table(b *strings.Builder, title string, phases bool) {
	fmt.Fprintf(b, "\n## %s\n\n| case | measurement | median | rounds |\n|---|---|---:|---|\n", title)
	for _, rw := range r.rows {
		if rw.phase == phases {
			fmt.Fprintf(b, "| %s | %s | %s | %s |\n", rw.caseID, rw.label, format(rw.median(), rw.unit), formatAll(rw))
		}
	}
}

func (r *results) goalCells(g goal) string {
	v, ok := r.value(g)
	if !ok {
		return "n/a | | "
	}
	unit := "×"
	if g.den == "" {
		unit = r.byLabel[g.num].unit
	}
	cells := format(v, unit)
	if g.limit == 0 {
		return cells + " | – | "
	}
	met := "yes"
	if v > g.limit {
		met = "**no**"
	}
	return fmt.Sprintf("%s | ≤ %s | %s", cells, format(g.limit, unit), met)
}

func format(v float64, unit string) string {
	switch unit {
	case "×":
		return fmt.Sprintf("%.2f×", v)
	case "s":
		if v < 10 {
			return fmt.Sprintf("%.2f s", v)
		}
		return fmt.Sprintf("%.1f s", v)
	}
	return fmt.Sprintf("%.0f %s", v, unit)
}

func formatAll(rw *row) string {
	parts := make([]string, len(rw.values))
	for i, v := range rw.values {
		parts[i] = strings.TrimSuffix(format(v, rw.unit), " "+rw.unit)
	}
	return strings.Join(parts, " / ")
}
