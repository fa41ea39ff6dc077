// Package kafka publishes the engine's changes to a Kafka topic as JSON,
// for downstream automation and ITSM tools.
//
// Each message is one Envelope: {type, kind, id, version, batch, time,
// object}, keyed by id so that one object's changes land on one partition
// and stay in order. Alerts are keyed by fingerprint today; incidents and
// problems, when the engine makes them, are keyed by their id (INC…,
// PRB…), and an alert change that belongs to an incident will be keyed by
// the incident's id so the incident's whole story stays ordered. Which
// changes go out is configured by name ("alert.opened", ...).
//
// The contract with the engine: Publisher.Consume never blocks. It puts
// the selected changes on a bounded queue and counts what does not fit;
// Run publishes from the queue in order, one batch at a time, retrying a
// failed batch with backoff (so order holds), while the queue absorbs or
// drops what comes meanwhile.
//
// # Concurrency
//
// Consume runs on the engine's goroutine; Run on its own. They share only
// the queue (a channel) and the metrics.
package kafka
