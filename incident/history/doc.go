// Package history keeps sift's history in ClickHouse: every accepted event,
// every alert change, every incident version and its timeline entries,
// every problem version, and (through Writer.Add, as that feature lands)
// notifications.
//
// It owns:
//   - the schema: versioned migrations recorded in a schema_migrations
//     table and applied at start (Store.Prepare), and retention: a table
//     TTL on servers that have it (19.6 and later), dropping whole monthly
//     partitions past retention on older ones (Debian's 18.16);
//   - the Writer, an engine sink that batches rows by count or age, inserts
//     them with the native protocol, retries with backoff and, while
//     ClickHouse cannot take them, spools batches to files under the data
//     directory and drains them in order when it is back;
//   - queries (Store.Events, Store.AlertStates, Store.Incident,
//     Store.Problem, the analytics Store.Recurring, Store.MTT and
//     Store.Noise, and Store.ScanEvents for replays) and their REST
//     handlers (API) under /api/v1/history and /api/v1/analytics.
//
// It must not: block or slow the engine (Writer.Consume only queues, and
// drops and counts when even the spool cannot keep up), modify what the
// engine hands it, or be the source of truth for live state: the engine's
// memdb is. It reads correlate's Batch and Alert and incident's Incident
// and Problem versions (immutable once published) and nothing of the
// engine's internals.
//
// # Idempotence
//
// Delivery to ClickHouse is at least once: a batch whose insert failed
// with an ambiguous error is sent again, and a spooled batch may be sent
// twice across a crash. Every row carries an identity (events: the writer
// run, the engine batch sequence and the index in the batch; alert states:
// run, sequence, fingerprint and alert version; incidents and problems: id
// and version; timeline entries: incident and place) and every table is a
// ReplacingMergeTree ordered by that identity, so queries that read with
// FINAL, argMax or distinct identities (as this package's do) never see a
// row twice.
//
// # Concurrency properties
//
// Consume is called on the engine goroutine and only appends to a queue
// under a mutex. Run owns two goroutines: a batcher that turns queued
// engine batches into row batches and spools them when memory or
// ClickHouse says so, and a sender that inserts batches in order. Store
// methods are safe for concurrent use.
package history
