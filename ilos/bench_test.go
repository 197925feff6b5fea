package ilos

import "testing"

// BenchmarkRecordToken measures one exchange with the stand-in over a kept
// connection. Its allocations count both sides, the stand-in's included.
func BenchmarkRecordToken(b *testing.B) {
	srv, c := standIn(b, Config{})
	opts := Options{"service_name": "bench", "auto_open_video": true}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := c.RecordToken(b.Context(), testKey, opts); err != nil {
			b.Fatalf("RecordToken: %v", err)
		}
	}
	b.ReportMetric(float64(srv.Connections()), "conns")
}
