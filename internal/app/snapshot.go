package app

import (
	"bytes"
	"fmt"
	"io"
	"path/filepath"
	"time"

	"github.com/sift-itsm/sift/internal/snapshot"
	"github.com/sift-itsm/sift/internal/wal"
)

func (a *App) snapshotDir() string { return filepath.Join(a.opts.StoragePath, "snapshots") }

// restore loads the newest snapshot into the engine and returns the log
// position replay starts from: the zero position without one.
func (a *App) restore() (wal.Pos, error) {
	start := time.Now()
	snap, ok, err := snapshot.Latest(a.snapshotDir(), a.logger)
	if err != nil || !ok {
		return wal.Pos{}, err
	}
	if err := a.engine.RestoreSnapshot(bytes.NewReader(snap.State)); err != nil {
		return wal.Pos{}, fmt.Errorf("snapshot %s: %w", snap.Path, err)
	}
	a.logger.Info("restored the snapshot", "path", snap.Path, "wal", snap.Meta.WAL.String(), "alerts", snap.Meta.Alerts,
		"incidents", snap.Meta.Incidents, "taken", snap.Meta.Taken, "took", time.Since(start).Round(time.Millisecond))
	return snap.Meta.WAL, nil
}

// takeSnapshot writes the engine's state once it has drained (at
// shutdown), covering the whole log, and deletes the log before it: the
// next start loads it and replays nothing.
func (a *App) takeSnapshot() {
	if a.wal == nil {
		return
	}
	start := time.Now()
	meta := snapshot.Meta{WAL: a.wal.End(), Taken: time.Now()}
	var state bytes.Buffer
	var err error
	if meta.Alerts, meta.Incidents, err = a.engine.WriteSnapshot(&state); err != nil {
		a.logger.Error("encoding the snapshot failed; the next start replays the whole log", "err", err)
		return
	}
	path, err := snapshot.Write(a.snapshotDir(), meta, func(w io.Writer) error {
		_, err := state.WriteTo(w)
		return err
	})
	if err != nil {
		a.logger.Error("writing the snapshot failed; the next start replays the whole log", "err", err)
		return
	}
	if err := a.wal.Truncate(meta.WAL); err != nil {
		a.logger.Warn("truncating the write-ahead log after the snapshot", "err", err)
	}
	a.logger.Info("wrote a snapshot", "path", path, "wal", meta.WAL.String(), "alerts", meta.Alerts, "incidents", meta.Incidents,
		"took", time.Since(start).Round(time.Millisecond))
}
