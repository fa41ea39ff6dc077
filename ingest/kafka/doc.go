// Package kafka is the Kafka source: a consumer group over one or more
// topics, each carrying one of the four wire formats (prometheus,
// alertmanager, pagerduty, generic). One message is one event or one batch,
// decoded by the same parsers as the HTTP receivers.
//
// What it guarantees: at-least-once. An offset is committed only after the
// engine has applied every event of the messages up to it (Engine.Flush,
// then the commit), so a crash or a rebalance can repeat events but never
// lose them; a clean stop commits everything it applied, so a restart
// repeats nothing. With a Log (siftd's write-ahead log) the events are
// durable before their offsets are committed: the log holds each batch
// with the last offset of each partition in it, an offset is committed
// once its record is synced, and a partition resumes after the last
// offset logged when that is past the committed one, so that a crash
// between the sync and the commit repeats nothing either (the log
// replays those events). A full engine queue is waited out with backoff, never
// dropped. A message that fails to decode goes to the dead-letter topic
// with its original key, value and headers, plus headers naming the error
// and its source topic, partition and offset; the partition moves on.
//
// What it must not do: hold alert state, or reorder a partition's events:
// messages are decoded in parallel but submitted in fetch order.
//
// # Concurrency
//
// Consumer.Run owns its goroutines (fetch, decode workers, submit, commit)
// and returns once they have stopped and the group was left. Commit is
// safe from any goroutine.
package kafka
