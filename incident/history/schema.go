package history

import (
	"fmt"
	"strings"
	"time"
)

// Table names.
const (
	TableEvents           = "events"
	TableAlertStates      = "alert_states"
	TableIncidents        = "incidents"
	TableIncidentTimeline = "incident_timeline"
	TableProblems         = "problems"
	TableNotifications    = "notifications"
	tableMigrations       = "schema_migrations"
	// tableEventsInput takes the writer's event inserts (see migration
	// 3); the view events_split2 moves them to events. Migration 2's
	// events_input and events_split are left for older writers.
	tableEventsInput = "events_input2"
)

// Tables lists the history tables, for metric labels and retention.
var Tables = []string{TableEvents, TableAlertStates, TableIncidents, TableIncidentTimeline, TableProblems, TableNotifications}

// Retention is how long each table keeps rows, counted from the table's
// time column (timeColumn). Zero keeps rows forever. Whole days only:
// that is the unit of the TTL clause.
type Retention map[string]time.Duration

// DefaultRetention: events 90 days, everything else two years.
func DefaultRetention() Retention {
	r := Retention{}
	for _, t := range Tables {
		r[t] = 2 * 365 * 24 * time.Hour
	}
	r[TableEvents] = 90 * 24 * time.Hour
	return r
}

// timeColumn is each table's DateTime column: the partition key (by
// month) and the retention clock. It never changes for a given row
// identity, so ReplacingMergeTree, which only collapses rows within a
// partition, always finds a row's older versions.
var timeColumn = map[string]string{
	TableEvents:           "received_at",
	TableAlertStates:      "changed_at",
	TableIncidents:        "opened_at",
	TableIncidentTimeline: "at",
	TableProblems:         "opened_at",
	TableNotifications:    "at",
}

// Enum definitions shared by tables. Values match the Go constants of
// ingest (Status, Severity) so a column append needs no mapping. Enums
// whose Go value starts at 1 have 'unknown' = 0: the driver refuses a
// value the enum lacks, and a zero field must not make the server
// reject a whole batch.
const (
	enumStatus   = "Enum8('firing' = 0, 'resolved' = 1)"
	enumSeverity = "Enum8('critical' = 0, 'major' = 1, 'minor' = 2, 'warning' = 3, 'info' = 4)"
	enumChange   = "Enum8('unknown' = 0, 'opened' = 1, 'updated' = 2, 'resolved' = 3)"
	enumIncident = "Enum8('unknown' = 0, 'new' = 1, 'acknowledged' = 2, 'in_progress' = 3, 'on_hold' = 4, 'resolved' = 5, 'closed' = 6)"
	enumProblem  = "Enum8('unknown' = 0, 'new' = 1, 'investigating' = 2, 'known_error' = 3, 'resolved' = 4, 'closed' = 5)"
)

// A migration is one numbered schema step. Statements use {db} for the
// quoted database name and must be safe to run again (IF NOT EXISTS): two
// siftd starting at once may both apply a step, as ClickHouse has no
// transactional DDL.
type migration struct {
	version    uint32
	name       string
	statements []string
	// columns are added after the statements, each unless the table has
	// it already: 18.16 has no ADD COLUMN IF NOT EXISTS.
	columns []newColumn
}

// newColumn is a column a migration adds to a table, after the column
// named in after.
type newColumn struct {
	table, name, typ, after string
}

// statement is the ALTER that adds c.
func (c newColumn) statement(db string) string {
	return "ALTER TABLE " + quoteIdent(db) + "." + c.table + " ADD COLUMN " + c.name + " " + c.typ + " AFTER " + c.after
}

// migrations, in order. Never edit a released step: add one.
//
// Every table is a ReplacingMergeTree whose ORDER BY ends with the row's
// identity, so re-sent rows collapse (see the package doc). Times are a
// DateTime (seconds; the partition key and retention clock, and what SQL
// users filter on) plus Int64 Unix nanoseconds where order or precision
// matters: DateTime64 needs 20.1. Label sets are parallel name/value
// arrays: Map needs 21.1+, and Nested is the same two arrays with a
// driver-dependent name.
var migrations = []migration{{
	version: 1,
	name:    "events, alert states, incidents, timeline, problems, notifications",
	statements: []string{
		`CREATE TABLE IF NOT EXISTS {db}.events (
	received_at DateTime,
	received_ns Int64,
	run UInt64,
	seq UInt64,
	idx UInt32,
	fingerprint UInt64,
	event_ns Int64,
	starts_ns Int64,
	ends_ns Int64,
	source String,
	producer String,
	status ` + enumStatus + `,
	severity ` + enumSeverity + `,
	raw_severity String,
	label_names Array(String),
	label_values Array(String),
	annotation_names Array(String),
	annotation_values Array(String),
	generator_url String,
	acknowledge UInt8,
	incident_id String
) ENGINE = ReplacingMergeTree
PARTITION BY toYYYYMM(received_at)
ORDER BY (toStartOfHour(received_at), fingerprint, received_ns, run, seq, idx)`,

		`CREATE TABLE IF NOT EXISTS {db}.alert_states (
	changed_at DateTime,
	changed_ns Int64,
	run UInt64,
	seq UInt64,
	fingerprint UInt64,
	version UInt64,
	kind ` + enumChange + `,
	expired UInt8,
	status ` + enumStatus + `,
	severity ` + enumSeverity + `,
	raw_severity String,
	source String,
	producer String,
	generator_url String,
	acknowledged UInt8,
	label_names Array(String),
	label_values Array(String),
	annotation_names Array(String),
	annotation_values Array(String),
	first_seen_ns Int64,
	starts_ns Int64,
	ends_ns Int64,
	resolved_ns Int64,
	last_seen_ns Int64,
	count UInt64,
	incident_id String
) ENGINE = ReplacingMergeTree
PARTITION BY toYYYYMM(changed_at)
ORDER BY (fingerprint, changed_ns, run, seq, version)`,

		`CREATE TABLE IF NOT EXISTS {db}.incidents (
	opened_at DateTime,
	id String,
	version UInt64,
	updated_ns Int64,
	opened_ns Int64,
	state ` + enumIncident + `,
	priority UInt8,
	impact UInt8,
	urgency UInt8,
	title String,
	rule String,
	group_key String,
	signature String,
	problem_id String,
	ci_ids Array(String),
	probable_cause_ci String,
	services Array(String),
	support_group String,
	assignee String,
	alert_fingerprints Array(UInt64),
	severity ` + enumSeverity + `,
	acknowledged_ns Int64,
	resolved_ns Int64,
	closed_ns Int64,
	respond_due_ns Int64,
	resolve_due_ns Int64,
	respond_breached UInt8,
	resolve_breached UInt8,
	label_names Array(String),
	label_values Array(String)
) ENGINE = ReplacingMergeTree(version)
PARTITION BY toYYYYMM(opened_at)
ORDER BY id`,

		`CREATE TABLE IF NOT EXISTS {db}.incident_timeline (
	at DateTime,
	at_ns Int64,
	incident_id String,
	entry UInt32,
	kind String,
	actor String,
	from_state String,
	to_state String,
	fingerprint UInt64,
	message String,
	field_names Array(String),
	field_values Array(String)
) ENGINE = ReplacingMergeTree
PARTITION BY toYYYYMM(at)
ORDER BY (incident_id, entry)`,

		`CREATE TABLE IF NOT EXISTS {db}.problems (
	opened_at DateTime,
	id String,
	version UInt64,
	updated_ns Int64,
	opened_ns Int64,
	state ` + enumProblem + `,
	title String,
	signature String,
	incident_ids Array(String),
	incident_count UInt32,
	ci_ids Array(String),
	services Array(String),
	workaround String,
	runbook_url String,
	resolved_ns Int64,
	closed_ns Int64
) ENGINE = ReplacingMergeTree(version)
PARTITION BY toYYYYMM(opened_at)
ORDER BY id`,

		`CREATE TABLE IF NOT EXISTS {db}.notifications (
	at DateTime,
	at_ns Int64,
	id String,
	attempt UInt32,
	incident_id String,
	receiver String,
	integration String,
	status Enum8('unknown' = 0, 'sent' = 1, 'failed' = 2, 'held' = 3, 'suppressed' = 4),
	error String,
	duration_ns Int64,
	alert_fingerprints Array(UInt64)
) ENGINE = ReplacingMergeTree
PARTITION BY toYYYYMM(at)
ORDER BY (id, attempt)`,
	},
}, {
	version: 2,
	name:    "events_input: events with packed label sets, split into events by a materialized view",
	statements: []string{
		// Sending label sets as parallel Array(String) columns costs the
		// Go driver an allocation per label name and value; one String
		// per label set (ingest.Labels, packed: name 0xff value 0xff ...)
		// costs none, and the server splits it. The Null table stores
		// nothing: the view writes into events in the same INSERT.
		`CREATE TABLE IF NOT EXISTS {db}.events_input (
	received_at DateTime,
	received_ns Int64,
	run UInt64,
	seq UInt64,
	idx UInt32,
	fingerprint UInt64,
	event_ns Int64,
	starts_ns Int64,
	ends_ns Int64,
	source String,
	producer String,
	status ` + enumStatus + `,
	severity ` + enumSeverity + `,
	raw_severity String,
	labels String,
	annotations String,
	generator_url String,
	acknowledge UInt8,
	incident_id String
) ENGINE = Null`,
		`CREATE MATERIALIZED VIEW IF NOT EXISTS {db}.events_split TO {db}.events AS
SELECT received_at, received_ns, run, seq, idx, fingerprint, event_ns, starts_ns, ends_ns, source, producer,
	status, severity, raw_severity,
	arrayFilter((x, i) -> i % 2 = 1, arrayPopBack(splitByChar('\xff', labels)) AS lparts, arrayEnumerate(lparts)) AS label_names,
	arrayFilter((x, i) -> i % 2 = 0, lparts, arrayEnumerate(lparts)) AS label_values,
	arrayFilter((x, i) -> i % 2 = 1, arrayPopBack(splitByChar('\xff', annotations)) AS aparts, arrayEnumerate(aparts)) AS annotation_names,
	arrayFilter((x, i) -> i % 2 = 0, aparts, arrayEnumerate(aparts)) AS annotation_values,
	generator_url, acknowledge, incident_id
FROM {db}.events_input`,
	},
}, {
	version: 3,
	name:    "events_input2: label names and values packed apart, split by a view without lambdas",
	statements: []string{
		// events_split's arrayFilter lambdas (three passes over every
		// label set) cost the server ~1 µs an event, a fifth of its CPU
		// per event; splitting names and values apart costs it a tenth
		// of that, and the writer the same. Each column holds its items,
		// each followed by 0xff: arrayPopBack drops the empty item after
		// the last one, and an empty set is the empty string. events_input
		// and events_split stay for a siftd of schema 2 writing during an
		// upgrade.
		`CREATE TABLE IF NOT EXISTS {db}.events_input2 (
	received_at DateTime,
	received_ns Int64,
	run UInt64,
	seq UInt64,
	idx UInt32,
	fingerprint UInt64,
	event_ns Int64,
	starts_ns Int64,
	ends_ns Int64,
	source String,
	producer String,
	status ` + enumStatus + `,
	severity ` + enumSeverity + `,
	raw_severity String,
	packed_label_names String,
	packed_label_values String,
	packed_annotation_names String,
	packed_annotation_values String,
	generator_url String,
	acknowledge UInt8,
	incident_id String
) ENGINE = Null`,
		`CREATE MATERIALIZED VIEW IF NOT EXISTS {db}.events_split2 TO {db}.events AS
SELECT received_at, received_ns, run, seq, idx, fingerprint, event_ns, starts_ns, ends_ns, source, producer,
	status, severity, raw_severity,
	arrayPopBack(splitByChar('\xff', packed_label_names)) AS label_names,
	arrayPopBack(splitByChar('\xff', packed_label_values)) AS label_values,
	arrayPopBack(splitByChar('\xff', packed_annotation_names)) AS annotation_names,
	arrayPopBack(splitByChar('\xff', packed_annotation_values)) AS annotation_values,
	generator_url, acknowledge, incident_id
FROM {db}.events_input2`,
	},
}, {
	version: 4,
	name:    "problems: root cause, first and last occurrence",
	columns: []newColumn{
		{TableProblems, "root_cause", "String", "runbook_url"},
		{TableProblems, "first_occurrence_ns", "Int64", "root_cause"},
		{TableProblems, "last_occurrence_ns", "Int64", "first_occurrence_ns"},
	},
}}

// schemaVersion is the version the code expects.
func schemaVersion() uint32 { return migrations[len(migrations)-1].version }

const migrationsDDL = `CREATE TABLE IF NOT EXISTS {db}.schema_migrations (
	version UInt32,
	name String,
	applied_at DateTime
) ENGINE = ReplacingMergeTree
ORDER BY version`

// quoteIdent quotes an identifier with backquotes.
func quoteIdent(s string) string {
	return "`" + strings.ReplaceAll(strings.ReplaceAll(s, `\`, `\\`), "`", "\\`") + "`"
}

func expand(stmt, db string) string { return strings.ReplaceAll(stmt, "{db}", quoteIdent(db)) }

// Features are what the server supports, read from its version at
// connect.
type Features struct {
	// TTL: table TTL clauses (19.6+). Without it retention drops whole
	// monthly partitions.
	TTL bool
}

// featuresOf returns the features of server version major.minor.
func featuresOf(major, minor uint64) Features {
	return Features{TTL: major > 19 || major == 19 && minor >= 6}
}

// ttlClause is the table TTL for a retention, in the form the server
// prints back in system.tables.engine_full, so that a comparison tells
// whether it is in force. Empty for keep-forever.
func ttlClause(table string, d time.Duration) string {
	days := retentionDays(d)
	if days == 0 {
		return ""
	}
	return fmt.Sprintf("TTL %s + toIntervalDay(%d)", timeColumn[table], days)
}

// retentionDays rounds a retention up to whole days; 0 is forever.
func retentionDays(d time.Duration) int64 {
	if d <= 0 {
		return 0
	}
	day := 24 * time.Hour
	return int64((d + day - 1) / day)
}

// ttlStatement is the ALTER that sets (or removes) a table's TTL. Removing
// needs REMOVE TTL (20.x+); on servers without it, a zero retention leaves
// an existing TTL in place and says so (see Store.applyRetention).
func ttlStatement(db, table string, d time.Duration) string {
	q := quoteIdent(db) + "." + table
	if c := ttlClause(table, d); c != "" {
		return "ALTER TABLE " + q + " MODIFY " + c
	}
	return "ALTER TABLE " + q + " REMOVE TTL"
}

// expiredPartitions returns the monthly partitions (YYYYMM) whose every
// row is past retention at now: the month ended more than d ago. Used on
// servers without TTL.
func expiredPartitions(parts []uint32, d time.Duration, now time.Time) []uint32 {
	if d <= 0 {
		return nil
	}
	cutoff := now.Add(-time.Duration(retentionDays(d)) * 24 * time.Hour)
	var out []uint32
	for _, p := range parts {
		y, m := int(p/100), time.Month(p%100)
		if m < 1 || m > 12 {
			continue
		}
		// Partitions follow the server's time zone; a day of slack
		// covers any zone.
		end := time.Date(y, m+1, 2, 0, 0, 0, 0, time.UTC)
		if !end.After(cutoff) {
			out = append(out, p)
		}
	}
	return out
}
