package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	"gopkg.in/yaml.v3"
)

func TestKafkaOffByDefault(t *testing.T) {
	c := Default()
	require.False(t, c.Ingest.Kafka.Enabled())
	require.False(t, c.Output.Kafka.Enabled())
	require.Equal(t, KafkaChangeNames, c.Output.Kafka.Changes)
}

func TestKafkaGood(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "sift.yml")
	require.NoError(t, os.WriteFile(path, []byte(`
ingest:
  kafka:
    brokers: [k1:9092, "k2:9092"]
    group_id: noc
    topics:
      - name: alerts
        format: prometheus
      - name: events
    dead_letter_topic: sift-dead
    commit_interval: 500ms
    tls:
      enabled: true
      ca_file: ca.pem
    sasl:
      mechanism: SCRAM-SHA-512
      username: sift
      password_file: /run/secrets/kafka
output:
  kafka:
    brokers: [k1:9092]
    topic: sift-changes
    changes: [alert.opened]
`), 0o600))
	c, err := Load(path)
	require.NoError(t, err)
	k := c.Ingest.Kafka
	require.True(t, k.Enabled())
	require.Equal(t, "noc", k.GroupID)
	require.Equal(t, "siftd", k.ClientID, "default")
	require.Equal(t, []KafkaTopic{{"alerts", "prometheus"}, {"events", "generic"}}, k.Topics)
	require.Equal(t, filepath.Join(dir, "ca.pem"), k.TLS.CAFile, "relative to the config file")
	require.Equal(t, "/run/secrets/kafka", k.SASL.PasswordFile)
	require.Equal(t, []string{"alert.opened"}, c.Output.Kafka.Changes, "a list replaces the default, not appended to it")
	require.Equal(t, 10000, c.Output.Kafka.QueueCapacity)
}

func TestKafkaBad(t *testing.T) {
	f := func(yml string, want ...string) {
		t.Helper()
		_, err := Parse([]byte(yml))
		require.Error(t, err)
		for _, w := range want {
			require.Contains(t, err.Error(), w)
		}
	}
	f("ingest:\n  kafka:\n    brokers: [k1]\n", "ingest.kafka.brokers[0]: must be host:port", "ingest.kafka.topics: must name at least one topic")
	f("ingest:\n  kafka:\n    brokers: [k1:9092]\n    group_id: ''\n    topics: [{name: a, format: json}, {name: a}]\n    dead_letter_topic: a\n",
		"ingest.kafka.group_id: must be set", `ingest.kafka.topics[0].format: must be one of [prometheus alertmanager pagerduty generic], got "json"`,
		`ingest.kafka.topics[1].name: topic "a" is listed twice`, `ingest.kafka.dead_letter_topic: "a" is also a consumed topic`)
	f("ingest:\n  kafka:\n    brokers: [k1:9092]\n    topics: [{name: a, fromat: generic}]\n", "line 4", "fromat")
	f("ingest:\n  kafka:\n    brokers: [k1:9092]\n    topics: [{name: a}]\n    commit_interval: 1ms\n    sasl: {mechanism: GSSAPI, password: x, password_file: y}\n    tls: {cert_file: c}\n",
		"ingest.kafka.commit_interval: must be from 10ms to 1m, got 1ms", `ingest.kafka.sasl.mechanism: must be one of [PLAIN SCRAM-SHA-256 SCRAM-SHA-512], got "GSSAPI"`,
		"ingest.kafka.sasl.username: must be set", "ingest.kafka.sasl: password and password_file are exclusive", "ingest.kafka.tls: cert_file and key_file go together")
	f("output:\n  kafka:\n    brokers: [k1:9092]\n    changes: [alert.opened, incident.exploded]\n    queue_capacity: 0\n",
		"output.kafka.topic: must be set", `output.kafka.changes[1]: must be one of`, "output.kafka.queue_capacity: must be from 1")
}

func TestKafkaBadIgnoredWhileOff(t *testing.T) {
	// Without brokers the section is off and its other keys are not checked,
	// so a commented-out broker list leaves the rest as a template.
	_, err := Parse([]byte("ingest:\n  kafka:\n    topics: [{name: a, format: json}]\n"))
	require.NoError(t, err)
}

func TestSecretNeverPrints(t *testing.T) {
	c, err := Parse([]byte("output:\n  kafka:\n    sasl: {mechanism: PLAIN, username: u, password: hunter2}\n"))
	require.NoError(t, err)
	b, err := yaml.Marshal(c)
	require.NoError(t, err)
	require.NotContains(t, string(b), "hunter2")
	require.True(t, strings.Contains(string(b), "<secret>"))
	require.Equal(t, "<secret>", c.Output.Kafka.SASL.Password.String())
}
