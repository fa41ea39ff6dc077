package app

import (
	"encoding/json"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	kafkago "github.com/segmentio/kafka-go"
	"github.com/stretchr/testify/require"

	ingestkafka "github.com/sift-itsm/sift/ingest/kafka"
	"github.com/sift-itsm/sift/internal/kafkatest"
	notifykafka "github.com/sift-itsm/sift/notify/kafka"
)

// startKafkaDaemon runs a daemon on the config text, with the Kafka
// consumer's group timings shortened for tests.
func startKafkaDaemon(t *testing.T, cfg string) *daemon {
	t.Helper()
	return startOn(t, filepath.Join(t.TempDir(), "data"), cfg, kafkaTimings)
}

// kafkaTimings shortens the consumer's group timings: rebalances take
// milliseconds, not seconds.
func kafkaTimings(o *Options) {
	o.kafkaConsumer = func(o *ingestkafka.Options) {
		o.HeartbeatInterval = 100 * time.Millisecond
		o.SessionTimeout = 6 * time.Second
		o.RebalanceTimeout = 2 * time.Second
		o.MaxWait = 100 * time.Millisecond
	}
}

// TestScaleOutByPartition runs two siftd in one consumer group over a
// topic keyed by service: each service's alerts are held by exactly one
// instance, and no event is lost.
func TestScaleOutByPartition(t *testing.T) {
	cl := kafkatest.New(t)
	const partitions, services, perService = 6, 24, 5
	topic := cl.CreateTopic(t, "alerts", partitions)
	changes := cl.CreateTopic(t, "changes", 3)
	cfg := fmt.Sprintf(`
ingest:
  kafka:
    brokers: [%q]
    group_id: %s
    topics: [{name: %s, format: prometheus}]
    commit_interval: 50ms
output:
  kafka:
    brokers: [%q]
    topic: %s
    changes: [alert.opened]
`, cl.Brokers[0], kafkatest.Name(t, "group"), topic, cl.Brokers[0], changes)
	d1 := startKafkaDaemon(t, cfg)
	d2 := startKafkaDaemon(t, cfg)
	// Produce once the group is stable with both members, so that no
	// partition moves while events flow (a move is covered by
	// ingest/kafka's rebalance test).
	assigned := func(d *daemon) float64 { return gaugeWith(t, d.reg, "sift_kafka_consumer_assigned_partitions", "", "") }
	kafkatest.Eventually(t, func() bool {
		a1, a2 := assigned(d1), assigned(d2)
		return a1 > 0 && a2 > 0 && a1+a2 == partitions
	}, "partitions assigned: %v and %v", assigned(d1), assigned(d2))

	var msgs []kafkago.Message
	for round := range 3 {
		for s := range services {
			svc := fmt.Sprintf("svc%02d", s)
			body := "["
			for a := range perService {
				if a > 0 {
					body += ","
				}
				body += fmt.Sprintf(`{"labels":{"alertname":"A%d","service":%q,"severity":"critical"},"startsAt":"2026-11-24T12:00:00Z","annotations":{"round":"%d"}}`, a, svc, round)
			}
			msgs = append(msgs, kafkago.Message{Key: []byte(svc), Value: []byte(body + "]")})
		}
	}
	cl.Produce(t, topic, msgs...)

	applied := func(d *daemon) float64 { return gaugeWith(t, d.reg, "sift_engine_events_applied_total", "", "") }
	const total = 3 * services * perService
	kafkatest.Eventually(t, func() bool { return applied(d1)+applied(d2) >= total }, "applied %v + %v of %d", applied(d1), applied(d2), total)

	holder := map[string]string{}
	count := map[string]uint64{}
	for name, d := range map[string]*daemon{"d1": d1, "d2": d2} {
		for _, a := range d.alerts(t).Alerts {
			svc := a.Labels["service"]
			if h, ok := holder[svc]; ok {
				require.Equal(t, h, name, "service %s is held by two instances", svc)
			}
			holder[svc] = name
			count[svc+"/"+a.Labels["alertname"]] += a.Count
		}
	}
	require.Len(t, holder, services)
	require.Len(t, count, services*perService)
	for k, n := range count {
		require.Equal(t, uint64(3), n, "alert %s: every event counted once", k)
	}
	require.Equal(t, float64(total), applied(d1)+applied(d2), "no event applied twice")
	require.Positive(t, applied(d1))
	require.Positive(t, applied(d2))

	// Each instance published its own alerts' openings.
	opened := cl.ReadAll(t, changes, services*perService)
	ids := map[string]bool{}
	for _, m := range opened {
		var e notifykafka.Envelope
		require.NoError(t, json.Unmarshal(m.Value, &e))
		require.Equal(t, "opened", e.Kind)
		ids[e.ID] = true
	}
	require.Len(t, ids, services*perService)
}

func TestKafkaOffByDefault(t *testing.T) {
	d := start(t, "")
	require.Nil(t, d.app.kafka.consumer)
	require.Nil(t, d.app.kafka.publisher)
	code, _ := d.post(t, "/api/v2/alerts", "["+promAlert("Down", "h1")+"]")
	require.Equal(t, 200, code)
}
