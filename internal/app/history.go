package app

import (
	"context"
	"crypto/tls"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/sift-itsm/sift/config"
	"github.com/sift-itsm/sift/incident/history"
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
// ClickHouse is away.
func newHistory(cfg *config.Config, storage string, logger *slog.Logger, reg prometheus.Registerer, now func() time.Time) (*historySink, error) {
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
	w, err := history.NewWriter(store, history.WriterOptions{
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
