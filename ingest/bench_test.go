package ingest

import (
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/prometheus/alertmanager/notify/webhook"
	"github.com/prometheus/alertmanager/template"
	"github.com/prometheus/common/model"
)

// Benchmarks of the ingest hot path. Compare runs with benchstat:
//
//	go test ./ingest -run='^$' -bench=. -benchmem -count=6 > new.txt

var benchAlertnames = []string{
	"HighRequestLatency", "NodeFilesystemAlmostFull", "TargetDown", "KubePodCrashLooping",
	"HostHighCpuLoad", "PostgresReplicationLag", "KafkaConsumerLag", "CertificateExpiringSoon",
	"RedisMemoryHigh", "HTTP5xxRateHigh",
}

var benchSeverities = []string{"critical", "warning", "page", "error", "info"}

// benchLabels returns the 8 to 10 labels of the i-th realistic alert.
func benchLabels(i int) map[string]string {
	name := benchAlertnames[i%len(benchAlertnames)]
	ls := map[string]string{
		"alertname": name,
		"cluster":   fmt.Sprintf("prod-eu-%d", i%3),
		"instance":  fmt.Sprintf("10.42.%d.%d:9100", i/250, i%250),
		"job":       []string{"node", "api", "kube-state-metrics", "postgres"}[i%4],
		"namespace": []string{"shop", "payments", "monitoring", "data"}[i%4],
		"pod":       fmt.Sprintf("%s-7d9f8b6c5-%05x", []string{"checkout", "cart", "search"}[i%3], i*7919),
		"severity":  benchSeverities[i%len(benchSeverities)],
		"team":      []string{"sre", "payments", "platform"}[i%3],
	}
	if i%2 == 0 {
		ls["service"] = []string{"checkout", "cart", "search", "ledger"}[i%4]
	}
	if i%3 == 0 {
		ls["region"] = "eu-west-1"
	}
	return ls
}

func benchAnnotations(i int) map[string]string {
	return map[string]string{
		"summary":     fmt.Sprintf("%s on 10.42.%d.%d:9100", benchAlertnames[i%len(benchAlertnames)], i/250, i%250),
		"description": fmt.Sprintf("Value is %d.%02d%% over the threshold for the last 10 minutes.", i%100, i%97),
		"runbook_url": "https://runbooks.example.com/" + benchAlertnames[i%len(benchAlertnames)],
	}
}

func benchPrometheusBody(n int) []byte {
	type alert struct {
		Labels       map[string]string `json:"labels"`
		Annotations  map[string]string `json:"annotations"`
		StartsAt     time.Time         `json:"startsAt"`
		EndsAt       time.Time         `json:"endsAt"`
		GeneratorURL string            `json:"generatorURL"`
	}
	as := make([]alert, n)
	for i := range as {
		as[i] = alert{
			Labels:       benchLabels(i),
			Annotations:  benchAnnotations(i),
			StartsAt:     testReceivedAt.Add(-time.Duration(i) * time.Second).Add(123 * time.Millisecond),
			EndsAt:       testReceivedAt.Add(4 * time.Minute),
			GeneratorURL: "http://prometheus-0.monitoring.svc:9090/graph?g0.expr=up+%3D%3D+0&g0.tab=1",
		}
	}
	b, err := json.Marshal(as)
	if err != nil {
		panic(err)
	}
	return b
}

func benchGenericBody(n int) []byte {
	type event struct {
		Labels      map[string]string `json:"labels"`
		Annotations map[string]string `json:"annotations"`
		Severity    string            `json:"severity,omitempty"`
		Status      string            `json:"status"`
		Timestamp   time.Time         `json:"timestamp"`
		Source      string            `json:"source"`
		Identity    []string          `json:"identity,omitempty"`
	}
	es := make([]event, n)
	for i := range es {
		es[i] = event{
			Labels:      benchLabels(i),
			Annotations: benchAnnotations(i),
			Severity:    []string{"major", "minor", "critical", "", "informational"}[i%5],
			Status:      []string{"firing", "resolved"}[i%7/6],
			Timestamp:   testReceivedAt.Add(-time.Duration(i) * time.Second),
			Source:      "zabbix",
		}
		if i%4 == 0 {
			es[i].Identity = []string{"alertname", "instance"}
		}
	}
	b, err := json.Marshal(es)
	if err != nil {
		panic(err)
	}
	return b
}

func benchAlertmanagerBody(n int) []byte {
	msg := webhook.Message{
		Data: &template.Data{
			Receiver:          "sift",
			Status:            "firing",
			GroupLabels:       template.KV{"alertname": "KubePodCrashLooping"},
			CommonLabels:      template.KV{"alertname": "KubePodCrashLooping"},
			CommonAnnotations: template.KV{},
			ExternalURL:       "http://alertmanager-main-0.monitoring.svc:9093",
		},
		Version:  "4",
		GroupKey: `{}:{alertname="KubePodCrashLooping"}`,
	}
	for i := range n {
		ls := benchLabels(i)
		a := template.Alert{
			Status:       "firing",
			Labels:       ls,
			Annotations:  benchAnnotations(i),
			StartsAt:     testReceivedAt.Add(-time.Duration(i+5) * time.Minute),
			GeneratorURL: "http://prometheus-0.monitoring.svc:9090/graph?g0.expr=up+%3D%3D+0&g0.tab=1",
			Fingerprint:  LabelsFromMap(ls).Fingerprint().String(),
		}
		if i%5 == 0 {
			a.Status = "resolved"
			a.EndsAt = testReceivedAt.Add(-time.Second)
		}
		msg.Alerts = append(msg.Alerts, a)
	}
	b, err := json.Marshal(msg)
	if err != nil {
		panic(err)
	}
	return b
}

func benchBatch(b *testing.B, body []byte, n int, parse func([]byte, time.Time) ([]Event, error)) {
	if events, err := parse(body, testReceivedAt); err != nil || len(events) != n {
		b.Fatalf("setup: %d events, %v", len(events), err)
	}
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := parse(body, testReceivedAt); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N*n)/b.Elapsed().Seconds(), "events/s")
}

// TestBenchBodies keeps the benchmark inputs valid: a benchmark only runs
// with -bench, this runs with every go test.
func TestBenchBodies(t *testing.T) {
	for _, tc := range []struct {
		src   Source
		body  []byte
		n     int
		parse func([]byte, time.Time) ([]Event, error)
	}{
		{SourcePrometheus, benchPrometheusBody(1000), 1000, ParsePrometheus},
		{SourceGeneric, benchGenericBody(1000), 1000, ParseGeneric},
		{SourceAlertmanager, benchAlertmanagerBody(100), 100, ParseAlertmanager},
	} {
		events, err := tc.parse(tc.body, testReceivedAt)
		if err != nil {
			t.Fatalf("%s: %v", tc.src, err)
		}
		if len(events) != tc.n {
			t.Fatalf("%s: %d events, want %d", tc.src, len(events), tc.n)
		}
		for i := range events {
			if n := events[i].Labels.Len(); n < 8 || n > 10 {
				t.Fatalf("%s event %d has %d labels, want 8-10", tc.src, i, n)
			}
			if err := eventInvariants(&events[i], tc.src, testReceivedAt); err != nil {
				t.Fatalf("%s event %d: %v", tc.src, i, err)
			}
		}
	}
}

func BenchmarkParsePrometheus(b *testing.B) {
	benchBatch(b, benchPrometheusBody(1000), 1000, ParsePrometheus)
}

func BenchmarkParseGeneric(b *testing.B) {
	benchBatch(b, benchGenericBody(1000), 1000, ParseGeneric)
}

func BenchmarkParseAlertmanager(b *testing.B) {
	benchBatch(b, benchAlertmanagerBody(100), 100, ParseAlertmanager)
}

func BenchmarkParsePagerDuty(b *testing.B) {
	body := readTestdata(b, "pagerduty_trigger.json")
	newKey := func() string { return "unused" }
	benchBatch(b, body, 1, func(body []byte, at time.Time) ([]Event, error) {
		e, err := ParsePagerDuty(body, at, newKey)
		return []Event{e}, err
	})
}

var sinkFP model.Fingerprint

func BenchmarkFingerprint(b *testing.B) {
	m := benchLabels(0) // 10 labels
	ls := LabelsFromMap(m)
	set := ls.LabelSet()
	if ls.Fingerprint() != set.Fingerprint() {
		b.Fatal("fingerprints differ")
	}
	b.Run("Labels", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			sinkFP = ls.Fingerprint()
		}
	})
	b.Run("Labels.FingerprintOf", func(b *testing.B) {
		identity := []string{"alertname", "instance"}
		b.ReportAllocs()
		for b.Loop() {
			sinkFP = ls.FingerprintOf(identity)
		}
	})
	b.Run("model.LabelSet", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			sinkFP = set.Fingerprint()
		}
	})
}
