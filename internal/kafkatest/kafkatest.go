package kafkatest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"os"
	"regexp"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	kafkago "github.com/segmentio/kafka-go"
	"github.com/twmb/franz-go/pkg/kfake"
)

// Timeout bounds every broker round trip and wait of this package.
const Timeout = 20 * time.Second

// Cluster is a running Kafka cluster.
type Cluster struct {
	Brokers []string
	fake    *kfake.Cluster
	client  *kafkago.Client
}

// New returns the brokers of SIFT_KAFKA_BROKERS, or starts a one-broker
// kfake cluster (with opts) closed at the end of the test.
func New(t testing.TB, opts ...kfake.Opt) *Cluster {
	t.Helper()
	c := &Cluster{}
	if env := os.Getenv("SIFT_KAFKA_BROKERS"); env != "" {
		c.Brokers = strings.Split(env, ",")
	} else {
		f, err := kfake.NewCluster(append([]kfake.Opt{kfake.NumBrokers(1)}, opts...)...)
		if err != nil {
			t.Fatalf("starting kfake: %v", err)
		}
		t.Cleanup(f.Close)
		c.fake = f
		c.Brokers = f.ListenAddrs()
	}
	c.client = &kafkago.Client{Addr: kafkago.TCP(c.Brokers...), Timeout: Timeout}
	return c
}

// Fake is the kfake cluster, nil against real brokers.
func (c *Cluster) Fake() *kfake.Cluster { return c.fake }

var unsafeName = regexp.MustCompile(`[^a-zA-Z0-9._-]+`)

// Name returns a topic or group name unique to this test and call.
func Name(t testing.TB, what string) string {
	var b [4]byte
	_, _ = rand.Read(b[:])
	n := unsafeName.ReplaceAllString(t.Name(), "_")
	if len(n) > 100 {
		n = n[:100]
	}
	return "sift-test." + n + "." + what + "." + hex.EncodeToString(b[:])
}

// CreateTopic creates a topic with a unique name made of what and returns
// the name.
func (c *Cluster) CreateTopic(t testing.TB, what string, partitions int) string {
	t.Helper()
	name := Name(t, what)
	ctx, cancel := context.WithTimeout(context.Background(), Timeout)
	defer cancel()
	resp, err := c.client.CreateTopics(ctx, &kafkago.CreateTopicsRequest{
		Topics: []kafkago.TopicConfig{{Topic: name, NumPartitions: partitions, ReplicationFactor: 1}},
	})
	if err == nil {
		err = resp.Errors[name]
	}
	if err != nil {
		t.Fatalf("creating topic %q: %v", name, err)
	}
	return name
}

// Writer returns a synchronous writer to topic that partitions by key
// (kafka-go's Hash, as Java clients' murmur2 would also keep one key on one
// partition).
func (c *Cluster) Writer(topic string) *kafkago.Writer {
	return &kafkago.Writer{
		Addr:         kafkago.TCP(c.Brokers...),
		Topic:        topic,
		Balancer:     &kafkago.Hash{},
		RequiredAcks: kafkago.RequireAll,
		BatchTimeout: time.Millisecond,
		BatchSize:    10000,
		BatchBytes:   64 << 20,
	}
}

// Produce writes msgs to topic, in order, and waits for the acks.
func (c *Cluster) Produce(t testing.TB, topic string, msgs ...kafkago.Message) {
	t.Helper()
	w := c.Writer(topic)
	defer w.Close()
	ctx, cancel := context.WithTimeout(context.Background(), Timeout)
	defer cancel()
	if err := w.WriteMessages(ctx, msgs...); err != nil {
		t.Fatalf("producing to %q: %v", topic, err)
	}
}

// Partitions returns the partition ids of topic.
func (c *Cluster) Partitions(t testing.TB, topic string) []int {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), Timeout)
	defer cancel()
	md, err := c.client.Metadata(ctx, &kafkago.MetadataRequest{Topics: []string{topic}})
	if err != nil || len(md.Topics) != 1 || md.Topics[0].Error != nil {
		t.Fatalf("metadata of %q: %v %+v", topic, err, md)
	}
	var ids []int
	for _, p := range md.Topics[0].Partitions {
		ids = append(ids, p.ID)
	}
	sort.Ints(ids)
	return ids
}

// ReadAll reads topic from the start, every partition, until it has n
// messages or Timeout passes (then the test fails). Messages come sorted by
// partition, then offset.
func (c *Cluster) ReadAll(t testing.TB, topic string, n int) []kafkago.Message {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), Timeout)
	defer cancel()
	var (
		mu  sync.Mutex
		got []kafkago.Message
		wg  sync.WaitGroup
	)
	for _, p := range c.Partitions(t, topic) {
		wg.Go(func() {
			r := kafkago.NewReader(kafkago.ReaderConfig{Brokers: c.Brokers, Topic: topic, Partition: p, MaxWait: 50 * time.Millisecond})
			defer r.Close()
			for {
				m, err := r.ReadMessage(ctx)
				if err != nil {
					return
				}
				mu.Lock()
				got = append(got, m)
				if len(got) >= n {
					cancel()
				}
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if len(got) < n {
		t.Fatalf("reading %q: got %d messages in %s, want %d", topic, len(got), Timeout, n)
	}
	sort.Slice(got, func(i, j int) bool {
		if got[i].Partition != got[j].Partition {
			return got[i].Partition < got[j].Partition
		}
		return got[i].Offset < got[j].Offset
	})
	return got
}

// Committed returns the offsets group committed on topic, by partition;
// partitions without a commit are absent.
func (c *Cluster) Committed(t testing.TB, group, topic string) map[int]int64 {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), Timeout)
	defer cancel()
	resp, err := c.client.OffsetFetch(ctx, &kafkago.OffsetFetchRequest{GroupID: group, Topics: map[string][]int{topic: c.Partitions(t, topic)}})
	if err == nil {
		err = resp.Error
	}
	if err != nil {
		t.Fatalf("fetching offsets of group %q: %v", group, err)
	}
	out := map[int]int64{}
	for _, p := range resp.Topics[topic] {
		if p.CommittedOffset >= 0 {
			out[p.Partition] = p.CommittedOffset
		}
	}
	return out
}

// Eventually polls cond every 5ms until it holds, failing the test with
// msg after Timeout. For broker IO only: in-process logic is synchronised,
// not polled.
func Eventually(t testing.TB, cond func() bool, msg string, args ...any) {
	t.Helper()
	deadline := time.Now().Add(Timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("after %s: "+msg, append([]any{Timeout}, args...)...)
		}
		time.Sleep(5 * time.Millisecond)
	}
}
