package app

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/sift-itsm/sift/config"
	"github.com/sift-itsm/sift/incident/history"
	"github.com/sift-itsm/sift/internal/atomicfile"
)

// historySink is the running history writer and its store; nil when
// history is off.
type historySink struct {
	store  *history.Store
	writer *history.Writer
	cancel context.CancelFunc
	done   chan struct{}
}

// newHistory builds the ClickHouse store and writer from the config; both
// nil when history is off. Nothing connects here: the writer prepares the
// schema in the background and spools meanwhile, so siftd starts while
// ClickHouse is away. durable is the last batch mark the write-ahead log
// holds (App.durableMark).
func newHistory(cfg *config.Config, storage string, logger *slog.Logger, reg prometheus.Registerer, now func() time.Time, durable func() uint64) (*historySink, error) {
	c := &cfg.History.ClickHouse
	if !c.Enabled() {
		logger.Info("history is off: no history.clickhouse.addresses configured")
		return nil, nil
	}
	password, err := c.HistoryPassword(os.ReadFile)
	if err != nil {
		return nil, err
	}
	tlsCfg, err := historyTLS(&c.TLS)
	if err != nil {
		return nil, err
	}
	r := c.Retention
	store, err := history.Open(history.Options{
		Addresses:   c.Addresses,
		Database:    c.Database,
		Username:    c.Username,
		Password:    password,
		TLS:         tlsCfg,
		DialTimeout: c.DialTimeout.Std(),
		ReadTimeout: c.ReadTimeout.Std(),
		Compression: c.Compression,
		Retention: history.Retention{
			history.TableEvents: r.Events.Std(), history.TableAlertStates: r.AlertStates.Std(),
			history.TableIncidents: r.Incidents.Std(), history.TableIncidentTimeline: r.IncidentTimeline.Std(),
			history.TableProblems: r.Problems.Std(), history.TableNotifications: r.Notifications.Std(),
		},
		Logger: logger,
		Now:    now,
	})
	if err != nil {
		return nil, err
	}
	var run uint64
	if cfg.Storage.WAL.Enabled {
		if run, err = historyRun(storage, now); err != nil {
			_ = store.Close()
			return nil, err
		}
	}
	w, err := history.NewWriter(store, history.WriterOptions{
		Run:           run,
		Durable:       durable,
		Logger:        logger,
		Registerer:    reg,
		Now:           now,
		BatchMaxRows:  c.BatchMaxRows,
		BatchMaxWait:  c.BatchMaxWait.Std(),
		QueueMaxRows:  c.QueueMaxRows,
		SpoolDir:      filepath.Join(storage, "history-spool"),
		SpoolMaxBytes: int64(c.SpoolMaxSize),
	})
	if err != nil {
		_ = store.Close()
		return nil, err
	}
	logger.Info("history on", "addresses", c.Addresses, "database", c.Database)
	return &historySink{store: store, writer: w}, nil
}

// historyRunFile keeps history's run id (history.WriterOptions.Run) with
// the storage whose batch numbers it goes with.
const historyRunFile = "history-run"

// historyRun is the run id kept in the storage directory, made at the
// first start. With the write-ahead log, batch numbers continue across
// restarts (snapshots and replay restore them) and a replayed batch has
// its live number, so event ids must not change with each start: a
// re-sent batch must get the ids it had. A new storage directory starts
// numbering again, and gets a new run id.
func historyRun(storage string, now func() time.Time) (uint64, error) {
	path := filepath.Join(storage, historyRunFile)
	b, err := os.ReadFile(path)
	if err == nil {
		run, perr := strconv.ParseUint(strings.TrimSpace(string(b)), 10, 64)
		if perr != nil || run == 0 {
			return 0, fmt.Errorf("%s: not a history run id (%q): move it aside to start a new one", path, b)
		}
		return run, nil
	}
	if !errors.Is(err, fs.ErrNotExist) {
		return 0, err
	}
	run := uint64(now().UnixNano()) // New made the storage directory
	if err := atomicfile.Write(path, []byte(strconv.FormatUint(run, 10)+"\n"), 0o644); err != nil {
		return 0, fmt.Errorf("creating the history run id: %w", err)
	}
	return run, nil
}

func historyTLS(c *config.TLSConfig) (*tls.Config, error) {
	if !c.Enabled {
		return nil, nil
	}
	t, err := clientTLS(c, os.ReadFile)
	if err != nil {
		return nil, fmt.Errorf("history.clickhouse.tls.%w", err)
	}
	return t, nil
}

// start runs the writer until stop.
func (h *historySink) start() {
	if h == nil {
		return
	}
	ctx, cancel := context.WithCancel(context.Background())
	h.cancel, h.done = cancel, make(chan struct{})
	go func() {
		defer close(h.done)
		_ = h.writer.Run(ctx)
	}()
}

// stop flushes or spools what the writer holds (bounded by its flush
// timeout) and closes the connections. Call it after the engine drained:
// nothing reaches the writer after that.
func (h *historySink) stop() error {
	if h == nil || h.cancel == nil {
		return nil
	}
	h.cancel()
	<-h.done
	return h.store.Close()
}

func (h *historySink) querier() history.Querier {
	if h == nil {
		return nil
	}
	return h.store
}
