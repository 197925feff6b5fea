package handler

import (
	"log/slog"
	"sync/atomic"

	"github.com/ilostoken/ilostoken/secrets"
)

// Metrics turns each request's log line into CloudWatch metrics in the
// Embedded Metric Format: the line gains an "_aws" member that tells
// CloudWatch which of its fields are metrics. The fields are the ones the
// line carries anyway (ilos_ms, secrets_ms, duration_ms) plus counters, so
// one line per request is both the log and the metrics.
type Metrics struct {
	// Namespace is the CloudWatch namespace. Empty turns metrics off.
	Namespace string

	// Function names the function in the "function" dimension. Empty
	// means "ilostoken".
	Function string
}

// StatsSource is implemented by a [KeySource] that counts its fetches and
// hits, such as [*secrets.Cache]. The handler reports the change in those
// counters across a request; Lambda runs one request at a time per
// process, so the figures are exact there.
type StatsSource interface {
	Stats() secrets.Stats
}

var _ StatsSource = (*secrets.Cache)(nil)

// The EMF metric names: the log line's own field names.
const (
	metricTokens       = "tokens"
	metricClientErrors = "client_errors"
	metricServerErrors = "server_errors"
	metricErrors       = "errors"
	metricColdStart    = "cold_start"
	metricFetches      = "secret_fetches"
	metricHits         = "secret_cache_hits"
	metricDuration     = "duration_ms"
	metricSecrets      = "secrets_ms"
	metricIlos         = "ilos_ms"
)

type emfRoot struct {
	Timestamp         int64          `json:"Timestamp"`
	CloudWatchMetrics []emfDirective `json:"CloudWatchMetrics"`
}

type emfDirective struct {
	Namespace  string      `json:"Namespace"`
	Dimensions [][]string  `json:"Dimensions"`
	Metrics    []emfMetric `json:"Metrics"`
}

type emfMetric struct {
	Name string `json:"Name"`
	Unit string `json:"Unit"`
}

// meter builds the metric part of each log line.
type meter struct {
	namespace string
	function  string
	stats     StatsSource // nil when the key source keeps no counters
	cold      atomic.Bool // true until the first request is measured
}

func newMeter(m *Metrics, keys KeySource) *meter {
	if m == nil || m.Namespace == "" {
		return nil
	}
	mt := &meter{namespace: m.Namespace, function: m.Function}
	if mt.function == "" {
		mt.function = "ilostoken"
	}
	mt.stats, _ = keys.(StatsSource)
	mt.cold.Store(true)
	return mt
}

// snapshot reads the key source's counters before a request.
func (m *meter) snapshot() secrets.Stats {
	if m == nil || m.stats == nil {
		return secrets.Stats{}
	}
	return m.stats.Stats()
}

// attrs returns the metric fields and the "_aws" member for a request
// that ended with status.
func (m *meter) attrs(x *exchange, status int) []slog.Attr {
	cold := m.cold.Swap(false)
	now := x.start.Add(x.elapsed)
	counts := []slog.Attr{
		slog.String("function", m.function),
		slog.Int(metricTokens, b2i(status == 200)),
		slog.Int(metricClientErrors, b2i(status >= 400 && status < 500)),
		slog.Int(metricServerErrors, b2i(status >= 500)),
		slog.Int(metricColdStart, b2i(cold)),
	}
	main := emfDirective{
		Namespace:  m.namespace,
		Dimensions: [][]string{{"function"}},
		Metrics: []emfMetric{
			{metricTokens, "Count"},
			{metricClientErrors, "Count"},
			{metricServerErrors, "Count"},
			{metricColdStart, "Count"},
			{metricDuration, "Milliseconds"},
		},
	}
	if m.stats != nil {
		after := m.stats.Stats()
		counts = append(counts,
			slog.Uint64(metricFetches, after.Fetches-x.before.Fetches),
			slog.Uint64(metricHits, after.Hits-x.before.Hits))
		main.Metrics = append(main.Metrics,
			emfMetric{metricFetches, "Count"},
			emfMetric{metricHits, "Count"})
	}
	// Latencies count only when the call was made, so that a refused
	// origin does not pull the average towards zero.
	if x.secretsCalled {
		main.Metrics = append(main.Metrics,
			emfMetric{metricSecrets, "Milliseconds"})
	}
	if x.ilosCalled {
		main.Metrics = append(main.Metrics,
			emfMetric{metricIlos, "Milliseconds"})
	}

	root := emfRoot{
		Timestamp:         now.UnixMilli(),
		CloudWatchMetrics: []emfDirective{main},
	}
	if status >= 400 {
		counts = append(counts, slog.String("error_code", x.outcome),
			slog.Int(metricErrors, 1))
		root.CloudWatchMetrics = append(root.CloudWatchMetrics,
			emfDirective{
				Namespace:  m.namespace,
				Dimensions: [][]string{{"function", "error_code"}},
				Metrics:    []emfMetric{{metricErrors, "Count"}},
			})
	}
	return append(counts, slog.Any("_aws", root))
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}
