package config

import (
	"fmt"
	"time"

	"github.com/alecthomas/units"
)

// StorageConfig configures what siftd keeps under --storage.path.
// Changes take effect at restart.
type StorageConfig struct {
	WAL WALConfig `yaml:"wal"`
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
	}}
}

func (s *StorageConfig) validate() []error {
	var errs []error
	check := func(ok bool, key, format string, args ...any) {
		if !ok {
			errs = append(errs, fmt.Errorf("storage.wal.%s: "+format, append([]any{key}, args...)...))
		}
	}
	w := &s.WAL
	check(w.Fsync == "always" || w.Fsync == "interval" || w.Fsync == "never", "fsync", "must be always, interval or never, got %q", w.Fsync)
	check(w.FsyncInterval >= Duration(time.Millisecond) && w.FsyncInterval <= Duration(time.Minute), "fsync_interval", "must be from 1ms to 1m, got %s", w.FsyncInterval)
	check(w.SegmentSize >= 64*Bytes(units.KiB) && w.SegmentSize <= Bytes(units.GiB), "segment_size", "must be from 64KiB to 1GiB, got %s", w.SegmentSize)
	return errs
}
