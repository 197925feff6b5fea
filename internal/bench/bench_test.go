package bench_test

import (
	"testing"

	"github.com/ilostoken/ilostoken/internal/bench"
)

// run times start's workload with the benchmark's loop.
func run(b *testing.B, start func() (*bench.Op, error)) {
	b.Helper()
	op, err := start()
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(op.Close)
	b.ReportAllocs()
	for b.Loop() {
		if err := op.Do(b.Context()); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkInvoke is a warm invocation, the ilos call over loopback.
func BenchmarkInvoke(b *testing.B) { run(b, bench.Invoke) }

// BenchmarkBarePost is the same POST with a plain http.Client.
func BenchmarkBarePost(b *testing.B) { run(b, bench.BarePost) }

// BenchmarkInMemory is the handler's own cost, the network in memory.
func BenchmarkInMemory(b *testing.B) { run(b, bench.InMemory) }

// BenchmarkNaive is the function that reads the secret every time.
func BenchmarkNaive(b *testing.B) { run(b, bench.Naive) }

func TestWorkloadsSucceed(t *testing.T) {
	tests := []struct {
		name  string
		start func() (*bench.Op, error)
	}{
		{"invoke", bench.Invoke},
		{"bare post", bench.BarePost},
		{"in memory", bench.InMemory},
		{"naive", bench.Naive},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			op, err := tt.start()
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(op.Close)
			for i := range 3 {
				if err := op.Do(t.Context()); err != nil {
					t.Fatalf("call %d: %v", i, err)
				}
			}
		})
	}
}

func TestRunCountsUpstreamCalls(t *testing.T) {
	tests := []struct {
		name        string
		naive       bool
		workers     int
		wantSecrets int
		maxConns    int
	}{
		{"ours sequential", false, 1, 1, 1},
		// Go's transport may dial a spare connection while a request
		// waits for one to come free, so concurrency allows up to twice
		// as many.
		{"ours concurrent", false, 8, 1, 16},
		{"naive sequential", true, 1, 40, 40},
	}
	const n = 40
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := bench.Run(t.Context(), tt.naive, n, tt.workers)
			if err != nil {
				t.Fatal(err)
			}
			if got.SecretCalls != tt.wantSecrets {
				t.Errorf("got %d GetSecretValue calls, want %d",
					got.SecretCalls, tt.wantSecrets)
			}
			if got.Connections < 1 || got.Connections > tt.maxConns {
				t.Errorf("got %d connections, want 1 to %d",
					got.Connections, tt.maxConns)
			}
		})
	}
}
