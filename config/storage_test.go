package config

import (
	"testing"
	"time"

	"github.com/alecthomas/units"
	"github.com/stretchr/testify/require"
)

func TestWALOnByDefault(t *testing.T) {
	c, err := Parse(nil)
	require.NoError(t, err)
	require.Equal(t, WALConfig{Enabled: true, Fsync: "always", FsyncInterval: Duration(time.Second), SegmentSize: 64 * Bytes(units.MiB)}, c.Storage.WAL)
}

func TestWALConfig(t *testing.T) {
	c, err := Parse([]byte("storage:\n  wal:\n    fsync: interval\n    fsync_interval: 200ms\n    segment_size: 1MiB\n"))
	require.NoError(t, err)
	require.Equal(t, WALConfig{Enabled: true, Fsync: "interval", FsyncInterval: Duration(200 * time.Millisecond), SegmentSize: Bytes(units.MiB)}, c.Storage.WAL)

	c, err = Parse([]byte("storage:\n  wal:\n    enabled: false\n"))
	require.NoError(t, err)
	require.False(t, c.Storage.WAL.Enabled)

	_, err = Parse([]byte("storage:\n  wal:\n    fsync: sometimes\n    fsync_interval: 0s\n    segment_size: 1KiB\n"))
	require.ErrorContains(t, err, `storage.wal.fsync: must be always, interval or never, got "sometimes"`)
	require.ErrorContains(t, err, "storage.wal.fsync_interval: must be from 1ms to 1m")
	require.ErrorContains(t, err, "storage.wal.segment_size: must be from 64KiB to 1GiB")
}

func TestSnapshotConfig(t *testing.T) {
	c, err := Parse(nil)
	require.NoError(t, err)
	require.Equal(t, Duration(5*time.Minute), c.Storage.Snapshot.Interval)

	c, err = Parse([]byte("storage:\n  snapshot:\n    interval: 0s\n"))
	require.NoError(t, err)
	require.Zero(t, c.Storage.Snapshot.Interval, "at shutdown only")

	_, err = Parse([]byte("storage:\n  snapshot:\n    interval: 10ms\n"))
	require.ErrorContains(t, err, "storage.snapshot.interval: must be 0 (at shutdown only) or from 1s to 24h, got 10ms")
}
