package config

import (
	"bytes"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/alecthomas/units"
	"gopkg.in/yaml.v3"
)

// Config is the whole configuration file.
type Config struct {
	Ingest IngestConfig `yaml:"ingest"`
	Engine EngineConfig `yaml:"engine"`
	// Incidents configures the incident lifecycle.
	Incidents IncidentsConfig `yaml:"incidents"`
	// SLA configures the respond and resolve targets by priority.
	SLA SLAConfig `yaml:"sla"`
	// Problems configures recurrence detection.
	Problems ProblemsConfig `yaml:"problems"`
	Rules    RulesConfig    `yaml:"rules"`
	Output   OutputConfig   `yaml:"output"`
	CMDB     CMDBConfig     `yaml:"cmdb"`
	// History is off unless history.clickhouse.addresses is set.
	History HistoryConfig `yaml:"history"`
	// Notify routes incident events to receivers (config/notify.go); off
	// without notify.route.
	Notify NotifyConfig `yaml:"notify"`
	// Storage configures the write-ahead log (config/storage.go).
	Storage StorageConfig `yaml:"storage"`

	// original bytes, for the config hash metric.
	raw []byte
}

// IngestConfig configures the receivers.
type IngestConfig struct {
	// MaxBodySize bounds one request body (413 beyond it).
	MaxBodySize Bytes `yaml:"max_body_size"`
	// RetryAfter is what a 503 tells producers to wait.
	RetryAfter Duration `yaml:"retry_after"`
	// Kafka is the Kafka consumer (config/kafka.go); off by default.
	Kafka KafkaSourceConfig `yaml:"kafka"`
}

// EngineConfig configures the dedup engine.
type EngineConfig struct {
	// QueueCapacity bounds the events waiting for the engine; a change
	// needs a restart.
	QueueCapacity     int      `yaml:"queue_capacity"`
	BatchMaxEvents    int      `yaml:"batch_max_events"`
	BatchMaxWait      Duration `yaml:"batch_max_wait"`
	ResolveTimeout    Duration `yaml:"resolve_timeout"`
	ResolvedRetention Duration `yaml:"resolved_retention"`
	TickInterval      Duration `yaml:"tick_interval"`
}

// IncidentsConfig configures how incidents live and die (ITSM.md).
type IncidentsConfig struct {
	// ResolveHold: all alerts resolved this long resolves the incident.
	ResolveHold Duration `yaml:"resolve_hold"`
	// ReopenWindow: a correlated alert firing within this long after the
	// incident resolved reopens it.
	ReopenWindow Duration `yaml:"reopen_window"`
	// CloseAfter: a resolved incident closes after this long.
	CloseAfter Duration `yaml:"close_after"`
	// ClosedRetention: a closed incident stays in memory this long.
	ClosedRetention Duration `yaml:"closed_retention"`
	// ImpactSpread: over this many CIs raises the impact one level.
	ImpactSpread int `yaml:"impact_spread"`
	// EventSkew: how far past its receipt an event's own time may lie.
	EventSkew Duration `yaml:"event_skew"`
	// ChangeLookback: changes that started this long before an incident
	// opened are its probable changes.
	ChangeLookback Duration       `yaml:"change_lookback"`
	Flapping       FlappingConfig `yaml:"flapping"`
}

// SLAConfig is the SLA targets by priority ("P1".."P5") and whether the
// resolve clock stops while an incident is on hold.
type SLAConfig struct {
	PauseOnHold bool                 `yaml:"pause_on_hold"`
	Targets     map[string]SLATarget `yaml:"targets"`
}

// ProblemsConfig: recurrence_count incidents of one signature opened
// within recurrence_window open a problem (0: problems off).
type ProblemsConfig struct {
	RecurrenceCount  int      `yaml:"recurrence_count"`
	RecurrenceWindow Duration `yaml:"recurrence_window"`
}

// SLATarget is one priority's targets.
type SLATarget struct {
	Respond Duration `yaml:"respond"`
	Resolve Duration `yaml:"resolve"`
}

// FlappingConfig: an alert that changes between firing and resolved
// Changes times within Window is flapping.
type FlappingConfig struct {
	Changes int      `yaml:"changes"`
	Window  Duration `yaml:"window"`
}

// RulesConfig names the rule files (correlation, inhibition,
// maintenance; see docs/rules.md).
type RulesConfig struct {
	// Files are paths or globs; relative ones are resolved against the
	// config file's directory. None means the built-in default rules.
	// Reloaded with the config.
	Files []string `yaml:"files"`
}

// CMDBConfig names the CMDB import files.
type CMDBConfig struct {
	// Files are YAML, JSON or CSV imports (see incident/cmdb), loaded
	// together as one CMDB at start and on reload. Relative paths are
	// resolved against the config file's directory.
	Files []string `yaml:"files"`
}

// Default returns the embedded defaults: what siftd runs with when no
// config file is given, and what every omitted key takes.
func Default() *Config {
	return &Config{
		Ingest: IngestConfig{
			MaxBodySize: 8 * Bytes(units.MiB),
			RetryAfter:  Duration(time.Second),
			Kafka:       defaultKafkaSource(),
		},
		Engine: EngineConfig{
			QueueCapacity:     1 << 18,
			BatchMaxEvents:    1000,
			BatchMaxWait:      Duration(5 * time.Millisecond),
			ResolveTimeout:    Duration(5 * time.Minute),
			ResolvedRetention: Duration(time.Hour),
			TickInterval:      Duration(time.Second),
		},
		Incidents: IncidentsConfig{
			ResolveHold:     Duration(5 * time.Minute),
			ReopenWindow:    Duration(time.Hour),
			CloseAfter:      Duration(24 * time.Hour),
			ClosedRetention: Duration(24 * time.Hour),
			ImpactSpread:    10,
			EventSkew:       Duration(time.Minute),
			ChangeLookback:  Duration(2 * time.Hour),
			Flapping:        FlappingConfig{Changes: 4, Window: Duration(10 * time.Minute)},
		},
		Problems: ProblemsConfig{RecurrenceCount: 3, RecurrenceWindow: Duration(7 * 24 * time.Hour)},
		SLA: SLAConfig{PauseOnHold: true, Targets: map[string]SLATarget{
			"P1": {Duration(15 * time.Minute), Duration(4 * time.Hour)},
			"P2": {Duration(30 * time.Minute), Duration(8 * time.Hour)},
			"P3": {Duration(2 * time.Hour), Duration(24 * time.Hour)},
			"P4": {Duration(8 * time.Hour), Duration(72 * time.Hour)},
			"P5": {Duration(24 * time.Hour), Duration(168 * time.Hour)},
		}},
		Output:  OutputConfig{Kafka: defaultKafkaOutput()},
		History: defaultHistory(),
		Notify:  defaultNotify(),
		Storage: defaultStorage(),
	}
}

// Load reads and validates the file at path.
func Load(path string) (*Config, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("reading config: %w", err)
	}
	c, err := Parse(b)
	if err != nil {
		return nil, fmt.Errorf("config file %q: %w", path, err)
	}
	dir := filepath.Dir(path)
	for i := range c.Rules.Files {
		resolvePaths(dir, &c.Rules.Files[i])
	}
	c.resolveKafkaPaths(dir)
	for i := range c.CMDB.Files {
		resolvePaths(dir, &c.CMDB.Files[i])
	}
	c.History.resolvePaths(dir)
	c.resolveNotifyPaths(dir)
	return c, nil
}

// resolvePaths makes the relative paths among ps absolute under dir (the
// config file's directory); empty ones stay empty.
func resolvePaths(dir string, ps ...*string) {
	for _, p := range ps {
		if *p != "" && !filepath.IsAbs(*p) {
			*p = filepath.Join(dir, *p)
		}
	}
}

// Parse decodes a config strictly (an unknown key is an error that names
// it and its line) over the defaults, then validates it.
func Parse(b []byte) (*Config, error) {
	c := Default()
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	if err := dec.Decode(c); err != nil && !errors.Is(err, io.EOF) {
		return nil, err
	}
	c.kafkaDefaults()
	c.notifyDefaults()
	if err := c.Validate(); err != nil {
		return nil, err
	}
	c.raw = append([]byte(nil), b...)
	return c, nil
}

// Validate checks the values; each error names its key.
func (c *Config) Validate() error {
	var errs []error
	check := func(ok bool, key, format string, args ...any) {
		if !ok {
			errs = append(errs, fmt.Errorf("%s: "+format, append([]any{key}, args...)...))
		}
	}
	i, e := &c.Ingest, &c.Engine
	check(i.MaxBodySize >= Bytes(units.KiB) && i.MaxBodySize <= Bytes(units.GiB), "ingest.max_body_size", "must be from 1KiB to 1GiB, got %s", i.MaxBodySize)
	check(i.RetryAfter >= Duration(time.Second) && i.RetryAfter <= Duration(time.Hour), "ingest.retry_after", "must be from 1s to 1h, got %s", i.RetryAfter)
	check(e.QueueCapacity >= 1 && e.QueueCapacity <= 1<<26, "engine.queue_capacity", "must be from 1 to %d, got %d", 1<<26, e.QueueCapacity)
	check(e.BatchMaxEvents >= 1 && e.BatchMaxEvents <= 100000, "engine.batch_max_events", "must be from 1 to 100000, got %d", e.BatchMaxEvents)
	check(e.BatchMaxWait > 0 && e.BatchMaxWait <= Duration(time.Second), "engine.batch_max_wait", "must be over 0 and at most 1s, got %s", e.BatchMaxWait)
	check(e.ResolveTimeout > 0, "engine.resolve_timeout", "must be over 0, got %s", e.ResolveTimeout)
	check(e.ResolvedRetention > 0, "engine.resolved_retention", "must be over 0, got %s", e.ResolvedRetention)
	for i, f := range c.Rules.Files {
		check(f != "", fmt.Sprintf("rules.files[%d]", i), "must not be empty")
	}
	check(e.TickInterval >= Duration(10*time.Millisecond) && e.TickInterval <= Duration(time.Minute), "engine.tick_interval", "must be from 10ms to 1m, got %s", e.TickInterval)
	n := &c.Incidents
	check(n.ResolveHold >= 0, "incidents.resolve_hold", "must not be negative, got %s", n.ResolveHold)
	check(n.ReopenWindow >= 0, "incidents.reopen_window", "must not be negative, got %s", n.ReopenWindow)
	check(n.CloseAfter >= 0, "incidents.close_after", "must not be negative, got %s", n.CloseAfter)
	check(n.ClosedRetention >= 0, "incidents.closed_retention", "must not be negative, got %s", n.ClosedRetention)
	check(n.ImpactSpread >= 1, "incidents.impact_spread", "must be at least 1, got %d", n.ImpactSpread)
	check(n.ChangeLookback >= 0, "incidents.change_lookback", "must not be negative, got %s", n.ChangeLookback)
	check(n.EventSkew >= 0, "incidents.event_skew", "must not be negative, got %s", n.EventSkew)
	check(n.Flapping.Changes == 0 || n.Flapping.Changes >= 2 && n.Flapping.Changes <= 100, "incidents.flapping.changes", "must be 0 (off) or from 2 to 100, got %d", n.Flapping.Changes)
	check(n.Flapping.Window >= 0, "incidents.flapping.window", "must not be negative, got %s", n.Flapping.Window)
	check(c.Problems.RecurrenceCount >= 0, "problems.recurrence_count", "must not be negative (0: off), got %d", c.Problems.RecurrenceCount)
	check(c.Problems.RecurrenceWindow > 0, "problems.recurrence_window", "must be over 0, got %s", c.Problems.RecurrenceWindow)
	for p, t := range c.SLA.Targets {
		key := "sla.targets." + p
		check(len(p) == 2 && p[0] == 'P' && p[1] >= '1' && p[1] <= '5', key, "priority must be P1 to P5")
		check(t.Respond > 0, key+".respond", "must be over 0, got %s", t.Respond)
		check(t.Resolve > 0, key+".resolve", "must be over 0, got %s", t.Resolve)
	}
	validateKafkaSource(&i.Kafka, check)
	validateKafkaOutput(&c.Output.Kafka, check)
	for i, f := range c.CMDB.Files {
		check(f != "", fmt.Sprintf("cmdb.files[%d]", i), "must not be empty")
	}
	c.History.validate(check)
	c.Notify.validate(check)
	c.Storage.validate(check)
	return errors.Join(errs...)
}

// Hash identifies the file's content, for the config hash metric. It is 0
// for the embedded defaults.
func (c *Config) Hash() float64 {
	if c.raw == nil {
		return 0
	}
	h := fnv.New32a()
	_, _ = h.Write(c.raw)
	return float64(h.Sum32())
}
