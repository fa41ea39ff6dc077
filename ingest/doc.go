// Package ingest owns the way in: the Event type every source is
// normalised to, one parser per wire format (Prometheus /api/v2/alerts,
// Alertmanager webhook, PagerDuty Events v2, sift's generic JSON), and the
// HTTP receivers that serve them.
//
// What it does: validate a whole request before any of it is accepted, so
// a rejected request applies nothing; name the offending field and batch
// index in every error; refuse bodies over the configured size; normalise
// severity (ITSM.md) and compute the fingerprint, which is the same as
// Alertmanager's model.LabelSet fingerprint of the identity labels.
//
// What it must not do: hold alert state, decide anything about dedup or
// correlation, or block. Parsed events are handed to a Submitter (the
// engine) that either takes the whole batch or refuses it; a refusal
// becomes 503 with Retry-After, never an unbounded queue here.
//
// # Concurrency
//
// Parsers are pure functions, safe from any goroutine. A Receiver's
// handlers run concurrently; its only shared mutable state is the body
// size limit (an atomic, changed by config reload) and its metrics. Events
// are immutable once returned: the engine and every sink may share them.
package ingest
