package kafka

import (
	"context"
	"fmt"
	"maps"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	kafkago "github.com/segmentio/kafka-go"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/sift-itsm/sift/correlate"
	"github.com/sift-itsm/sift/ingest"
	"github.com/sift-itsm/sift/internal/kafkatest"
)

// applied records the events an engine applied, by their "seq" label (or
// their fingerprint when they have none).
type applied struct {
	mu   sync.Mutex
	seqs map[string]int
	n    int
}

func (a *applied) Consume(b *correlate.Batch) {
	a.mu.Lock()
	defer a.mu.Unlock()
	for _, e := range b.Events {
		k, ok := e.Labels.Get("seq")
		if !ok {
			k = e.Fingerprint.String()
		}
		a.seqs[k]++
		a.n++
	}
}

func (a *applied) count() int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.n
}

func (a *applied) snapshot() map[string]int {
	a.mu.Lock()
	defer a.mu.Unlock()
	m := make(map[string]int, len(a.seqs))
	for k, v := range a.seqs {
		m[k] = v
	}
	return m
}

type testEngine struct {
	*correlate.Engine
	applied *applied
}

func newEngine(t *testing.T) *testEngine {
	e := correlate.New(correlate.Options{})
	a := &applied{seqs: map[string]int{}}
	e.Subscribe(a)
	done := make(chan error, 1)
	go func() { done <- e.Run(context.Background()) }()
	t.Cleanup(func() {
		e.Close()
		require.NoError(t, <-done)
	})
	return &testEngine{Engine: e, applied: a}
}

type running struct {
	c    *Consumer
	reg  *prometheus.Registry
	stop func()
}

// start runs a consumer of group over topics until stop (or the end of
// the test), failing the test if Run fails.
func start(t *testing.T, cl *kafkatest.Cluster, e Engine, group string, topics []Topic, setup ...func(*Options)) *running {
	t.Helper()
	reg := prometheus.NewRegistry()
	o := Options{
		Brokers:           cl.Brokers,
		GroupID:           group,
		ClientID:          "sift-test",
		Topics:            topics,
		Engine:            e,
		Registerer:        reg,
		DecodeWorkers:     2,
		CommitInterval:    20 * time.Millisecond,
		HeartbeatInterval: 100 * time.Millisecond,
		SessionTimeout:    6 * time.Second,
		RebalanceTimeout:  2 * time.Second,
		MaxWait:           100 * time.Millisecond,
	}
	for _, f := range setup {
		f(&o)
	}
	c, err := New(o)
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- c.Run(ctx) }()
	var once sync.Once
	stop := func() {
		once.Do(func() {
			cancel()
			require.NoError(t, <-done)
		})
	}
	t.Cleanup(stop)
	return &running{c: c, reg: reg, stop: stop}
}

func promMsg(key string, seqs ...int) kafkago.Message {
	body := "["
	for i, s := range seqs {
		if i > 0 {
			body += ","
		}
		body += fmt.Sprintf(`{"labels":{"alertname":"Down","service":%q,"seq":"%d"},"startsAt":"2026-11-24T12:00:00Z"}`, key, s)
	}
	return kafkago.Message{Key: []byte(key), Value: []byte(body + "]")}
}

// waitApplied waits until the engine applied n events.
func waitApplied(t *testing.T, a *applied, n int) {
	t.Helper()
	kafkatest.Eventually(t, func() bool { return a.count() >= n }, "engine applied %d events, want %d", a.count(), n)
}

// waitCommitted waits until group committed the end of every partition
// of topic.
func waitCommitted(t *testing.T, cl *kafkatest.Cluster, group, topic string, ends map[int]int64) {
	t.Helper()
	var got map[int]int64
	kafkatest.Eventually(t, func() bool {
		got = cl.Committed(t, group, topic)
		for p, end := range ends {
			if got[p] != end {
				return false
			}
		}
		return true
	}, "committed %v, want %v", got, ends)
}

// ends returns the end offset of each partition of msgs.
func ends(msgs []kafkago.Message) map[int]int64 {
	m := map[int]int64{}
	for _, msg := range msgs {
		m[msg.Partition] = max(m[msg.Partition], msg.Offset+1)
	}
	return m
}

func TestConsumeAllFormats(t *testing.T) {
	cl := kafkatest.New(t)
	topics := map[ingest.Source]string{}
	var list []Topic
	for _, f := range ingest.Sources {
		topics[f] = cl.CreateTopic(t, string(f), 2)
		list = append(list, Topic{Name: topics[f], Format: f})
	}
	cl.Produce(t, topics[ingest.SourcePrometheus],
		promMsg("api", 1, 2, 3),
		kafkago.Message{Key: []byte("db"), Value: []byte(`[{"labels":{"alertname":"Down","service":"db","seq":"4"}}]`)})
	cl.Produce(t, topics[ingest.SourceAlertmanager], kafkago.Message{Value: []byte(`{"version":"4","status":"firing","receiver":"sift","groupKey":"{}:{}","alerts":[
		{"status":"firing","labels":{"alertname":"Disk","seq":"5"},"startsAt":"2026-11-24T12:00:00Z"},
		{"status":"resolved","labels":{"alertname":"Disk","seq":"6"},"startsAt":"2026-11-24T12:00:00Z","endsAt":"2026-11-24T12:05:00Z"}]}`)})
	cl.Produce(t, topics[ingest.SourcePagerDuty],
		kafkago.Message{Key: []byte("db"), Value: []byte(`{"routing_key":"r","event_action":"trigger","dedup_key":"7","payload":{"summary":"disk full","source":"db1","severity":"error"}}`)},
		// Same key, same partition: the resolve comes after the trigger.
		kafkago.Message{Key: []byte("db"), Value: []byte(`[{"routing_key":"r","event_action":"trigger","dedup_key":"8","payload":{"summary":"s","source":"db2","severity":"info"}},
			{"routing_key":"r","event_action":"resolve","dedup_key":"7"}]`)})
	cl.Produce(t, topics[ingest.SourceGeneric],
		kafkago.Message{Value: []byte(`{"labels":{"alertname":"Queue","seq":"10"},"severity":"major"}`)},
		kafkago.Message{Value: []byte(`[{"labels":{"alertname":"Queue","seq":"11"}},{"labels":{"alertname":"Queue","seq":"12"},"status":"resolved"}]`)})

	e := newEngine(t)
	group := kafkatest.Name(t, "group")
	r := start(t, cl, e, group, list)
	waitApplied(t, e.applied, 12)
	produced := map[ingest.Source]int{ingest.SourcePrometheus: 2, ingest.SourceAlertmanager: 1, ingest.SourcePagerDuty: 2, ingest.SourceGeneric: 2}
	for f, topic := range topics {
		waitCommitted(t, cl, group, topic, ends(cl.ReadAll(t, topic, produced[f])))
		require.Equal(t, float64(produced[f]), testutil.ToFloat64(r.c.m.messages.WithLabelValues(topic)), f)
	}
	got := e.applied.snapshot()
	for _, seq := range []string{"1", "2", "3", "4", "5", "6", "10", "11", "12"} {
		require.Equal(t, 1, got[seq], "seq %s", seq)
	}
	// PagerDuty events have no seq label: two for dedup_key 7, one for 8.
	fp7 := ingest.NewLabels(ingest.Label{Name: "dedup_key", Value: "7"}).Fingerprint()
	a, ok := e.Alert(fp7)
	require.True(t, ok)
	require.Equal(t, "resolved", a.Status.String())
	require.Equal(t, 12, e.applied.count())
	require.Equal(t, 4.0, testutil.ToFloat64(r.c.m.events.WithLabelValues(topics[ingest.SourcePrometheus])))
	require.Equal(t, 0.0, testutil.ToFloat64(r.c.m.decodeErrors.WithLabelValues(topics[ingest.SourceGeneric])))
	require.Positive(t, testutil.ToFloat64(r.c.m.bytes.WithLabelValues(topics[ingest.SourceGeneric])))
	require.Positive(t, testutil.CollectAndCount(r.reg, "sift_kafka_consumer_commit_duration_seconds"))
	require.Positive(t, testutil.CollectAndCount(r.reg, "sift_kafka_consumer_lag_messages"))
}

func TestPoisonMessageGoesToDeadLetterTopic(t *testing.T) {
	cl := kafkatest.New(t)
	topic := cl.CreateTopic(t, "in", 1)
	dead := cl.CreateTopic(t, "dead", 1)
	poison := kafkago.Message{Key: []byte("api"), Value: []byte(`[{"labels":{"alertname":1}}]`),
		Headers: []kafkago.Header{{Key: "trace", Value: []byte("abc")}}}
	cl.Produce(t, topic, promMsg("api", 1), poison, kafkago.Message{Key: []byte("api"), Value: []byte(`not json`)}, promMsg("api", 2))

	e := newEngine(t)
	group := kafkatest.Name(t, "group")
	r := start(t, cl, e, group, []Topic{{topic, ingest.SourcePrometheus}}, func(o *Options) { o.DeadLetterTopic = dead })
	waitApplied(t, e.applied, 2)
	waitCommitted(t, cl, group, topic, map[int]int64{0: 4})
	require.Equal(t, map[string]int{"1": 1, "2": 1}, e.applied.snapshot(), "the partition moved on past the poison")

	got := cl.ReadAll(t, dead, 2)
	require.Equal(t, poison.Key, got[0].Key)
	require.Equal(t, poison.Value, got[0].Value, "the original bytes")
	headers := map[string]string{}
	for _, h := range got[0].Headers {
		headers[h.Key] = string(h.Value)
	}
	require.Equal(t, map[string]string{
		"trace":         "abc",
		HeaderError:     `event 0: field "labels.alertname": must be a string, got number`,
		HeaderFormat:    "prometheus",
		HeaderTopic:     topic,
		HeaderPartition: "0",
		HeaderOffset:    "1",
	}, headers)
	require.Equal(t, "not json", string(got[1].Value))
	require.Equal(t, 2.0, testutil.ToFloat64(r.c.m.decodeErrors.WithLabelValues(topic)))
	require.Equal(t, 2.0, testutil.ToFloat64(r.c.m.deadLetters.WithLabelValues(topic)))
}

func TestPoisonWithoutDeadLetterTopicIsSkipped(t *testing.T) {
	cl := kafkatest.New(t)
	topic := cl.CreateTopic(t, "in", 1)
	cl.Produce(t, topic, kafkago.Message{Value: []byte(`{}`)}, kafkago.Message{Value: []byte(`{"labels":{"seq":"1"}}`)})
	e := newEngine(t)
	group := kafkatest.Name(t, "group")
	r := start(t, cl, e, group, []Topic{{topic, ingest.SourceGeneric}})
	waitApplied(t, e.applied, 1)
	waitCommitted(t, cl, group, topic, map[int]int64{0: 2})
	require.Equal(t, 1.0, testutil.ToFloat64(r.c.m.decodeErrors.WithLabelValues(topic)))
	require.Equal(t, 0.0, testutil.ToFloat64(r.c.m.deadLetters.WithLabelValues(topic)))
}

// seqMessages makes n messages of per events each, numbered from first,
// keyed over keys services.
func seqMessages(first, n, per, keys int) []kafkago.Message {
	msgs := make([]kafkago.Message, n)
	seq := first
	for i := range msgs {
		seqs := make([]int, per)
		for j := range seqs {
			seqs[j] = seq
			seq++
		}
		msgs[i] = promMsg("svc"+strconv.Itoa(i%keys), seqs...)
	}
	return msgs
}

func requireExactlyOnce(t *testing.T, got map[string]int, first, n int) {
	t.Helper()
	for s := first; s < first+n; s++ {
		require.Equal(t, 1, got[strconv.Itoa(s)], "seq %d", s)
	}
}

func TestRestartResumesFromCommittedOffsets(t *testing.T) {
	cl := kafkatest.New(t)
	topic := cl.CreateTopic(t, "in", 3)
	topics := []Topic{{topic, ingest.SourcePrometheus}}
	group := kafkatest.Name(t, "group")
	e := newEngine(t)

	cl.Produce(t, topic, seqMessages(0, 60, 5, 7)...)
	r := start(t, cl, e, group, topics)
	waitApplied(t, e.applied, 300)
	r.stop()
	require.Equal(t, ends(cl.ReadAll(t, topic, 60)), cl.Committed(t, group, topic), "a clean stop commits everything applied")

	cl.Produce(t, topic, seqMessages(300, 40, 5, 7)...)
	r = start(t, cl, e, group, topics)
	waitApplied(t, e.applied, 500)
	r.stop()
	require.Equal(t, 500, e.applied.count(), "no event applied twice")
	requireExactlyOnce(t, e.applied.snapshot(), 0, 500)
	require.Equal(t, ends(cl.ReadAll(t, topic, 100)), cl.Committed(t, group, topic))
}

func TestRebalanceLosesNothing(t *testing.T) {
	cl := kafkatest.New(t)
	topic := cl.CreateTopic(t, "in", 4)
	topics := []Topic{{topic, ingest.SourcePrometheus}}
	group := kafkatest.Name(t, "group")
	e1, e2 := newEngine(t), newEngine(t)

	cl.Produce(t, topic, seqMessages(0, 100, 2, 16)...)
	r1 := start(t, cl, e1, group, topics)
	waitApplied(t, e1.applied, 200)
	// A second member joins: the group rebalances while messages flow.
	r2 := start(t, cl, e2, group, topics)
	w := cl.Writer(topic)
	defer w.Close()
	for i := range 20 {
		require.NoError(t, w.WriteMessages(context.Background(), seqMessages(200+i*20, 10, 2, 16)...))
	}
	total := func() map[string]int {
		m := e1.applied.snapshot()
		for k, v := range e2.applied.snapshot() {
			m[k] += v
		}
		return m
	}
	kafkatest.Eventually(t, func() bool { return len(total()) == 600 }, "events seen: %d of 600", len(total()))
	// Both members own partitions once the rebalance is done: new
	// messages on every partition reach one or the other.
	written := 100 + 200
	kafkatest.Eventually(t, func() bool {
		require.NoError(t, w.WriteMessages(context.Background(), seqMessages(1000, 16, 1, 16)...))
		written += 16
		return e2.applied.count() > 0 && e1.applied.count() > 200
	}, "the second member got no partition")
	// The members commit what they applied as they go: wait for the last
	// writes to be consumed before stopping them.
	end := ends(cl.ReadAll(t, topic, written))
	kafkatest.Eventually(t, func() bool { return maps.Equal(end, cl.Committed(t, group, topic)) },
		"committed %v, ends %v", cl.Committed(t, group, topic), end)
	r1.stop()
	r2.stop()
	got := total()
	for s := range 600 {
		require.GreaterOrEqual(t, got[strconv.Itoa(s)], 1, "seq %d lost", s)
	}
	// Stopping does not move commits back: a third start reads nothing
	// again.
	require.Equal(t, end, cl.Committed(t, group, topic))
}

// fullEngine refuses the first `full` submissions, as an engine with a
// full queue does.
type fullEngine struct {
	full      int
	submitted [][]ingest.Event
}

func (f *fullEngine) Submit(ev []ingest.Event) error {
	if f.full > 0 {
		f.full--
		return ingest.ErrQueueFull
	}
	f.submitted = append(f.submitted, ev)
	return nil
}

func (f *fullEngine) Flush(context.Context) error { return nil }

type queueEngine struct {
	fullEngine
	capacity int
	lengths  []int // QueueLength answers, one per call, then 0
}

func (q *queueEngine) QueueCapacity() int { return q.capacity }
func (q *queueEngine) QueueLength() int {
	if len(q.lengths) == 0 {
		return 0
	}
	n := q.lengths[0]
	q.lengths = q.lengths[1:]
	return n
}

func testConsumer(t *testing.T, e Engine) (*Consumer, *[]time.Duration) {
	c, err := New(Options{Brokers: []string{"127.0.0.1:1"}, GroupID: "g", Topics: []Topic{{"t", ingest.SourceGeneric}}, Engine: e})
	require.NoError(t, err)
	var slept []time.Duration
	c.sleep = func(_ context.Context, d time.Duration) error {
		slept = append(slept, d)
		return nil
	}
	return c, &slept
}

func TestSubmitRetriesAFullQueueWithBackoff(t *testing.T) {
	e := &fullEngine{full: 8}
	c, slept := testConsumer(t, e)
	events := make([]ingest.Event, 3)
	require.NoError(t, c.submit(context.Background(), events, nil))
	require.Equal(t, [][]ingest.Event{events}, e.submitted, "taken whole, once")
	require.Equal(t, []time.Duration{1, 2, 4, 8, 16, 32, 50, 50}, scale(*slept, time.Millisecond))
	require.Equal(t, 8.0, testutil.ToFloat64(c.m.submitRetries))
}

func TestSubmitWaitsForRoomAndSplitsOversizedBatches(t *testing.T) {
	e := &queueEngine{capacity: 4, lengths: []int{3, 2, 0}}
	c, slept := testConsumer(t, e)
	events := make([]ingest.Event, 10)
	require.NoError(t, c.submit(context.Background(), events, nil))
	// 3+4 and 2+4 do not fit a queue of 4: two waits, no refused Submit.
	require.Equal(t, []time.Duration{1, 2}, scale(*slept, time.Millisecond))
	require.Equal(t, [][]ingest.Event{events[:4], events[4:8], events[8:]}, e.submitted)
}

func TestSubmitGivesUpWhenStopped(t *testing.T) {
	e := &fullEngine{full: 1 << 30}
	c, _ := testConsumer(t, e)
	ctx, cancel := context.WithCancel(context.Background())
	c.sleep = func(ctx context.Context, _ time.Duration) error {
		cancel()
		return ctx.Err()
	}
	require.ErrorIs(t, c.submit(ctx, make([]ingest.Event, 1), nil), context.Canceled)
	require.Empty(t, e.submitted)
}

func scale(ds []time.Duration, unit time.Duration) []time.Duration {
	out := make([]time.Duration, len(ds))
	for i, d := range ds {
		out[i] = d / unit
	}
	return out
}

func TestNewRejectsBadOptions(t *testing.T) {
	good := Options{Brokers: []string{"k:9092"}, GroupID: "g", Topics: []Topic{{"t", ingest.SourceGeneric}}, Engine: &fullEngine{}}
	f := func(mod func(*Options), want string) {
		t.Helper()
		o := good
		mod(&o)
		_, err := New(o)
		require.EqualError(t, err, want)
	}
	f(func(o *Options) { o.Brokers = nil }, "no brokers")
	f(func(o *Options) { o.GroupID = "" }, "no group id")
	f(func(o *Options) { o.Topics = nil }, "no topics")
	f(func(o *Options) { o.Engine = nil }, "no engine")
	f(func(o *Options) { o.Topics = []Topic{{"t", "json"}} }, `topic "t": unknown format "json"`)
	f(func(o *Options) { o.Topics = []Topic{{"t", "generic"}, {"t", "prometheus"}} }, `topic "t" is listed twice`)
}

// memLog is a Log in memory in front of an engine: it records what it
// logged and, with before set, runs it before logging each record.
type memLog struct {
	mu      sync.Mutex
	e       Engine
	last    map[partition]int64
	records [][]Offset
	parts   [][]ingest.Event
	before  func(last []Offset)
}

func newMemLog(e Engine) *memLog { return &memLog{e: e, last: map[partition]int64{}} }

func (l *memLog) SubmitLogged(evs []ingest.Event, last []Offset) error {
	if l.before != nil {
		l.before(last)
	}
	l.mu.Lock()
	l.records = append(l.records, last)
	l.parts = append(l.parts, evs)
	for _, o := range last {
		l.last[partition{o.Topic, o.Partition}] = o.Offset
	}
	l.mu.Unlock()
	if len(evs) == 0 {
		return nil
	}
	return l.e.Submit(evs)
}

func (l *memLog) LastLogged(topic string, p int) (int64, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	off, ok := l.last[partition{topic, p}]
	return off, ok
}

func (l *memLog) lastOf(topic string, p int) int64 {
	off, ok := l.LastLogged(topic, p)
	if !ok {
		return -1
	}
	return off
}

func TestSubmitLoggedSplitsWithTheOffsetsOnTheLastPart(t *testing.T) {
	e := &queueEngine{capacity: 4}
	c, _ := testConsumer(t, e)
	log := newMemLog(e)
	c.o.Log = log
	events := make([]ingest.Event, 10)
	last := []Offset{{"t", 0, 7}, {"t", 1, 3}}
	require.NoError(t, c.submit(context.Background(), events, last))
	require.Equal(t, [][]Offset{nil, nil, last}, log.records)
	require.Equal(t, [][]ingest.Event{events[:4], events[4:8], events[8:]}, log.parts)

	// Dead letters only: the offsets are logged alone.
	require.NoError(t, c.submit(context.Background(), nil, []Offset{{"t", 0, 8}}))
	require.Equal(t, []Offset{{"t", 0, 8}}, log.records[3])
	require.Empty(t, log.parts[3])
	require.Len(t, e.submitted, 3, "nothing for the engine")
}

// TestCommitsFollowTheLog: with a Log, a batch's offsets are committed
// only once the log holds it. The Log commits (as the commit loop could
// at any moment) just before it logs each batch: the group's offsets
// are then never past what was logged.
func TestCommitsFollowTheLog(t *testing.T) {
	cl := kafkatest.New(t)
	topic := cl.CreateTopic(t, "in", 2)
	group := kafkatest.Name(t, "group")
	e := newEngine(t)
	log := newMemLog(e)
	msgs := seqMessages(0, 40, 2, 5)
	// Half now, half once it is applied: the second half is logged after
	// the first was committed, whatever the fetches' sizes.
	cl.Produce(t, topic, msgs[:20]...)
	var (
		c      *Consumer
		ready  = make(chan struct{})
		checks int
	)
	log.before = func(last []Offset) {
		<-ready
		if len(last) == 0 {
			return
		}
		assert.NoError(t, c.Commit(context.Background()))
		for p, off := range cl.Committed(t, group, topic) {
			assert.LessOrEqual(t, off, log.lastOf(topic, p)+1, "partition %d committed ahead of the log", p)
			checks++
		}
	}
	r := start(t, cl, e, group, []Topic{{topic, ingest.SourcePrometheus}}, func(o *Options) {
		o.Log = log
		o.CommitInterval = time.Hour // only the commits above, and the last
	})
	c = r.c
	close(ready)
	waitApplied(t, e.applied, 40)
	cl.Produce(t, topic, msgs[20:]...)
	waitApplied(t, e.applied, 80)
	r.stop()
	require.Equal(t, ends(cl.ReadAll(t, topic, 40)), cl.Committed(t, group, topic), "a clean stop commits what was logged")
	require.Positive(t, checks)
	requireExactlyOnce(t, e.applied.snapshot(), 0, 80)
	require.Zero(t, testutil.ToFloat64(r.c.m.resumedFromLog))
}

// TestResumesAfterTheLoggedOffsets: messages logged before a stop whose
// offsets were not committed are not consumed again: the partition
// resumes after the log's last offset, and commits it. A log behind the
// committed offset changes nothing.
func TestResumesAfterTheLoggedOffsets(t *testing.T) {
	cl := kafkatest.New(t)
	topic := cl.CreateTopic(t, "in", 1)
	topics := []Topic{{topic, ingest.SourcePrometheus}}
	group := kafkatest.Name(t, "group")
	e := newEngine(t)
	log := newMemLog(e)
	cl.Produce(t, topic, seqMessages(0, 30, 1, 1)...)
	log.last[partition{topic, 0}] = 19 // seqs 0 to 19: logged, not committed

	r := start(t, cl, e, group, topics, func(o *Options) { o.Log = log })
	waitApplied(t, e.applied, 10)
	waitCommitted(t, cl, group, topic, map[int]int64{0: 30})
	r.stop()
	require.Equal(t, 10, e.applied.count())
	requireExactlyOnce(t, e.applied.snapshot(), 20, 10)
	require.Equal(t, 1.0, testutil.ToFloat64(r.c.m.resumedFromLog))

	log.last[partition{topic, 0}] = 5 // an older log: the commit wins
	cl.Produce(t, topic, seqMessages(30, 5, 1, 1)...)
	r = start(t, cl, e, group, topics, func(o *Options) { o.Log = log })
	waitApplied(t, e.applied, 15)
	waitCommitted(t, cl, group, topic, map[int]int64{0: 35})
	r.stop()
	require.Equal(t, 15, e.applied.count())
	requireExactlyOnce(t, e.applied.snapshot(), 20, 15)
	require.Zero(t, testutil.ToFloat64(r.c.m.resumedFromLog))
}
