package main

import (
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// TestReportSmoke runs one tiny round of every measurement but wrk and
// the arm64 build, to keep the report program working. Its figures mean
// nothing.
func TestReportSmoke(t *testing.T) {
	if _, err := exec.LookPath("go"); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("the go command is needed to build the bootstraps: %v",
				err)
		}
		t.Skipf("the go command is needed to build the bootstraps: %v", err)
	}
	var out strings.Builder
	err := run(t.Context(), options{
		rounds:      1,
		benchtime:   10 * time.Millisecond,
		invocations: 20,
		workers:     4,
		cold:        1,
		memory:      5,
	}, &out)
	if err != nil {
		t.Fatalf("run: %v\n%s", err, out.String())
	}
	for _, want := range []string{
		"invocation vs bare POST",
		"GetSecretValue per 1,000, 4 at once",
		"first invocation, ms",
		"peak RSS after 5 invocations",
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("report lacks %q:\n%s", want, out.String())
		}
	}
}

func TestMedian(t *testing.T) {
	tests := []struct {
		name string
		xs   []float64
		want float64
	}{
		{"one", []float64{3}, 3},
		{"odd", []float64{5, 1, 3}, 3},
		{"even", []float64{4, 1, 3, 2}, 2.5},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := median(tt.xs); got != tt.want {
				t.Errorf("median(%v): got %v, want %v", tt.xs, got, tt.want)
			}
		})
	}
}
