package config

import (
	"fmt"
	"net"
	"slices"
	"time"
)

// KafkaFormats are the wire formats a Kafka topic may carry: the four the
// HTTP receivers speak (ITSM.md).
var KafkaFormats = []string{"prometheus", "alertmanager", "pagerduty", "generic"}

// KafkaChangeNames are the engine changes output.kafka can publish, as
// "<type>.<kind>".
var KafkaChangeNames = []string{"alert.opened", "alert.updated", "alert.resolved", "alert.expired", "incident.opened", "incident.updated", "problem.opened", "problem.updated"}

// SASL mechanisms a Kafka client may use.
var kafkaSASLMechanisms = []string{"PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"}

// KafkaSourceConfig is ingest.kafka: a consumer group over topics of
// events. Kafka intake is off while Brokers is empty. Every key needs a
// restart to change.
type KafkaSourceConfig struct {
	Brokers  []string     `yaml:"brokers"`
	GroupID  string       `yaml:"group_id"`
	ClientID string       `yaml:"client_id"`
	Topics   []KafkaTopic `yaml:"topics"`
	// DeadLetterTopic receives the messages that fail to decode; without
	// it they are counted, logged and skipped.
	DeadLetterTopic string `yaml:"dead_letter_topic"`
	// DecodeWorkers decode messages in parallel; 0 means one per CPU.
	DecodeWorkers int `yaml:"decode_workers"`
	// CommitInterval is how often offsets of applied events are committed.
	CommitInterval Duration  `yaml:"commit_interval"`
	TLS            KafkaTLS  `yaml:"tls"`
	SASL           KafkaSASL `yaml:"sasl"`
}

// Enabled says whether Kafka intake is configured.
func (k *KafkaSourceConfig) Enabled() bool { return len(k.Brokers) > 0 }

// KafkaTopic is one consumed topic and the wire format of its messages.
type KafkaTopic struct {
	Name string `yaml:"name"`
	// Format is one of KafkaFormats; generic when omitted.
	Format string `yaml:"format"`
}

// kafkaDefaults fills in what a list item cannot take from Default: a
// topic's format. (A custom UnmarshalYAML would lose strict decoding.)
func (c *Config) kafkaDefaults() {
	for i := range c.Ingest.Kafka.Topics {
		if c.Ingest.Kafka.Topics[i].Format == "" {
			c.Ingest.Kafka.Topics[i].Format = "generic"
		}
	}
}

// KafkaOutputConfig is output.kafka: engine changes published to a topic.
// Off while Brokers is empty. Every key needs a restart to change.
type KafkaOutputConfig struct {
	Brokers  []string `yaml:"brokers"`
	ClientID string   `yaml:"client_id"`
	Topic    string   `yaml:"topic"`
	// Changes lists the change names (KafkaChangeNames) published.
	Changes []string `yaml:"changes"`
	// QueueCapacity bounds the changes waiting to be published; more are
	// dropped and counted rather than slow the engine.
	QueueCapacity int       `yaml:"queue_capacity"`
	TLS           KafkaTLS  `yaml:"tls"`
	SASL          KafkaSASL `yaml:"sasl"`
}

// Enabled says whether Kafka output is configured.
func (k *KafkaOutputConfig) Enabled() bool { return len(k.Brokers) > 0 }

// KafkaTLS configures TLS to the brokers: the TLS block history and
// email have too.
type KafkaTLS = TLSConfig

// KafkaSASL configures SASL authentication; Mechanism empty means none.
type KafkaSASL struct {
	Mechanism    string `yaml:"mechanism"`
	Username     string `yaml:"username"`
	Password     Secret `yaml:"password"`
	PasswordFile string `yaml:"password_file"`
}

// Secret is a string that never prints: YAML and fmt show "<secret>".
type Secret string

// MarshalYAML implements yaml.Marshaler.
func (s Secret) MarshalYAML() (any, error) {
	if s == "" {
		return "", nil
	}
	return "<secret>", nil
}

func (s Secret) String() string {
	if s == "" {
		return ""
	}
	return "<secret>"
}

// OutputConfig configures where engine changes go.
type OutputConfig struct {
	Kafka KafkaOutputConfig `yaml:"kafka"`
}

func defaultKafkaSource() KafkaSourceConfig {
	return KafkaSourceConfig{
		GroupID:        "sift",
		ClientID:       "siftd",
		CommitInterval: Duration(time.Second),
	}
}

func defaultKafkaOutput() KafkaOutputConfig {
	return KafkaOutputConfig{
		ClientID:      "siftd",
		Changes:       slices.Clone(KafkaChangeNames),
		QueueCapacity: 10000,
	}
}

type checkFunc func(ok bool, key, format string, args ...any)

func validateKafkaSource(k *KafkaSourceConfig, check checkFunc) {
	if !k.Enabled() {
		return
	}
	const p = "ingest.kafka."
	validateBrokers(p, k.Brokers, check)
	check(k.GroupID != "", p+"group_id", "must be set")
	check(len(k.Topics) > 0, p+"topics", "must name at least one topic")
	seen := map[string]bool{}
	for i, t := range k.Topics {
		key := fmt.Sprintf("%stopics[%d]", p, i)
		check(t.Name != "", key+".name", "must be set")
		check(!seen[t.Name], key+".name", "topic %q is listed twice", t.Name)
		seen[t.Name] = true
		check(slices.Contains(KafkaFormats, t.Format), key+".format", "must be one of %v, got %q", KafkaFormats, t.Format)
	}
	check(k.DeadLetterTopic == "" || !seen[k.DeadLetterTopic], p+"dead_letter_topic", "%q is also a consumed topic", k.DeadLetterTopic)
	check(k.DecodeWorkers >= 0 && k.DecodeWorkers <= 256, p+"decode_workers", "must be from 0 (one per CPU) to 256, got %d", k.DecodeWorkers)
	check(k.CommitInterval >= Duration(10*time.Millisecond) && k.CommitInterval <= Duration(time.Minute), p+"commit_interval", "must be from 10ms to 1m, got %s", k.CommitInterval)
	validateKafkaSecurity(p, &k.TLS, &k.SASL, check)
}

func validateKafkaOutput(k *KafkaOutputConfig, check checkFunc) {
	if !k.Enabled() {
		return
	}
	const p = "output.kafka."
	validateBrokers(p, k.Brokers, check)
	check(k.Topic != "", p+"topic", "must be set")
	for i, c := range k.Changes {
		check(slices.Contains(KafkaChangeNames, c), fmt.Sprintf("%schanges[%d]", p, i), "must be one of %v, got %q", KafkaChangeNames, c)
	}
	check(k.QueueCapacity >= 1 && k.QueueCapacity <= 1<<20, p+"queue_capacity", "must be from 1 to %d, got %d", 1<<20, k.QueueCapacity)
	validateKafkaSecurity(p, &k.TLS, &k.SASL, check)
}

func validateBrokers(p string, brokers []string, check checkFunc) {
	for i, b := range brokers {
		_, port, err := net.SplitHostPort(b)
		check(err == nil && port != "", fmt.Sprintf("%sbrokers[%d]", p, i), "must be host:port, got %q", b)
	}
}

func validateKafkaSecurity(p string, t *KafkaTLS, s *KafkaSASL, check checkFunc) {
	t.validate(p+"tls", check)
	if s.Mechanism == "" {
		check(s.Username == "" && s.Password == "" && s.PasswordFile == "", p+"sasl.mechanism", "must be set when a username or password is")
		return
	}
	check(slices.Contains(kafkaSASLMechanisms, s.Mechanism), p+"sasl.mechanism", "must be one of %v, got %q", kafkaSASLMechanisms, s.Mechanism)
	check(s.Username != "", p+"sasl.username", "must be set")
	check(s.Password == "" || s.PasswordFile == "", p+"sasl", "password and password_file are exclusive")
}

// resolveKafkaPaths makes the Kafka file paths relative to dir absolute.
func (c *Config) resolveKafkaPaths(dir string) {
	for _, t := range []*KafkaTLS{&c.Ingest.Kafka.TLS, &c.Output.Kafka.TLS} {
		t.resolvePaths(dir)
	}
	resolvePaths(dir, &c.Ingest.Kafka.SASL.PasswordFile, &c.Output.Kafka.SASL.PasswordFile)
}
