package handler

import (
	"encoding/json"
	"log/slog"
	"strconv"
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

// emfRoot is the "_aws" member: the time and the directives. The
// directives for each combination of outcome and calls made are marshaled
// once, in newMeter, as a request's log line is on the hot path.
type emfRoot struct {
	Timestamp         int64
	CloudWatchMetrics json.RawMessage
}

// MarshalJSON writes r without reflection.
func (r emfRoot) MarshalJSON() ([]byte, error) {
	b := make([]byte, 0, 32+len(r.CloudWatchMetrics))
	b = append(b, `{"Timestamp":`...)
	b = strconv.AppendInt(b, r.Timestamp, 10)
	b = append(b, `,"CloudWatchMetrics":`...)
	b = append(b, r.CloudWatchMetrics...)
	return append(b, '}'), nil
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

	// directives holds the marshaled directives by directiveIndex.
	directives [8]json.RawMessage
}

// directiveIndex numbers the combinations of the calls a request made and
// whether it failed, which decide the metrics its line declares.
func directiveIndex(secretsCalled, ilosCalled, failed bool) int {
	return b2i(secretsCalled) | b2i(ilosCalled)<<1 | b2i(failed)<<2
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
	for i := range mt.directives {
		raw, err := json.Marshal(mt.directiveSet(i&1 != 0, i&2 != 0,
			i&4 != 0))
		if err != nil {
			panic("handler: marshal EMF directives: " + err.Error())
		}
		mt.directives[i] = raw
	}
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
	attrs := make([]slog.Attr, 0, 10)
	attrs = append(attrs,
		slog.String("function", m.function),
		slog.Int(metricTokens, b2i(status == 200)),
		slog.Int(metricClientErrors, b2i(status >= 400 && status < 500)),
		slog.Int(metricServerErrors, b2i(status >= 500)),
		slog.Int(metricColdStart, b2i(cold)))
	if m.stats != nil {
		after := m.stats.Stats()
		attrs = append(attrs,
			slog.Uint64(metricFetches, after.Fetches-x.before.Fetches),
			slog.Uint64(metricHits, after.Hits-x.before.Hits))
	}
	failed := status >= 400
	if failed {
		attrs = append(attrs, slog.String("error_code", x.outcome),
			slog.Int(metricErrors, 1))
	}
	root := emfRoot{
		Timestamp: now.UnixMilli(),
		CloudWatchMetrics: m.directives[directiveIndex(x.secretsCalled,
			x.ilosCalled, failed)],
	}
	return append(attrs, slog.Any("_aws", root))
}

// directiveSet builds the directives of a line: the main metrics, and the
// errors by error code when the request failed.
func (m *meter) directiveSet(secretsCalled, ilosCalled,
	failed bool) []emfDirective {
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
		main.Metrics = append(main.Metrics,
			emfMetric{metricFetches, "Count"},
			emfMetric{metricHits, "Count"})
	}
	// Latencies count only when the call was made, so that a refused
	// origin does not pull the average towards zero.
	if secretsCalled {
		main.Metrics = append(main.Metrics,
			emfMetric{metricSecrets, "Milliseconds"})
	}
	if ilosCalled {
		main.Metrics = append(main.Metrics,
			emfMetric{metricIlos, "Milliseconds"})
	}
	set := []emfDirective{main}
	if failed {
		set = append(set, emfDirective{
			Namespace:  m.namespace,
			Dimensions: [][]string{{"function", "error_code"}},
			Metrics:    []emfMetric{{metricErrors, "Count"}},
		})
	}
	return set
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}
