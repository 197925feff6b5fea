package main

import (
	"context"
	"fmt"

	"github.com/ilostoken/ilostoken/internal/bench"
)

// Targets from the project's performance goals.
const (
	warmTarget = 1.3 // warm invocation against a bare POST
	coldTarget = 1.5 // cold start against hello world
	sizeTarget = 10 << 20
	rssTarget  = 128 << 20
)

// workload is a named workload of the warm comparison.
type workload struct {
	name  string
	start func() (*bench.Op, error)
	op    *bench.Op
	ns    []float64
	alloc []float64
	bytes []float64
}

// warm times the function warm against a bare POST, the handler alone,
// and the naive function, interleaved over o.rounds rounds.
func warm(ctx context.Context, o options, r *report) error {
	ws := []*workload{
		{name: "invoke", start: bench.Invoke},
		{name: "bare", start: bench.BarePost},
		{name: "memory", start: bench.InMemory},
		{name: "naive", start: bench.Naive},
	}
	for _, w := range ws {
		op, err := w.start()
		if err != nil {
			return fmt.Errorf("%s: %w", w.name, err)
		}
		w.op = op
		defer op.Close()
	}

	for round := range o.rounds {
		// Rotate the order so that no side always runs first.
		for i := range ws {
			w := ws[(i+round)%len(ws)]
			res, err := bench.Measure(ctx, w.op, o.benchtime)
			if err != nil {
				return fmt.Errorf("%s: %w", w.name, err)
			}
			w.ns = append(w.ns, res.NsPerOp)
			w.alloc = append(w.alloc, res.AllocsPerOp)
			w.bytes = append(w.bytes, res.BytesPerOp)
		}
	}

	inv, bare, mem, naive := ws[0], ws[1], ws[2], ws[3]
	ratio := median(inv.ns) / median(bare.ns)
	naiveRatio := median(naive.ns) / median(inv.ns)
	r.rows(fmt.Sprintf("warm path (median of %d interleaved rounds "+
		"of %v each)", o.rounds, o.benchtime), []row{
		{
			name:     "invocation vs bare POST, µs/op",
			ours:     micros(inv.ns),
			baseline: micros(bare.ns),
			ratio:    ratio,
			target:   fmt.Sprintf("<= %.1f", warmTarget),
			met:      ratio <= warmTarget,
			judged:   true,
		},
		{
			name: "handler alone (network in memory), µs/op",
			ours: micros(mem.ns),
		},
		{
			name: "handler alone, allocs/op and B/op",
			ours: fmt.Sprintf("%.0f allocs, %.0f B", median(mem.alloc),
				median(mem.bytes)),
		},
		{
			name:     "naive function vs invocation, µs/op",
			ours:     micros(inv.ns),
			baseline: micros(naive.ns),
			ratio:    naiveRatio,
			target:   "> 1 (naive slower)",
			met:      naiveRatio > 1,
			judged:   true,
		},
	})
	r.note("spread of invocation: %s; bare POST: %s",
		spread(inv.ns, "ns"), spread(bare.ns, "ns"))
	r.note("allocations count both sides, the stand-ins' included, " +
		"except for the handler alone")
	return nil
}

// micros formats the median of nanosecond figures as microseconds.
func micros(ns []float64) string {
	return fmt.Sprintf("%.1f", median(ns)/1e3)
}

// upstream counts the Secrets Manager calls and ilos connections of
// o.invocations invocations, one at a time and o.workers at once, for the
// function and the naive function.
func upstream(ctx context.Context, o options, r *report) error {
	type run struct {
		naive   bool
		workers int
		c       bench.Counts
	}
	runs := []*run{
		{false, 1, bench.Counts{}}, {true, 1, bench.Counts{}},
		{false, o.workers, bench.Counts{}}, {true, o.workers, bench.Counts{}},
	}
	for _, x := range runs {
		c, err := bench.Run(ctx, x.naive, o.invocations, x.workers)
		if err != nil {
			return err
		}
		x.c = c
	}

	per := func(n int) float64 {
		return float64(n) * 1000 / float64(o.invocations)
	}
	var rows []row
	for i := 0; i < len(runs); i += 2 {
		ours, naive := runs[i], runs[i+1]
		mode := "sequential"
		if ours.workers > 1 {
			mode = fmt.Sprintf("%d at once", ours.workers)
		}
		// Go's transport may dial for a request and then hand it a
		// connection freed meanwhile, keeping both: a burst can open a
		// few more connections than it has requests in flight.
		connTarget := 1
		if ours.workers > 1 {
			connTarget = 2 * ours.workers
		}
		rows = append(rows,
			row{
				name:     "GetSecretValue per 1,000, " + mode,
				ours:     fmt.Sprintf("%.0f", per(ours.c.SecretCalls)),
				baseline: fmt.Sprintf("%.0f", per(naive.c.SecretCalls)),
				target:   "1 per container per TTL",
				met:      ours.c.SecretCalls == 1,
				judged:   true,
			},
			row{
				name:     "ilos connections per 1,000, " + mode,
				ours:     fmt.Sprintf("%.0f", per(ours.c.Connections)),
				baseline: fmt.Sprintf("%.0f", per(naive.c.Connections)),
				target:   fmt.Sprintf("<= %d", connTarget),
				met:      ours.c.Connections <= connTarget,
				judged:   true,
			})
	}
	r.rows(fmt.Sprintf("upstream calls (%d invocations per run; "+
		"baseline: the naive function)", o.invocations), rows)
	r.note("over plain HTTP/1.1 each request in flight needs its own " +
		"connection, so concurrent runs are held to twice their " +
		"concurrency, not to one; Lambda runs one invocation at a time " +
		"per container")
	return nil
}
