// Package atomicfile writes small files so that a crash leaves either the
// old content or the new, never a mix, and makes directory changes
// durable. It owns nothing but these two steps; the log and snapshot
// formats stay in their packages.
package atomicfile
