package main

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"runtime"
	"slices"
	"strings"
	"text/tabwriter"
)

// report writes the report's sections.
type report struct {
	w io.Writer
}

// machine describes the machine the figures come from.
func (r *report) machine() {
	fmt.Fprintf(r.w, "machine: %d CPUs, %s, %s %s/%s, load %s\n",
		runtime.NumCPU(), cpuModel(), runtime.Version(), runtime.GOOS,
		runtime.GOARCH, loadAverage())
}

// machineAfter notes the load at the end, to show the noise.
func (r *report) machineAfter() {
	fmt.Fprintf(r.w, "\nload average at the end: %s\n", loadAverage())
}

// section starts a titled table.
func (r *report) section(title string) *tabwriter.Writer {
	fmt.Fprintf(r.w, "\n== %s\n", title)
	return tabwriter.NewWriter(r.w, 0, 0, 2, ' ', 0)
}

// row is one line of a comparison: a figure, ours, the baseline, their
// ratio, and the target the ratio (or, with no baseline, the figure) is
// held to.
type row struct {
	name     string
	ours     string
	baseline string
	ratio    float64 // 0 when there is no baseline
	target   string
	met      bool
	judged   bool // whether there is a target to meet
}

// rows writes a comparison table.
func (r *report) rows(title string, rows []row) {
	tw := r.section(title)
	fmt.Fprintln(tw, "figure\tours\tbaseline\tratio\ttarget\t")
	for _, x := range rows {
		ratio := "-"
		if x.ratio > 0 {
			ratio = fmt.Sprintf("%.2f", x.ratio)
		}
		verdict := ""
		if x.judged {
			verdict = "MISSED"
			if x.met {
				verdict = "met"
			}
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s %s\t\n", x.name, x.ours,
			or(x.baseline, "-"), ratio, or(x.target, "-"), verdict)
	}
	tw.Flush()
}

// note writes a line of explanation under a table.
func (r *report) note(format string, args ...any) {
	fmt.Fprintf(r.w, "  "+format+"\n", args...)
}

func or(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

// median returns the median of xs, which must not be empty.
func median(xs []float64) float64 {
	s := slices.Clone(xs)
	slices.Sort(s)
	n := len(s)
	if n%2 == 1 {
		return s[n/2]
	}
	return (s[n/2-1] + s[n/2]) / 2
}

// spread describes xs by its range, to show the noise.
func spread(xs []float64, unit string) string {
	return fmt.Sprintf("%.0f-%.0f %s", slices.Min(xs), slices.Max(xs), unit)
}

// cpuModel reads the first model name in /proc/cpuinfo.
func cpuModel() string {
	f, err := os.Open("/proc/cpuinfo")
	if err != nil {
		return "unknown CPU"
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		name, value, ok := strings.Cut(sc.Text(), ":")
		if ok && strings.TrimSpace(name) == "model name" {
			return strings.TrimSpace(value)
		}
	}
	return "unknown CPU"
}

// loadAverage reads the 1, 5 and 15 minute load averages.
func loadAverage() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "unknown"
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "unknown"
	}
	return strings.Join(f[:3], " ")
}

// hostArch is the architecture the figures were measured on.
func hostArch() string {
	return runtime.GOARCH
}
