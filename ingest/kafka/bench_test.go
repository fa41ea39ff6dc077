package kafka

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	kafkago "github.com/segmentio/kafka-go"
	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kfake"

	"github.com/sift-itsm/sift/correlate"
	"github.com/sift-itsm/sift/ingest"
	"github.com/sift-itsm/sift/internal/kafkatest"
)

// TestKfakeServer is not a test: with SIFT_KFAKE_SERVE=1 it runs a kfake
// broker, prints its address and serves until stdin closes. The benchmark
// runs it as a separate process so that the broker's CPU is not the
// benchmark's.
func TestKfakeServer(t *testing.T) {
	if os.Getenv("SIFT_KFAKE_SERVE") != "1" {
		t.Skip("a helper process for BenchmarkConsume")
	}
	c, err := kfake.NewCluster(kfake.NumBrokers(1))
	require.NoError(t, err)
	defer c.Close()
	fmt.Println("kfake", c.ListenAddrs()[0])
	_, _ = bufio.NewReader(os.Stdin).ReadString('\n')
}

// externalCluster returns SIFT_KAFKA_BROKERS, or a kfake broker in a
// child process.
func externalCluster(b *testing.B) *kafkatest.Cluster {
	if os.Getenv("SIFT_KAFKA_BROKERS") != "" {
		return kafkatest.New(b)
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestKfakeServer$", "-test.v")
	cmd.Env = append(os.Environ(), "SIFT_KFAKE_SERVE=1")
	stdin, err := cmd.StdinPipe()
	require.NoError(b, err)
	out, err := cmd.StdoutPipe()
	require.NoError(b, err)
	require.NoError(b, cmd.Start())
	b.Cleanup(func() {
		_ = stdin.Close()
		_ = cmd.Wait()
	})
	sc := bufio.NewScanner(out)
	for sc.Scan() {
		if addr, ok := strings.CutPrefix(sc.Text(), "kfake "); ok {
			go func() {
				for sc.Scan() {
				}
			}()
			b.Setenv("SIFT_KAFKA_BROKERS", addr)
			return kafkatest.New(b)
		}
	}
	b.Fatal("kfake child printed no address")
	return nil
}

type countingSink struct {
	n      atomic.Int64
	target int64
	done   chan struct{}
}

func (s *countingSink) Consume(b *correlate.Batch) {
	if s.n.Add(int64(len(b.Events))) >= s.target && s.done != nil {
		close(s.done)
		s.done = nil
	}
}

// BenchmarkConsume measures consume -> decode -> engine: a topic of
// small Prometheus-style alerts (10,000 distinct, repeated, as Prometheus
// resends), consumed from the start by a new group until the engine has
// applied every event. One iteration is the whole topic; run it with
// -benchtime=1x -count=N and take the median of events/s.
func BenchmarkConsume(b *testing.B) {
	for _, c := range []struct {
		name          string
		messages, per int
	}{
		{"batch100", 4000, 100},
		{"single", 100000, 1},
	} {
		b.Run(c.name, func(b *testing.B) {
			cl := externalCluster(b)
			topic := cl.CreateTopic(b, "bench", 4)
			produceBench(b, cl, topic, c.messages, c.per)
			total := int64(c.messages * c.per)
			b.ResetTimer()
			for range b.N {
				runtime.GC() // not the producer's garbage
				e := correlate.New(correlate.Options{})
				sink := &countingSink{target: total, done: make(chan struct{})}
				done := sink.done
				e.Subscribe(sink)
				go func() { _ = e.Run(context.Background()) }()
				con, err := New(Options{Brokers: cl.Brokers, GroupID: kafkatest.Name(b, "group"), Topics: []Topic{{topic, ingest.SourcePrometheus}}, Engine: e,
					HeartbeatInterval: 100 * time.Millisecond, SessionTimeout: 6 * time.Second, RebalanceTimeout: 2 * time.Second, MaxWait: 100 * time.Millisecond})
				require.NoError(b, err)
				ctx, cancel := context.WithCancel(context.Background())
				runErr := make(chan error, 1)
				start := time.Now()
				go func() { runErr <- con.Run(ctx) }()
				select {
				case <-done:
				case <-time.After(5 * time.Minute):
					b.Fatalf("applied %d of %d events", sink.n.Load(), total)
				}
				took := time.Since(start)
				b.StopTimer()
				cancel()
				require.NoError(b, <-runErr)
				e.Close()
				<-e.Done()
				b.ReportMetric(float64(total)/took.Seconds(), "events/s")
				b.ReportMetric(float64(c.messages)/took.Seconds(), "msgs/s")
				b.StartTimer()
			}
		})
	}
}

func produceBench(b *testing.B, cl *kafkatest.Cluster, topic string, messages, per int) {
	w := cl.Writer(topic)
	defer w.Close()
	w.Async = false
	// One write stays under the broker's 1 MB record-batch limit (an
	// event is about 200 bytes).
	msgs := make([]kafkago.Message, 0, max(1, min(1000, 4000/per)))
	alert := 0
	for i := range messages {
		var sb strings.Builder
		sb.WriteByte('[')
		for j := range per {
			if j > 0 {
				sb.WriteByte(',')
			}
			fmt.Fprintf(&sb, `{"labels":{"alertname":"HighLatency","service":"svc%d","instance":"10.0.%d.%d:9100","severity":"warning"},"annotations":{"summary":"p99 above 500ms"},"startsAt":"2026-11-24T12:00:00Z"}`,
				alert%50, alert%10000/200, alert%200)
			alert++
		}
		sb.WriteByte(']')
		msgs = append(msgs, kafkago.Message{Key: []byte(fmt.Sprint("svc", i%50)), Value: []byte(sb.String())})
		if len(msgs) == cap(msgs) || i == messages-1 {
			require.NoError(b, w.WriteMessages(context.Background(), msgs...))
			msgs = msgs[:0]
		}
	}
}
