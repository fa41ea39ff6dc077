package main

import (
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"time"
)

// jsonReport is the --output=json object.
type jsonReport struct {
	Format            string            `json:"format"`
	URL               string            `json:"url"`
	Batch             int               `json:"batch"`
	Series            int               `json:"series"`
	Concurrency       int               `json:"concurrency"`
	DurationSeconds   float64           `json:"duration_seconds"`
	Requests          int64             `json:"requests"`
	EventsSent        int64             `json:"events_sent"`
	EventsAccepted    int64             `json:"events_accepted"`
	EventsPerSecond   float64           `json:"events_per_second"`
	StatusCounts      map[string]int64  `json:"status_counts"`
	ThrottledRequests int64             `json:"throttled_requests"`
	SeriesIntroduced  int               `json:"series_introduced"`
	LatencySeconds    latencyJSON       `json:"latency_seconds"`
	FirstErrors       map[string]string `json:"first_errors,omitempty"`
	EndResolves       *EndResolves      `json:"end_resolves,omitempty"`
}

type latencyJSON struct {
	P50 float64 `json:"p50"`
	P90 float64 `json:"p90"`
	P99 float64 `json:"p99"`
	Max float64 `json:"max"`
}

func (r *Result) jsonReport() jsonReport {
	return jsonReport{
		Format:            r.Format,
		URL:               r.URL,
		Batch:             r.Batch,
		Series:            r.Series,
		Concurrency:       r.Concurrency,
		DurationSeconds:   r.Duration.Seconds(),
		Requests:          r.Requests,
		EventsSent:        r.EventsSent,
		EventsAccepted:    r.EventsAccepted,
		EventsPerSecond:   r.EventsPerSecond(),
		StatusCounts:      r.StatusCounts,
		ThrottledRequests: r.Throttled(),
		SeriesIntroduced:  r.SeriesIntroduced,
		LatencySeconds: latencyJSON{
			P50: r.Latency.quantile(.5).Seconds(),
			P90: r.Latency.quantile(.9).Seconds(),
			P99: r.Latency.quantile(.99).Seconds(),
			Max: r.Latency.quantile(1).Seconds(),
		},
		FirstErrors: r.FirstErrors,
		EndResolves: r.endResolves(),
	}
}

// endResolves is nil unless --resolve-at-end sent something.
func (r *Result) endResolves() *EndResolves {
	if r.EndResolves.Requests == 0 {
		return nil
	}
	return &r.EndResolves
}

// writeReport prints r as text or as one JSON object.
func writeReport(w io.Writer, r *Result, output string) error {
	if output == "json" {
		return json.NewEncoder(w).Encode(r.jsonReport())
	}
	var b strings.Builder
	fmt.Fprintf(&b, "siftload: %s -> %s (batch %d, series %d, concurrency %d)\n", r.Format, r.URL, r.Batch, r.Series, r.Concurrency)
	fmt.Fprintf(&b, "duration:           %.2fs\n", r.Duration.Seconds())
	fmt.Fprintf(&b, "requests sent:      %d (%d succeeded)\n", r.Requests, r.OKRequests)
	fmt.Fprintf(&b, "events sent:        %d\n", r.EventsSent)
	fmt.Fprintf(&b, "events accepted:    %d (in 2xx answers)\n", r.EventsAccepted)
	fmt.Fprintf(&b, "events/s accepted:  %.0f\n", r.EventsPerSecond())
	fmt.Fprintf(&b, "series introduced:  %d\n", r.SeriesIntroduced)
	fmt.Fprintf(&b, "throttled (503):    %d requests\n", r.Throttled())
	var other []string
	for _, k := range sortedKeys(r.StatusCounts) {
		if strings.HasPrefix(k, "2") && len(k) == 3 || k == "503" {
			continue
		}
		s := k + "×" + strconv.FormatInt(r.StatusCounts[k], 10)
		if e := r.FirstErrors[k]; e != "" {
			s += " (first: " + e + ")"
		}
		other = append(other, s)
	}
	if len(other) == 0 {
		other = []string{"none"}
	}
	fmt.Fprintf(&b, "other errors:       %s\n", strings.Join(other, "; "))
	var codes []string
	for _, k := range sortedKeys(r.StatusCounts) {
		codes = append(codes, k+"="+strconv.FormatInt(r.StatusCounts[k], 10))
	}
	fmt.Fprintf(&b, "status counts:      %s\n", strings.Join(codes, " "))
	h := r.Latency
	fmt.Fprintf(&b, "latency:            p50=%s p90=%s p99=%s max=%s (%d requests answered)\n",
		fmtDur(h.quantile(.5)), fmtDur(h.quantile(.9)), fmtDur(h.quantile(.99)), fmtDur(h.quantile(1)), h.n)
	fmt.Fprintf(&b, "pre-encoded:        %d steady-state bodies, %.1f MiB\n", r.PoolBodies, float64(r.PoolBytes)/(1<<20))
	if e := r.endResolves(); e != nil {
		fmt.Fprintf(&b, "resolved at end:    %d events in %d requests, %d acknowledged\n", e.Events, e.Requests, e.OKRequests)
	}
	_, err := io.WriteString(w, b.String())
	return err
}

func fmtDur(d time.Duration) string {
	switch {
	case d >= time.Second:
		return strconv.FormatFloat(d.Seconds(), 'f', 3, 64) + "s"
	case d >= time.Millisecond:
		return strconv.FormatFloat(float64(d)/float64(time.Millisecond), 'f', 2, 64) + "ms"
	}
	return strconv.FormatFloat(float64(d)/float64(time.Microsecond), 'f', 1, 64) + "µs"
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}
