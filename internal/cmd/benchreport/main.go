// Command benchreport measures the function against its baselines, side by
// side in one run, and prints a table of figures, ratios and targets: the
// warm path against a bare POST, the handler's own cost, the naive
// function, the upstream calls per 1,000 invocations, the cold start under
// the Lambda Runtime Interface Emulator against a hello-world bootstrap,
// the peak memory, the binary size and, when wrk is installed, the local
// server's throughput against the bare stand-in's.
//
// Pairs run interleaved, several rounds, and the table shows medians, so
// that a busy machine slows both sides alike. `make bench` runs it; run it
// from the module's root, as it builds the bootstraps with the go command.
//
//	go run ./internal/cmd/benchreport [-rounds 5] [-cold 15] [-wrk 5s]
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"time"
)

// options are the command's flags.
type options struct {
	rounds      int
	benchtime   time.Duration
	invocations int
	workers     int
	cold        int
	memory      int
	size        bool
	wrk         time.Duration
	wrkRounds   int
}

func main() {
	var o options
	flag.IntVar(&o.rounds, "rounds", 5, "interleaved rounds of the warm pairs")
	flag.DurationVar(&o.benchtime, "benchtime", 500*time.Millisecond,
		"time each side of a warm pair runs per round")
	flag.IntVar(&o.invocations, "invocations", 1000,
		"invocations per run when counting upstream calls")
	flag.IntVar(&o.workers, "workers", 50,
		"goroutines of the concurrent runs")
	flag.IntVar(&o.cold, "cold", 15, "cold starts of each bootstrap")
	flag.IntVar(&o.memory, "memory", 1000,
		"invocations before reading the peak memory")
	flag.BoolVar(&o.size, "size", true,
		"build the linux/arm64 bootstrap to report its size")
	flag.DurationVar(&o.wrk, "wrk", 5*time.Second,
		"length of one wrk run; 0 skips the throughput figures")
	flag.IntVar(&o.wrkRounds, "wrk-rounds", 3, "interleaved wrk rounds")
	flag.Parse()

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if err := run(ctx, o, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "benchreport:", err)
		os.Exit(1)
	}
}

// run takes every measurement o asks for and writes the report to w.
func run(ctx context.Context, o options, w io.Writer) error {
	r := &report{w: w}
	r.machine()

	if err := warm(ctx, o, r); err != nil {
		return fmt.Errorf("warm path: %w", err)
	}
	if err := upstream(ctx, o, r); err != nil {
		return fmt.Errorf("upstream calls: %w", err)
	}

	dir, err := os.MkdirTemp("", "benchreport-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	if err := cold(ctx, o, dir, r); err != nil {
		return fmt.Errorf("cold start: %w", err)
	}
	if o.wrk > 0 {
		if err := throughput(ctx, o, dir, r); err != nil {
			return fmt.Errorf("throughput: %w", err)
		}
	}
	r.machineAfter()
	return nil
}
