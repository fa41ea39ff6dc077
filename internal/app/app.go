package app

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net"
	"net/http"
	"net/http/pprof"
	"os"
	"path/filepath"
	"reflect"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/go-memdb"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	versioncollector "github.com/prometheus/client_golang/prometheus/collectors/version"
	"github.com/prometheus/client_golang/prometheus/promauto"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/prometheus/common/model"

	"github.com/sift-itsm/sift/config"
	"github.com/sift-itsm/sift/correlate"
	"github.com/sift-itsm/sift/incident"
	"github.com/sift-itsm/sift/incident/cmdb"
	"github.com/sift-itsm/sift/incident/history"
	"github.com/sift-itsm/sift/ingest"
	ingestkafka "github.com/sift-itsm/sift/ingest/kafka"
	"github.com/sift-itsm/sift/internal/httpapi"
	"github.com/sift-itsm/sift/internal/wal"
	"github.com/sift-itsm/sift/notify"
	"github.com/sift-itsm/sift/rules"
)

// Options are what the command line gives the daemon.
type Options struct {
	// ConfigFile is optional: without it the embedded defaults apply.
	ConfigFile    string
	ListenAddress string
	StoragePath   string
	Logger        *slog.Logger
	// Registry collects the metrics; a new one when nil. Tests pass their
	// own to read metrics back.
	Registry *prometheus.Registry
	// Now is the daemon's clock; time.Now when nil.
	Now func() time.Time
	// ShutdownTimeout bounds how long in-flight requests may take to
	// finish at shutdown.
	ShutdownTimeout time.Duration

	// kafkaConsumer, in tests, adjusts the Kafka consumer's options
	// (shorter group timings).
	kafkaConsumer func(*ingestkafka.Options)
}

func (o *Options) validate() error {
	if o.ListenAddress == "" {
		return errors.New("no listen address")
	}
	if o.StoragePath == "" {
		return errors.New("no storage path")
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Registry == nil {
		o.Registry = prometheus.NewRegistry()
		o.Registry.MustRegister(
			collectors.NewGoCollector(),
			collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		)
	}
	if o.Now == nil {
		// UTC: what the log replays comes back in UTC, and a replayed
		// batch must be the live one to the byte (the Kafka output's
		// JSON times, the incidents' times).
		o.Now = func() time.Time { return time.Now().UTC() }
	}
	if o.ShutdownTimeout <= 0 {
		o.ShutdownTimeout = 30 * time.Second
	}
	return nil
}

// App is a running siftd.
type App struct {
	opts     Options
	logger   *slog.Logger
	engine   *correlate.Engine
	receiver *ingest.Receiver
	rules    *rules.Store
	kafka    *kafkaParts
	cmdb     *cmdb.Store
	history  *historySink // nil when history is off
	notify   *notifyParts // nil when notify is off
	wal      *wal.Log     // nil when storage.wal is off
	durable  *wal.Submitter
	marks    *wal.Marks // the engine's batch marks in the log
	handler  http.Handler

	cfgMu sync.Mutex // serialises reloads
	cfg   atomic.Pointer[config.Config]
	ready atomic.Bool

	reloadOK      prometheus.Gauge
	snapMetrics   snapshotMetrics
	replayed      *prometheus.CounterVec
	reloadSuccess prometheus.Gauge
	cfgHash       prometheus.Gauge
}

// New loads the configuration and builds the daemon; Run starts it.
func New(o Options) (*App, error) {
	if err := o.validate(); err != nil {
		return nil, err
	}
	cfg := config.Default()
	if o.ConfigFile != "" {
		c, err := config.Load(o.ConfigFile)
		if err != nil {
			return nil, err
		}
		cfg = c
	}
	ruleSet, err := rules.Load(cfg.Rules.Files...)
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(o.StoragePath, 0o755); err != nil {
		return nil, fmt.Errorf("creating storage path: %w", err)
	}
	reg := o.Registry
	a := &App{opts: o, logger: o.Logger}
	a.cfg.Store(cfg)
	f := promauto.With(reg)
	reg.MustRegister(versioncollector.NewCollector("sift"))
	a.reloadOK = f.NewGauge(prometheus.GaugeOpts{
		Namespace: "sift", Name: "config_last_reload_successful",
		Help: "Whether the last configuration reload attempt was successful.",
	})
	a.reloadSuccess = f.NewGauge(prometheus.GaugeOpts{
		Namespace: "sift", Name: "config_last_reload_success_timestamp_seconds",
		Help: "Timestamp of the last successful configuration reload.",
	})
	a.cfgHash = f.NewGauge(prometheus.GaugeOpts{
		Namespace: "sift", Name: "config_hash",
		Help: "Hash of the loaded configuration file (0 for the embedded defaults).",
	})
	a.snapMetrics = newSnapshotMetrics(f)
	a.replayed = f.NewCounterVec(prometheus.CounterOpts{
		Namespace: "sift", Subsystem: "wal", Name: "replayed_batches_total",
		Help: "Engine batches replayed at start: marked (made as the live engine made them), unmarked (records after the last mark, one batch each), mismatched (a mark the replay could not follow; a bug or a log edited by hand).",
	}, []string{"how"})
	a.reloadOK.Set(1)
	a.reloadSuccess.SetToCurrentTime()
	a.cfgHash.Set(cfg.Hash())
	a.rules = rules.NewStore(rules.StoreOptions{Registerer: reg, Now: o.Now}, ruleSet)

	a.cmdb = cmdb.NewStore(cmdb.Options{Logger: o.Logger.With("component", "cmdb"), Registerer: reg, Now: o.Now})
	if _, err := a.cmdb.LoadFiles(cfg.CMDB.Files); err != nil {
		return nil, err
	}
	a.engine = correlate.New(correlate.Options{
		Logger:        o.Logger.With("component", "engine"),
		Registerer:    reg,
		Now:           o.Now,
		QueueCapacity: cfg.Engine.QueueCapacity,
		Settings:      EngineSettings(cfg),
		Rules:         a.rules.Load,
		Topology:      func() correlate.Topology { return TopologyOf(a.cmdb.Graph()) },
	})
	if a.kafka, err = newKafka(cfg, &o, reg, a.engine, a.durableMark); err != nil {
		return nil, err
	}
	a.history, err = newHistory(cfg, o.StoragePath, o.Logger.With("component", "history"), reg, o.Now, a.durableMark)
	if err != nil {
		return nil, err
	}
	if a.notify, err = newNotify(cfg, &o, reg, a.engine); err != nil {
		return nil, err
	}
	// The write-ahead log opens last: nothing after it can fail, and
	// Open already checks (and repairs) what is on disk.
	var submitter ingest.Submitter = a.engine
	if w := cfg.Storage.WAL; w.Enabled {
		a.wal, err = wal.Open(wal.Options{
			Dir:           filepath.Join(o.StoragePath, "wal"),
			SegmentSize:   int64(w.SegmentSize),
			Fsync:         wal.FsyncMode(w.Fsync),
			FsyncInterval: w.FsyncInterval.Std(),
			Logger:        o.Logger.With("component", "wal"),
			Registerer:    reg,
		})
		if err != nil {
			return nil, fmt.Errorf("storage.wal: %w", err)
		}
		a.durable = wal.NewSubmitter(a.wal, a.engine, o.Logger.With("component", "wal"), reg)
		submitter = a.durable
		a.kafka.useLog(a.durable)
		// Actions, silences, problem updates, change events and
		// notification records: logged in the same order as the events.
		a.engine.SetCommandLog(wal.NewCommander(a.wal, a.engine, o.Logger.With("component", "wal"), reg))
		// How each batch was made, so that a replay makes it again.
		a.marks = wal.NewMarks(a.wal, o.Logger.With("component", "wal"), reg)
		a.engine.SetMarkLog(a.marks)
	}
	a.receiver = ingest.NewReceiver(ingest.ReceiverOptions{
		Submitter:   submitter,
		Logger:      o.Logger.With("component", "ingest"),
		Registerer:  reg,
		Now:         o.Now,
		MaxBodySize: int64(cfg.Ingest.MaxBodySize),
		RetryAfter:  cfg.Ingest.RetryAfter.Std(),
	})

	mux := http.NewServeMux()
	a.receiver.Register(mux)
	correlate.NewAPI(a.engine, o.Logger.With("component", "api")).Register(mux)
	incident.NewAPI(incident.APIOptions{
		DB:       a.engine.DB,
		Actor:    a.engine,
		Problems: a.engine,
		Alert: func(txn *memdb.Txn, fp model.Fingerprint) (any, bool) {
			al, ok := correlate.AlertIn(txn, fp)
			if !ok {
				return nil, false
			}
			return al.JSON(), true
		},
		NotFound: func(err error) bool {
			return errors.Is(err, correlate.ErrNoIncident) || errors.Is(err, correlate.ErrNoProblem)
		},
		MaxBodySize: int64(cfg.Ingest.MaxBodySize),
	}).Register(mux)
	cmdb.NewAPI(a.cmdb, cmdb.APIOptions{
		Logger:        o.Logger.With("component", "cmdb"),
		OpenIncidents: func(ids []string) map[string][]string { return openIncidentsByCI(a.engine.DB().Txn(false), ids) },
	}).Register(mux)
	history.NewAPI(a.history.querier(), o.Logger.With("component", "history_api"), o.Now).Register(mux)
	mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{Registry: reg}))
	mux.HandleFunc("GET /-/healthy", func(w http.ResponseWriter, _ *http.Request) {
		_, _ = w.Write([]byte("Healthy\n"))
	})
	mux.HandleFunc("GET /-/ready", func(w http.ResponseWriter, _ *http.Request) {
		if !a.ready.Load() {
			http.Error(w, "Not ready", http.StatusServiceUnavailable)
			return
		}
		_, _ = w.Write([]byte("Ready\n"))
	})
	mux.HandleFunc("POST /-/reload", func(w http.ResponseWriter, _ *http.Request) {
		if err := a.Reload(); err != nil {
			httpapi.WriteError(w, httpapi.Error{Code: http.StatusBadRequest, Message: err.Error()})
			return
		}
		_, _ = w.Write([]byte("Reloaded\n"))
	})
	// Profiling on the same port, as Prometheus and Alertmanager do: the
	// benchmarks and operators need it on a live daemon.
	mux.HandleFunc("GET /debug/pprof/", pprof.Index)
	mux.HandleFunc("GET /debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("GET /debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("GET /debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("GET /debug/pprof/trace", pprof.Trace)
	a.handler = instrument(reg, mux)
	return a, nil
}

// EngineSettings are the engine settings a configuration gives.
func EngineSettings(c *config.Config) correlate.Settings {
	return correlate.Settings{
		BatchMaxEvents:    c.Engine.BatchMaxEvents,
		BatchMaxWait:      c.Engine.BatchMaxWait.Std(),
		ResolveTimeout:    c.Engine.ResolveTimeout.Std(),
		ResolvedRetention: c.Engine.ResolvedRetention.Std(),
		TickInterval:      c.Engine.TickInterval.Std(),
		ResolveHold:       c.Incidents.ResolveHold.Std(),
		ReopenWindow:      c.Incidents.ReopenWindow.Std(),
		CloseAfter:        c.Incidents.CloseAfter.Std(),
		ClosedRetention:   c.Incidents.ClosedRetention.Std(),
		ImpactSpread:      c.Incidents.ImpactSpread,
		EventSkew:         c.Incidents.EventSkew.Std(),
		FlapChanges:       c.Incidents.Flapping.Changes,
		FlapWindow:        c.Incidents.Flapping.Window.Std(),
		SLATargets:        slaTargets(c),
		SLAPauseOnHold:    c.SLA.PauseOnHold,
		RecurrenceCount:   c.Problems.RecurrenceCount,
		RecurrenceWindow:  c.Problems.RecurrenceWindow.Std(),
		ChangeLookback:    c.Incidents.ChangeLookback.Std(),
	}
}

// slaTargets are the configured targets over the defaults: a file that
// sets only P1 keeps the defaults of the others.
func slaTargets(c *config.Config) [6]incident.SLATarget {
	t := incident.DefaultSLATargets
	for p, v := range c.SLA.Targets {
		if pr, err := incident.ParsePriority(p); err == nil {
			t[pr] = incident.SLATarget{Respond: v.Respond.Std(), Resolve: v.Resolve.Std()}
		}
	}
	return t
}

// Handler is the daemon's HTTP router.
func (a *App) Handler() http.Handler { return a.handler }

// Engine is the daemon's engine.
func (a *App) Engine() *correlate.Engine { return a.engine }

// Rules holds the rule set in force; a reload swaps it.
func (a *App) Rules() *rules.Store { return a.rules }

// CMDB is the daemon's CMDB.
func (a *App) CMDB() *cmdb.Store { return a.cmdb }

// Config is the configuration in force.
func (a *App) Config() *config.Config { return a.cfg.Load() }

// Reload re-reads the config file and applies it. A file that fails to
// load or validate changes nothing, and the error says why.
func (a *App) Reload() error {
	a.cfgMu.Lock()
	defer a.cfgMu.Unlock()
	if a.opts.ConfigFile == "" {
		a.logger.Info("reload requested; no config file, keeping the embedded defaults")
		return nil
	}
	// failed marks the reload failed and says what was kept.
	failed := func(kept string, err error) error {
		a.reloadOK.Set(0)
		a.logger.Error(kept, "err", err)
		return err
	}
	cfg, err := config.Load(a.opts.ConfigFile)
	if err != nil {
		return failed("config reload failed; keeping the previous config", err)
	}
	// What can fail goes first, and a failed reload changes nothing: the
	// notify routes and templates (built, not yet applied), the rules,
	// then the CMDB, which puts the old rules back if it fails.
	var notifyPlan notify.Plan
	if cfg.Notify.Enabled() {
		if notifyPlan, err = NotifyPlan(&cfg.Notify); err != nil {
			return failed("config reload failed; keeping the previous config", err)
		}
	}
	oldRules := a.rules.Load()
	if _, err := a.rules.Reload(cfg.Rules.Files...); err != nil {
		return failed("rule reload failed; keeping the previous config and rules", err)
	}
	if _, err := a.cmdb.LoadFiles(cfg.CMDB.Files); err != nil {
		a.rules.Set(oldRules)
		return failed("config reload failed; keeping the previous config, rules and CMDB", err)
	}
	if running := a.engine.QueueCapacity(); cfg.Engine.QueueCapacity != running {
		a.logger.Warn("engine.queue_capacity changes only at restart", "running", running, "configured", cfg.Engine.QueueCapacity)
	}
	a.engine.SetSettings(EngineSettings(cfg))
	a.kafka.warnReload(cfg)
	a.notify.reload(a.logger.With("component", "notify"), cfg, notifyPlan)
	if !reflect.DeepEqual(cfg.History, a.cfg.Load().History) {
		a.logger.Warn("history settings change only at restart")
	}
	if cfg.Storage.WAL != a.cfg.Load().Storage.WAL {
		a.logger.Warn("storage.wal settings change only at restart")
	}
	a.receiver.SetMaxBodySize(int64(cfg.Ingest.MaxBodySize))
	a.receiver.SetRetryAfter(cfg.Ingest.RetryAfter.Std())
	a.cfg.Store(cfg)
	a.reloadOK.Set(1)
	a.reloadSuccess.SetToCurrentTime()
	a.cfgHash.Set(cfg.Hash())
	a.logger.Info("config reloaded", "file", a.opts.ConfigFile, "rules", a.rules.Load().Summary())
	return nil
}

// Run serves until ctx is cancelled, then shuts down in order. It listens
// on Options.ListenAddress unless ln is given.
func (a *App) Run(ctx context.Context, ln net.Listener) error {
	if ln == nil {
		var err error
		ln, err = net.Listen("tcp", a.opts.ListenAddress)
		if err != nil {
			return fmt.Errorf("listening: %w", err)
		}
	}
	srv := &http.Server{
		Handler:           a.handler,
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       2 * time.Minute,
	}
	a.history.start()
	// History sees the replay: the log's marks make each replayed batch
	// the live one, row for row, so what history had sent collapses onto
	// the rows it has, and what it had not sent (queued in memory when
	// siftd stopped) is sent now (docs/durability.md, "Sinks resume").
	if a.history != nil {
		a.engine.Subscribe(a.history.writer)
	}
	// Recovery before anything runs: the engine applies the log on this
	// goroutine, its clock following the recorded receive times, and
	// nothing is served until the state is the one before the stop.
	if err := a.recover(); err != nil {
		a.closeWAL()
		a.stopHistory()
		return err
	}
	// Notify, unlike history, takes up the recovered incidents whole
	// rather than the replayed batches, against the notification log as
	// the recovery left it: it sends what the log does not record as
	// sent, whether the replay or the snapshot brought it back.
	if err := a.notify.resume(a.engine); err != nil {
		a.closeWAL()
		a.stopHistory()
		return err
	}
	engineErr := make(chan error, 1)
	go func() { engineErr <- a.engine.Run(context.WithoutCancel(ctx)) }()
	snapCtx, stopSnapshots := context.WithCancel(ctx)
	defer stopSnapshots()
	snapDone := make(chan struct{})
	if a.wal != nil {
		go func() { defer close(snapDone); a.snapshotLoop(snapCtx) }()
	} else {
		close(snapDone)
	}
	a.notify.start()
	serveErr := make(chan error, 1)
	go func() { serveErr <- srv.Serve(ln) }()
	a.kafka.start()
	a.ready.Store(true)
	a.logger.Info("siftd listening", "address", ln.Addr().String(), "storage", a.opts.StoragePath, "config", orDefault(a.opts.ConfigFile))

	var runErr error
	select {
	case <-ctx.Done():
	case err := <-serveErr:
		runErr = fmt.Errorf("http server: %w", err)
	case err := <-engineErr:
		runErr = fmt.Errorf("engine stopped: %w", err)
	case err := <-a.kafka.failed:
		runErr = err
	}

	// Shutdown order. Intake stops first, so nothing is accepted that the
	// engine will not apply: readiness goes false, the server stops
	// accepting and waits for in-flight requests (whose events are then
	// queued). Then the engine is closed and drains its queue into the
	// state and the sinks; before it closes, notify delivers what it
	// holds and records the outcomes through the still running engine
	// (stopNotify). Then history sends what it holds or spools it to disk
	// (bounded by its flush timeout) and closes its connections. The
	// write-ahead log closes once the engine has drained (what it holds
	// is replayed at the next start, drained or not).
	a.ready.Store(false)
	a.logger.Info("shutting down: stopping intake")
	sctx, cancel := context.WithTimeout(context.Background(), a.opts.ShutdownTimeout)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		a.logger.Warn("in-flight requests did not finish in time", "err", err)
		_ = srv.Close()
	}
	// The Kafka consumer stops while the engine still runs: it submits
	// what it fetched, waits for the engine to apply it (or, with the
	// log, for the log to hold it) and commits the offsets, so a restart
	// neither loses nor repeats events.
	if err := a.kafka.stopIntake(); err != nil {
		a.logger.Error("kafka consumer did not stop cleanly; uncommitted messages will be consumed again", "err", err)
	}
	// A periodic snapshot in progress finishes first: the one at the end
	// covers everything.
	stopSnapshots()
	<-snapDone
	a.logger.Info("shutting down: draining the engine queue")
	a.stopNotify(sctx)
	a.engine.Close()
	select {
	case <-a.engine.Done():
	case <-sctx.Done():
		// Accepted events are still queued: say so loudly and exit
		// non-zero rather than claim a clean stop.
		n := a.engine.QueueLength()
		a.logger.Error("engine did not drain in time; queued events are lost", "events", n)
		a.closeWAL()
		a.stopHistory()
		return errors.Join(runErr, fmt.Errorf("shutdown: engine did not drain in %s, %d events lost", a.opts.ShutdownTimeout, n))
	}
	// The log after the drain: the HTTP server, its only writer, has
	// stopped. The engine's state covers all of it now: a snapshot makes
	// the next start replay nothing.
	a.takeSnapshot(sctx)
	a.closeWAL()
	// Kafka output last: the engine's final batches are queued by now.
	if err := a.kafka.stopOutput(sctx); err != nil {
		a.logger.Warn("kafka output did not close cleanly", "err", err)
	}
	a.stopHistory()
	a.logger.Info("shutdown complete")
	return runErr
}

// stopNotify lets notify deliver what the engine's batches so far gave
// it, while the engine still runs so that the outcomes are recorded (and
// logged): a notification delivered but not recorded would be sent again
// at the next start. Intake has stopped; the engine's queue is applied
// first. Notify gets half of what is left of the shutdown timeout (the
// engine's drain keeps the rest); what it does not deliver by then, and
// what the engine's last batches add, is not recorded as sent, so the
// next start sends it (docs/durability.md, "Sinks resume").
func (a *App) stopNotify(ctx context.Context) {
	if a.notify == nil {
		return
	}
	select {
	case <-a.engine.Done(): // stopped on an error: nothing to flush
	default:
		if err := a.engine.Flush(ctx); err != nil {
			a.logger.Warn("engine did not drain before notify stopped", "err", err)
		}
	}
	budget := time.Until(deadlineOr(ctx, time.Now())) / 2
	nctx, cancel := context.WithTimeout(ctx, budget)
	defer cancel()
	a.notify.stop(nctx)
}

// deadlineOr is ctx's deadline, or def when it has none.
func deadlineOr(ctx context.Context, def time.Time) time.Time {
	if d, ok := ctx.Deadline(); ok {
		return d
	}
	return def
}

// recover replays the write-ahead log into the engine.
func (a *App) recover() error {
	if a.wal == nil {
		return nil
	}
	from, err := a.restore()
	if err != nil {
		return err
	}
	start := time.Now()
	var eng wal.Replayer = a.engine
	if a.history != nil {
		eng = pacedReplay{a.engine, a.history.writer}
	}
	st, err := wal.Recover(a.wal, from, eng, a.marks)
	if err != nil {
		return fmt.Errorf("recovering from the write-ahead log: %w", err)
	}
	// Where the Kafka consumer resumes: after what the log holds.
	a.durable.SetOffsets(st.Kafka)
	a.logger.Info("recovered from the write-ahead log", "records", st.Records, "events", st.Events, "batches", st.Batches,
		"unmarked", st.Unmarked, "end", st.End.String(), "clock", st.Clock, "took", time.Since(start).Round(time.Millisecond))
	a.replayed.WithLabelValues("marked").Add(float64(st.Batches))
	a.replayed.WithLabelValues("unmarked").Add(float64(st.Unmarked))
	a.replayed.WithLabelValues("mismatched").Add(float64(st.Mismatched))
	if st.Mismatched > 0 {
		// The state is still what the log says; only batch boundaries
		// (so incident versions, history rows) may differ from the live
		// run's.
		a.logger.Error("the replay did not make some batches as the live engine had", "mismatched", st.Mismatched)
	}
	return nil
}

// pacedReplay is the engine as recovery drives it, waiting before each
// replayed batch until history has room for it: a long replay is faster
// than ClickHouse, and history must not drop what it replays.
type pacedReplay struct {
	*correlate.Engine
	history *history.Writer
}

func (p pacedReplay) wait() { _ = p.history.WaitRoom(context.Background()) }

func (p pacedReplay) Replay(now time.Time, events []ingest.Event) {
	p.wait()
	p.Engine.Replay(now, events)
}

func (p pacedReplay) ReplayMarked(m correlate.BatchMark, events []ingest.Event) uint64 {
	p.wait()
	return p.Engine.ReplayMarked(m, events)
}

func (p pacedReplay) ReplayCommand(c *correlate.Command) (any, error) {
	p.wait()
	return p.Engine.ReplayCommand(c)
}

func (p pacedReplay) ReplayCommandMarked(m correlate.BatchMark, c *correlate.Command) (any, uint64, error) {
	p.wait()
	return p.Engine.ReplayCommandMarked(m, c)
}

// durableMark is the last batch mark the log holds durably; history
// holds a batch until its mark is.
func (a *App) durableMark() uint64 {
	if a.marks == nil {
		return math.MaxUint64 // no log, no marks: nothing to wait for
	}
	return a.marks.Durable()
}

func (a *App) closeWAL() {
	if a.wal == nil {
		return
	}
	if err := a.wal.Close(); err != nil {
		a.logger.Warn("closing the write-ahead log", "err", err)
	}
}

func (a *App) stopHistory() {
	if a.history == nil {
		return
	}
	a.logger.Info("shutting down: flushing history")
	if err := a.history.stop(); err != nil {
		a.logger.Warn("closing history", "err", err)
	}
}

func orDefault(file string) string {
	if file == "" {
		return "(embedded defaults)"
	}
	return file
}

// instrument records request count and duration by route pattern. The
// pattern, not the path, is the label, so fingerprints in paths cannot
// make series without bound.
func instrument(reg prometheus.Registerer, mux *http.ServeMux) http.Handler {
	f := promauto.With(reg)
	dur := f.NewHistogramVec(prometheus.HistogramOpts{
		Namespace: "sift", Subsystem: "http", Name: "request_duration_seconds",
		Help:    "HTTP request latency by route.",
		Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5},
	}, []string{"handler"})
	reqs := f.NewCounterVec(prometheus.CounterOpts{
		Namespace: "sift", Subsystem: "http", Name: "requests_total",
		Help: "HTTP requests by route and status code.",
	}, []string{"handler", "code"})
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		rec := &statusRecorder{ResponseWriter: w, code: http.StatusOK}
		mux.ServeHTTP(rec, r)
		h := r.Pattern
		if h == "" {
			h = "unmatched"
		}
		dur.WithLabelValues(h).Observe(time.Since(start).Seconds())
		reqs.WithLabelValues(h, statusText(rec.code)).Inc()
	})
}

type statusRecorder struct {
	http.ResponseWriter
	code int
}

func (s *statusRecorder) WriteHeader(code int) {
	s.code = code
	s.ResponseWriter.WriteHeader(code)
}

// Unwrap lets http.ResponseController reach the underlying writer (the
// receivers' MaxBytesReader needs it to close oversized uploads).
func (s *statusRecorder) Unwrap() http.ResponseWriter { return s.ResponseWriter }

func statusText(code int) string {
	switch {
	case code < 100 || code > 599:
		return "other"
	}
	return fmt.Sprint(code)
}
