package app

import (
	"fmt"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"

	kafkago "github.com/segmentio/kafka-go"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sift-itsm/sift/internal/kafkatest"
	"github.com/sift-itsm/sift/internal/wal"
)

// fakeCluster is the in-process cluster, for tests that intercept its
// requests; they skip against real brokers.
func fakeCluster(t *testing.T) *kafkatest.Cluster {
	t.Helper()
	cl := kafkatest.New(t)
	if cl.Fake() == nil {
		t.Skip("intercepts broker requests: kfake only")
	}
	return cl
}

// refuseCommits answers an offset commit with an error for every
// partition, as a coordinator that is away would.
func refuseCommits(req kmsg.Request) kmsg.Response {
	r := req.(*kmsg.OffsetCommitRequest)
	resp := r.ResponseKind().(*kmsg.OffsetCommitResponse)
	for _, tp := range r.Topics {
		rt := kmsg.NewOffsetCommitResponseTopic()
		rt.Topic = tp.Topic
		for _, p := range tp.Partitions {
			rp := kmsg.NewOffsetCommitResponseTopicPartition()
			rp.Partition = p.Partition
			rp.ErrorCode = 15 // COORDINATOR_NOT_AVAILABLE
			rt.Partitions = append(rt.Partitions, rp)
		}
		resp.Topics = append(resp.Topics, rt)
	}
	return resp
}

// consumerConfig configures a Kafka consumer of topic (prometheus
// format); extra is one more key of ingest.kafka.
func consumerConfig(cl *kafkatest.Cluster, group, topic, commitInterval, extra string) string {
	return fmt.Sprintf(`
ingest:
  kafka:
    brokers: [%q]
    group_id: %s
    topics: [{name: %s, format: prometheus}]
    commit_interval: %s
    %s
`, cl.Brokers[0], group, topic, commitInterval, extra)
}

func promMessage(instance string) kafkago.Message {
	return kafkago.Message{Value: []byte("[" + promAlert("Down", instance) + "]")}
}

// TestKafkaRestartAfterLoggedButNotCommitted: the consumer's events are
// in the write-ahead log but the commits failed, then siftd stopped. At
// the restart the log gives the alerts back, and the partition resumes
// after the logged offsets: no message is consumed again, no event
// applied twice, no dead letter written twice; the group's offsets catch
// up.
func TestKafkaRestartAfterLoggedButNotCommitted(t *testing.T) {
	cl := fakeCluster(t)
	topic := cl.CreateTopic(t, "alerts", 1)
	dead := cl.CreateTopic(t, "dead", 1)
	group := kafkatest.Name(t, "group")
	var refusing atomic.Bool
	refusing.Store(true)
	var refused atomic.Int64
	cl.Fake().ControlKey(int16(kmsg.OffsetCommit), func(req kmsg.Request) (kmsg.Response, error, bool) {
		cl.Fake().KeepControl()
		if !refusing.Load() {
			return nil, nil, false
		}
		refused.Add(1)
		return refuseCommits(req), nil, true
	})
	cfg := consumerConfig(cl, group, topic, "20ms", "dead_letter_topic: "+dead)
	storage := filepath.Join(t.TempDir(), "data")
	msgs := []kafkago.Message{promMessage("h1"), promMessage("h2"), {Value: []byte("not json")}, promMessage("h3")}
	cl.Produce(t, topic, msgs...)

	d := startOn(t, storage, cfg, kafkaTimings)
	applied := func(d *daemon) float64 { return gaugeWith(t, d.reg, "sift_engine_events_applied_total", "", "") }
	kafkatest.Eventually(t, func() bool { return applied(d) == 3 && refused.Load() > 0 }, "applied %v, commits refused %d", applied(d), refused.Load())
	require.Equal(t, "not json", string(cl.ReadAll(t, dead, 1)[0].Value))
	before := d.alerts(t)
	require.Len(t, before.Alerts, 3)
	d.shutdown(t) // its last commit is refused too
	require.Empty(t, cl.Committed(t, group, topic), "nothing committed")

	refusing.Store(false)
	d = startOn(t, storage, cfg, kafkaTimings)
	require.Equal(t, before, d.alerts(t), "back from the log")
	kafkatest.Eventually(t, func() bool { return cl.Committed(t, group, topic)[0] == 4 }, "committed %v", cl.Committed(t, group, topic))
	require.Equal(t, 1.0, gaugeWith(t, d.reg, "sift_kafka_consumer_resumed_from_log_total", "", ""))

	// New messages are consumed, each once, and the old ones never again.
	cl.Produce(t, topic, promMessage("h1"), kafkago.Message{Value: []byte("still not json")})
	kafkatest.Eventually(t, func() bool { return cl.Committed(t, group, topic)[0] == 6 }, "committed %v", cl.Committed(t, group, topic))
	require.Equal(t, 2.0, gaugeWith(t, d.reg, "sift_kafka_consumer_messages_total", "topic", topic), "only the new messages fetched")
	after := d.alerts(t)
	require.Len(t, after.Alerts, 3)
	require.Equal(t, uint64(2), after.Alerts[indexOf(t, after, "h1")].Count)
	require.Equal(t, uint64(1), after.Alerts[indexOf(t, after, "h2")].Count)
	letters := cl.ReadAll(t, dead, 2)
	require.Equal(t, []string{"not json", "still not json"}, []string{string(letters[0].Value), string(letters[1].Value)}, "each dead letter once")
}

// TestKafkaCommitsNeverRunAheadOfTheLog checks every offset commit the
// cluster receives against the daemon's write-ahead log at that moment:
// the committed offset is at most the last offset logged plus one.
func TestKafkaCommitsNeverRunAheadOfTheLog(t *testing.T) {
	cl := fakeCluster(t)
	const partitions = 3
	topic := cl.CreateTopic(t, "alerts", partitions)
	group := kafkatest.Name(t, "group")
	var (
		log    atomic.Pointer[wal.Log]
		mu     sync.Mutex
		checks int
	)
	cl.Fake().ControlKey(int16(kmsg.OffsetCommit), func(req kmsg.Request) (kmsg.Response, error, bool) {
		cl.Fake().KeepControl()
		l := log.Load()
		if l == nil {
			return nil, nil, false
		}
		logged := wal.Offsets{}
		assert.NoError(t, l.Replay(wal.Pos{}, func(_ wal.Pos, rec []byte) error {
			if wal.RecordKind(rec) == wal.KindKafkaEvents {
				offs, _, err := wal.DecodeKafkaEvents(rec, nil)
				for tp, off := range offs {
					logged[tp] = off
				}
				return err
			}
			return nil
		}))
		mu.Lock()
		defer mu.Unlock()
		for _, tp := range req.(*kmsg.OffsetCommitRequest).Topics {
			for _, p := range tp.Partitions {
				last, ok := logged[wal.TopicPartition{Topic: tp.Topic, Partition: int(p.Partition)}]
				assert.True(t, ok, "partition %d committed, nothing logged", p.Partition)
				assert.LessOrEqual(t, p.Offset, last+1, "partition %d committed ahead of the log", p.Partition)
				checks++
			}
		}
		return nil, nil, false
	})
	cfg := consumerConfig(cl, group, topic, "10ms", "")
	d := startKafkaDaemon(t, cfg)
	log.Store(d.app.wal)
	w := cl.Writer(topic)
	defer w.Close()
	n := 0
	for round := range 20 {
		var msgs []kafkago.Message
		for i := range 10 {
			msgs = append(msgs, kafkago.Message{Key: []byte(fmt.Sprint(i)), Value: []byte("[" + promAlert("Down", fmt.Sprintf("h%d-%d", round, i)) + "]")})
		}
		require.NoError(t, w.WriteMessages(t.Context(), msgs...))
		n += len(msgs)
	}
	applied := func() float64 { return gaugeWith(t, d.reg, "sift_engine_events_applied_total", "", "") }
	kafkatest.Eventually(t, func() bool { return applied() == float64(n) }, "applied %v of %d", applied(), n)
	d.shutdown(t)
	committed := cl.Committed(t, group, topic)
	total := int64(0)
	for _, off := range committed {
		total += off
	}
	require.Equal(t, int64(n), total, "everything committed at the stop")
	mu.Lock()
	defer mu.Unlock()
	require.Positive(t, checks)
}
