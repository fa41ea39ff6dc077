// Package wal is siftd's write-ahead log: what the engine is given (event
// batches as received over HTTP or from Kafka, with the Kafka offsets,
// and the users' commands) is appended here, durably, before the engine
// applies it, so that a crash (kill -9, power loss) loses nothing that was
// acknowledged or committed. On start the log is replayed into the engine
// (Recover; see docs/durability.md).
//
// The writers: Submitter (HTTP events; Kafka events with SubmitOffsets),
// Commander (the engine's CommandLog). Both hand what they logged to the
// engine from the log's writer goroutine, in log order.
//
// # Layout
//
// The log is a directory of segment files named by a zero-padded index
// ("00000000", "00000001", ...), modelled on Prometheus' tsdb/wlog. A
// segment starts with an 8-byte header (the magic "SIFTWAL" and a format
// version byte) and holds frames:
//
//	length  uint32, little endian: the payload's length, > 0
//	crc     uint32, little endian: CRC-32C (Castagnoli) of length and payload
//	payload length bytes
//
// A record never spans segments, so whole segments can be deleted once a
// snapshot covers them (Truncate). A segment is fsynced before the next is
// created, and every Open starts a new segment, so only the tail of the
// last segment can hold a torn write.
//
// # Recovery
//
// Open checks every frame of every segment. A bad frame (short, or with a
// bad checksum) at the tail of the last segment, with no valid frame after
// it, is a torn write: the segment is truncated before it with a warning.
// Any other bad frame (in an earlier segment, or followed by a valid one)
// is corruption that a crash cannot explain, and Open fails with a
// *CorruptionError naming the segment and offset: siftd then refuses to
// start rather than silently drop acknowledged data.
//
// # Concurrency properties
//
// Append and AppendThen may be called from any number of goroutines. One
// writer goroutine takes everything queued when it is free, writes it with
// one write call and (with FsyncAlways) one fsync: a group commit. Callers
// block until their group is written and synced as the fsync mode says.
// AppendThen's callback runs on the writer goroutine, in log order, after
// the group is durable and before the caller is woken: that is how the
// durable Submitter keeps the engine's queue in log order. Replay may run
// concurrently with appends; it reads up to the end at the time it is
// called. Truncate may run concurrently with both.
package wal
