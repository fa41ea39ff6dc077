package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"runtime/debug"
	"syscall"

	"github.com/alecthomas/kingpin/v2"
	"github.com/prometheus/common/promslog"
	"github.com/prometheus/common/promslog/flag"
	"github.com/prometheus/common/version"

	"github.com/sift-itsm/sift/internal/app"
)

func main() {
	os.Exit(run(os.Args[1:]))
}

func run(args []string) int {
	a := kingpin.New("siftd", "sift: monitoring-driven incident and event management daemon.")
	a.Version(version.Print("siftd"))
	a.HelpFlag.Short('h')
	var o app.Options
	a.Flag("config.file", "Configuration file (YAML). Without it siftd runs on the embedded defaults.").StringVar(&o.ConfigFile)
	a.Flag("web.listen-address", "Address to listen on for the API, receivers and metrics.").Default(":9095").StringVar(&o.ListenAddress)
	a.Flag("storage.path", "Directory for siftd's data.").Default("data/").StringVar(&o.StoragePath)
	logCfg := &promslog.Config{}
	flag.AddFlags(a, logCfg)
	if _, err := a.Parse(args); err != nil {
		fmt.Fprintln(os.Stderr, "siftd:", err)
		return 2
	}
	logger := promslog.New(logCfg)
	o.Logger = logger
	if os.Getenv("GOGC") == "" {
		// Trade a little GC CPU for a smaller heap, as Prometheus does
		// (it picks 75). siftd's live heap is the alert state, and the
		// process holds about (1 + GOGC/100) times it: measured with 100k
		// alerts, 50 keeps RSS near 177 MiB where 75 gave 193 MiB, for
		// about 2% more CPU at full ingest rate (docs/benchmarks.md).
		debug.SetGCPercent(50)
	}
	logger.Info("starting siftd", "version", version.Info(), "build_context", version.BuildContext())

	d, err := app.New(o)
	if err != nil {
		logger.Error("cannot start", "err", err)
		return 1
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	go func() {
		for range hup {
			// Reload logs its own outcome; a failure keeps the old config.
			_ = d.Reload()
		}
	}()
	if err := d.Run(ctx, nil); err != nil {
		logger.Error("siftd stopped", "err", err)
		return 1
	}
	return 0
}
