package app

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"reflect"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	kafkago "github.com/segmentio/kafka-go"
	"github.com/segmentio/kafka-go/sasl"
	"github.com/segmentio/kafka-go/sasl/plain"
	"github.com/segmentio/kafka-go/sasl/scram"

	"github.com/sift-itsm/sift/config"
	"github.com/sift-itsm/sift/correlate"
	"github.com/sift-itsm/sift/ingest"
	ingestkafka "github.com/sift-itsm/sift/ingest/kafka"
	"github.com/sift-itsm/sift/internal/wal"
	notifykafka "github.com/sift-itsm/sift/notify/kafka"
)

// kafkaParts are the Kafka source and output, each nil when off. Their
// configuration is fixed at start: a reload that changes it warns that a
// restart is needed.
type kafkaParts struct {
	logger    *slog.Logger
	source    config.KafkaSourceConfig
	output    config.KafkaOutputConfig
	consumer  *ingestkafka.Consumer
	publisher *notifykafka.Publisher

	stopConsumer  context.CancelFunc
	consumerDone  chan error
	failed        chan error // the consumer stopped on its own
	stopPublisher context.CancelFunc
	cancelDrain   context.CancelFunc
	publisherDone chan error
}

func newKafka(cfg *config.Config, o *Options, reg prometheus.Registerer, engine *correlate.Engine, durable func() uint64) (*kafkaParts, error) {
	k := &kafkaParts{logger: o.Logger.With("component", "kafka"), source: cfg.Ingest.Kafka, output: cfg.Output.Kafka}
	if s := &cfg.Ingest.Kafka; s.Enabled() {
		dialer := &kafkago.Dialer{Timeout: 10 * time.Second, DualStack: true}
		var err error
		if dialer.TLS, dialer.SASLMechanism, err = kafkaSecurity(&s.TLS, &s.SASL); err != nil {
			return nil, fmt.Errorf("ingest.kafka: %w", err)
		}
		var topics []ingestkafka.Topic
		for _, t := range s.Topics {
			topics = append(topics, ingestkafka.Topic{Name: t.Name, Format: ingest.Source(t.Format)})
		}
		co := ingestkafka.Options{
			Brokers:         s.Brokers,
			GroupID:         s.GroupID,
			ClientID:        s.ClientID,
			Topics:          topics,
			DeadLetterTopic: s.DeadLetterTopic,
			Dialer:          dialer,
			Transport:       &kafkago.Transport{TLS: dialer.TLS, SASL: dialer.SASLMechanism, ClientID: s.ClientID},
			Engine:          engine,
			Logger:          k.logger.With("part", "consumer"),
			Registerer:      reg,
			Now:             o.Now,
			DecodeWorkers:   s.DecodeWorkers,
			CommitInterval:  s.CommitInterval.Std(),
			StopTimeout:     o.ShutdownTimeout,
		}
		if o.kafkaConsumer != nil {
			o.kafkaConsumer(&co)
		}
		if k.consumer, err = ingestkafka.New(co); err != nil {
			return nil, fmt.Errorf("ingest.kafka: %w", err)
		}
	}
	if out := &cfg.Output.Kafka; out.Enabled() {
		tlsc, mech, err := kafkaSecurity(&out.TLS, &out.SASL)
		if err != nil {
			return nil, fmt.Errorf("output.kafka: %w", err)
		}
		k.publisher, err = notifykafka.New(notifykafka.Options{
			Brokers:       out.Brokers,
			Topic:         out.Topic,
			Changes:       out.Changes,
			QueueCapacity: out.QueueCapacity,
			Transport:     &kafkago.Transport{TLS: tlsc, SASL: mech, ClientID: out.ClientID},
			Durable:       durable,
			Logger:        k.logger.With("part", "output"),
			Registerer:    reg,
		})
		if err != nil {
			return nil, fmt.Errorf("output.kafka: %w", err)
		}
		engine.Subscribe(k.publisher)
	}
	return k, nil
}

// useLog makes the consumer's events durable: logged, with their
// offsets, before the offsets are committed.
func (k *kafkaParts) useLog(s *wal.Submitter) {
	if k.consumer != nil {
		k.consumer.SetLog(kafkaLog{s})
	}
}

// kafkaLog is the write-ahead log's Submitter as the consumer's Log.
type kafkaLog struct{ s *wal.Submitter }

func (k kafkaLog) SubmitLogged(events []ingest.Event, last []ingestkafka.Offset) error {
	offsets := make(wal.Offsets, len(last))
	for _, o := range last {
		offsets[wal.TopicPartition{Topic: o.Topic, Partition: o.Partition}] = o.Offset
	}
	return k.s.SubmitOffsets(events, offsets)
}

func (k kafkaLog) LastLogged(topic string, partition int) (int64, bool) {
	return k.s.LastOffset(topic, partition)
}

// kafkaSecurity builds the TLS config and SASL mechanism; nil for off.
func kafkaSecurity(t *config.TLSConfig, s *config.KafkaSASL) (*tls.Config, sasl.Mechanism, error) {
	var tc *tls.Config
	if t.Enabled {
		var err error
		if tc, err = clientTLS(t, os.ReadFile); err != nil {
			return nil, nil, fmt.Errorf("tls.%w", err)
		}
	}
	if s.Mechanism == "" {
		return tc, nil, nil
	}
	password, err := config.ReadSecret("sasl.password", s.Password, s.PasswordFile, os.ReadFile)
	if err != nil {
		return nil, nil, err
	}
	switch s.Mechanism {
	case "PLAIN":
		return tc, plain.Mechanism{Username: s.Username, Password: password}, nil
	case "SCRAM-SHA-256", "SCRAM-SHA-512":
		algo := scram.SHA256
		if s.Mechanism == "SCRAM-SHA-512" {
			algo = scram.SHA512
		}
		m, err := scram.Mechanism(algo, s.Username, password)
		if err != nil {
			return nil, nil, fmt.Errorf("sasl: %w", err)
		}
		return tc, m, nil
	}
	return nil, nil, fmt.Errorf("sasl.mechanism: unknown %q", s.Mechanism)
}

// start runs the consumer and the publisher. The engine must be running.
func (k *kafkaParts) start() {
	k.failed = make(chan error, 1)
	if k.consumer != nil {
		ctx, cancel := context.WithCancel(context.Background())
		k.stopConsumer, k.consumerDone = cancel, make(chan error, 1)
		go func() {
			err := k.consumer.Run(ctx)
			if ctx.Err() == nil {
				// Stopped on its own: make Run shut the daemon down.
				if err == nil {
					err = errors.New("no error")
				}
				k.failed <- fmt.Errorf("kafka consumer stopped unexpectedly: %w", err)
			}
			k.consumerDone <- err
		}()
	}
	if k.publisher != nil {
		ctx, cancel := context.WithCancel(context.Background())
		drain, cancelDrain := context.WithCancel(context.Background())
		k.stopPublisher, k.cancelDrain, k.publisherDone = cancel, cancelDrain, make(chan error, 1)
		go func() { k.publisherDone <- k.publisher.Run(ctx, drain) }()
	}
}

// stopIntake stops consuming: what was fetched is applied (or logged)
// and committed.
func (k *kafkaParts) stopIntake() error {
	if k.consumer == nil {
		return nil
	}
	k.logger.Info("shutting down: stopping the kafka consumer")
	k.stopConsumer()
	return <-k.consumerDone
}

// stopOutput publishes what is queued, until ctx is done, then closes.
func (k *kafkaParts) stopOutput(ctx context.Context) error {
	if k.publisher == nil {
		return nil
	}
	k.logger.Info("shutting down: publishing the kafka output queue")
	k.stopPublisher()
	defer context.AfterFunc(ctx, k.cancelDrain)()
	err := <-k.publisherDone
	k.cancelDrain()
	return err
}

// warnReload says which Kafka keys a reload does not apply.
func (k *kafkaParts) warnReload(cfg *config.Config) {
	if !reflect.DeepEqual(cfg.Ingest.Kafka, k.source) {
		k.logger.Warn("ingest.kafka changes only at restart")
	}
	if !reflect.DeepEqual(cfg.Output.Kafka, k.output) {
		k.logger.Warn("output.kafka changes only at restart")
	}
}
