// Package snapshot writes and reads siftd's snapshot files: the engine's
// whole state at a write-ahead log position, so that a start loads the
// newest snapshot and replays only the log after it, and the log before it
// can be deleted.
//
// A file is written atomically (a temporary file, fsync, rename, fsync of
// the directory) and holds, in order: the magic "SIFTSNAP", the format
// version (uint32, little endian), the length of the metadata (uint32)
// and the metadata as JSON, the engine's state as the engine encodes it,
// and a CRC-32C (Castagnoli) of everything before it. Files are named by
// the log position they cover, so their names sort in log order.
//
// The package owns the file format and the directory; it does not know
// what the state holds (package correlate encodes it) and must not be
// written to from more than one goroutine at a time.
//
// Concurrency: Write and Latest touch only the files; callers serialise
// them (siftd writes a snapshot at shutdown, after the engine stopped).
package snapshot
