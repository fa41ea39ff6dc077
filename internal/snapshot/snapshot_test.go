package snapshot

import (
	"bytes"
	"encoding/binary"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/sift-itsm/sift/internal/wal"
)

func write(t *testing.T, dir string, seg int, state string) string {
	t.Helper()
	p, err := Write(dir, Meta{WAL: wal.Pos{Segment: seg, Offset: 42}, Kafka: []KafkaOffset{{Topic: "alerts", Partition: 0, Offset: 7}}, Alerts: 3},
		func(w io.Writer) error { _, err := io.WriteString(w, state); return err })
	require.NoError(t, err)
	return p
}

func TestWriteThenLatest(t *testing.T) {
	dir := t.TempDir()
	logger := slog.New(slog.DiscardHandler)
	_, ok, err := Latest(dir, logger)
	require.NoError(t, err)
	require.False(t, ok, "no snapshot yet")

	write(t, dir, 1, "one")
	write(t, dir, 2, "two")
	p3 := write(t, dir, 10, "three") // sorts after 2: names are zero-padded
	s, ok, err := Latest(dir, logger)
	require.NoError(t, err)
	require.True(t, ok)
	require.Equal(t, p3, s.Path)
	require.Equal(t, "three", string(s.State))
	require.Equal(t, wal.Pos{Segment: 10, Offset: 42}, s.Meta.WAL)
	require.Equal(t, []KafkaOffset{{Topic: "alerts", Offset: 7}}, s.Meta.Kafka)

	names, err := list(dir)
	require.NoError(t, err)
	require.Len(t, names, keep, "older snapshots deleted")
	ents, _ := os.ReadDir(dir)
	require.Len(t, ents, keep, "no temporary files left")
}

func TestLatestSkipsADamagedSnapshot(t *testing.T) {
	dir := t.TempDir()
	write(t, dir, 1, "older")
	p := write(t, dir, 2, "newer")
	raw, err := os.ReadFile(p)
	require.NoError(t, err)
	raw[len(raw)-6] ^= 0xff // a flipped byte in the state
	require.NoError(t, os.WriteFile(p, raw, 0o644))
	var logs bytes.Buffer
	s, ok, err := Latest(dir, slog.New(slog.NewTextHandler(&logs, nil)))
	require.NoError(t, err)
	require.True(t, ok)
	require.Equal(t, "older", string(s.State))
	require.Contains(t, logs.String(), "checksum mismatch")

	// A torn file (cut short) and a stray file are skipped the same way.
	require.NoError(t, os.WriteFile(p, raw[:20], 0o644))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "snapshot-99999999-x"), []byte("junk"), 0o644))
	s, ok, err = Latest(dir, slog.New(slog.DiscardHandler))
	require.NoError(t, err)
	require.True(t, ok)
	require.Equal(t, "older", string(s.State))
}

func TestLatestRefusesAnUnknownVersion(t *testing.T) {
	dir := t.TempDir()
	p := write(t, dir, 1, "state")
	raw, err := os.ReadFile(p)
	require.NoError(t, err)
	binary.LittleEndian.PutUint32(raw[len(magic):], Version+1)
	require.NoError(t, os.WriteFile(p, raw, 0o644))
	_, _, err = Latest(dir, slog.New(slog.DiscardHandler))
	var verr *VersionError
	require.ErrorAs(t, err, &verr)
	require.ErrorContains(t, err, "format 2 is not supported by this siftd (reads 1 to 1)")
}
