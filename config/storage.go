package config

import (
	"time"

	"github.com/alecthomas/units"
)

// StorageConfig configures what siftd keeps under --storage.path.
// Changes take effect at restart.
type StorageConfig struct {
	WAL      WALConfig      `yaml:"wal"`
	Snapshot SnapshotConfig `yaml:"snapshot"`
}

// SnapshotConfig is storage.snapshot: snapshots of the engine's state
// under <storage.path>/snapshots, with the write-ahead log.
type SnapshotConfig struct {
	// Interval is how often a snapshot is taken while running (and the
	// log before it deleted); one is always taken at shutdown. 0 takes
	// them at shutdown only.
	Interval Duration `yaml:"interval"`
}

// WALConfig is storage.wal: the write-ahead log under
// <storage.path>/wal (package internal/wal, docs/durability.md).
type WALConfig struct {
	// Enabled: receivers answer 2xx only once the events are in the
	// log, and a restart replays it. On by default.
	Enabled bool `yaml:"enabled"`
	// Fsync is always, interval or never: what an acknowledged event
	// survives (docs/operations.md, Durability).
	Fsync string `yaml:"fsync"`
	// FsyncInterval is the fsync period of fsync: interval.
	FsyncInterval Duration `yaml:"fsync_interval"`
	// SegmentSize is the size at which the next segment file begins.
	SegmentSize Bytes `yaml:"segment_size"`
}

func defaultStorage() StorageConfig {
	return StorageConfig{WAL: WALConfig{
		Enabled:       true,
		Fsync:         "always",
		FsyncInterval: Duration(time.Second),
		SegmentSize:   64 * Bytes(units.MiB),
	}, Snapshot: SnapshotConfig{Interval: Duration(5 * time.Minute)}}
}

func (s *StorageConfig) validate(check checkFunc) {
	const p = "storage.wal."
	w := &s.WAL
	check(w.Fsync == "always" || w.Fsync == "interval" || w.Fsync == "never", p+"fsync", "must be always, interval or never, got %q", w.Fsync)
	check(w.FsyncInterval >= Duration(time.Millisecond) && w.FsyncInterval <= Duration(time.Minute), p+"fsync_interval", "must be from 1ms to 1m, got %s", w.FsyncInterval)
	check(w.SegmentSize >= 64*Bytes(units.KiB) && w.SegmentSize <= Bytes(units.GiB), p+"segment_size", "must be from 64KiB to 1GiB, got %s", w.SegmentSize)
	iv := s.Snapshot.Interval
	check(iv == 0 || (iv >= Duration(time.Second) && iv <= Duration(24*time.Hour)), "storage.snapshot.interval", "must be 0 (at shutdown only) or from 1s to 24h, got %s", iv)
}
