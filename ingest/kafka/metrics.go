package kafka

import (
	"strconv"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
)

type metrics struct {
	messages       *prometheus.CounterVec
	bytes          *prometheus.CounterVec
	events         *prometheus.CounterVec
	decodeErrors   *prometheus.CounterVec
	deadLetters    *prometheus.CounterVec
	deadLetterErr  prometheus.Counter
	submitRetries  prometheus.Counter
	resumedFromLog prometheus.Counter
	commitTime     prometheus.Histogram
	commitErrors   prometheus.Counter
	lag            *prometheus.GaugeVec
	assigned       prometheus.Gauge
}

// topicMetrics are one topic's counters, looked up once.
type topicMetrics struct {
	messages, bytes, events, decodeErrors, deadLetters prometheus.Counter
}

func newMetrics(reg prometheus.Registerer) *metrics {
	f := promauto.With(reg)
	const ns, sub = "sift", "kafka_consumer"
	return &metrics{
		messages: f.NewCounterVec(prometheus.CounterOpts{
			Namespace: ns, Subsystem: sub, Name: "messages_total",
			Help: "Kafka messages fetched, by topic.",
		}, []string{"topic"}),
		bytes: f.NewCounterVec(prometheus.CounterOpts{
			Namespace: ns, Subsystem: sub, Name: "bytes_total",
			Help: "Bytes of Kafka message values fetched, by topic.",
		}, []string{"topic"}),
		events: f.NewCounterVec(prometheus.CounterOpts{
			Namespace: ns, Subsystem: sub, Name: "events_total",
			Help: "Events decoded from Kafka messages and submitted to the engine, by topic.",
		}, []string{"topic"}),
		decodeErrors: f.NewCounterVec(prometheus.CounterOpts{
			Namespace: ns, Subsystem: sub, Name: "decode_errors_total",
			Help: "Kafka messages that failed to decode, by topic.",
		}, []string{"topic"}),
		deadLetters: f.NewCounterVec(prometheus.CounterOpts{
			Namespace: ns, Subsystem: sub, Name: "dead_letters_total",
			Help: "Undecodable Kafka messages written to the dead-letter topic, by source topic.",
		}, []string{"topic"}),
		deadLetterErr: f.NewCounter(prometheus.CounterOpts{
			Namespace: ns, Subsystem: sub, Name: "dead_letter_errors_total",
			Help: "Failed attempts to write to the dead-letter topic (each is retried).",
		}),
		submitRetries: f.NewCounter(prometheus.CounterOpts{
			Namespace: ns, Subsystem: sub, Name: "submit_retries_total",
			Help: "Times a batch of Kafka events waited for room in the engine queue.",
		}),
		resumedFromLog: f.NewCounter(prometheus.CounterOpts{
			Namespace: ns, Subsystem: sub, Name: "resumed_from_log_total",
			Help: "Partitions assigned whose consumption resumed after the last offset in the write-ahead log, past the committed offset: their events were logged but the offsets not committed before a stop.",
		}),
		commitTime: f.NewHistogram(prometheus.HistogramOpts{
			Namespace: ns, Subsystem: sub, Name: "commit_duration_seconds",
			Help:    "Time to commit offsets: waiting for the engine to apply the events, then the offset commit.",
			Buckets: prometheus.ExponentialBuckets(0.0005, 4, 9),
		}),
		commitErrors: f.NewCounter(prometheus.CounterOpts{
			Namespace: ns, Subsystem: sub, Name: "commit_errors_total",
			Help: "Failed offset commits (the offsets are retried with the next commit).",
		}),
		lag: f.NewGaugeVec(prometheus.GaugeOpts{
			Namespace: ns, Subsystem: sub, Name: "lag_messages",
			Help: "Messages in the partition after the last one fetched, as of that fetch.",
		}, []string{"topic", "partition"}),
		assigned: f.NewGauge(prometheus.GaugeOpts{
			Namespace: ns, Subsystem: sub, Name: "assigned_partitions",
			Help: "Partitions assigned to this member in the current consumer group generation.",
		}),
	}
}

func (m *metrics) forTopic(topic string) *topicMetrics {
	return &topicMetrics{
		messages:     m.messages.WithLabelValues(topic),
		bytes:        m.bytes.WithLabelValues(topic),
		events:       m.events.WithLabelValues(topic),
		decodeErrors: m.decodeErrors.WithLabelValues(topic),
		deadLetters:  m.deadLetters.WithLabelValues(topic),
	}
}

func (m *metrics) lagGauge(topic string, partition int) prometheus.Gauge {
	return m.lag.WithLabelValues(topic, strconv.Itoa(partition))
}
