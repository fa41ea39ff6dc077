package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime/pprof"
	"syscall"

	"github.com/alecthomas/kingpin/v2"
	"github.com/prometheus/common/version"
)

const help = `Load generator for siftd's HTTP receivers.

Formats and endpoints (success code): prometheus POST /api/v2/alerts (200),
alertmanager POST /api/v1/alertmanager, webhook v4 (200), pagerduty POST
/v2/enqueue, one event per request (202), generic POST /api/v1/events (202);
mixed rotates the four request by request.

Series 0, 1, 2... are introduced in order: each event repeats an
already-sent series with probability --duplicate-ratio and otherwise
introduces the next one, until all --series are sent; from then on every
event is a repeat. An alert's first event always fires (siftd ignores a
resolve for an alert it does not hold); repeats are resolved with
probability --resolve-ratio. PagerDuty events are identified by their
dedup_key, so in mixed mode a series sent both as PagerDuty and in another
format is two alerts in siftd.

What is precomputed, so that siftload stays cheap next to siftd: request
bodies are encoded by appending bytes (strconv, no encoding/json). Each
worker pre-encodes, before the clock starts, a pool of steady-state bodies
per format (2 to 256 of them, 64 MiB in all at most) and cycles through
them. Bodies of the introduction phase are encoded once each, on the
worker, into a reused buffer. Time fields that follow the clock
(Prometheus endsAt = now+4m, or now when resolved; generic timestamp) sit at
fixed offsets and are rewritten in place at most once a second per body;
startsAt is fixed per series. One HTTP client is shared, with a keep-alive
connection per worker (MaxIdleConnsPerHost = --concurrency), bodies are
bytes.Readers, and answers are drained so connections are reused. Latency
goes into per-worker log-linear histograms (1.6% buckets) merged at the end.

When the duration is over no new request starts and those in flight are
waited for, so every event sent is counted. siftload exits non-zero if the
target is unreachable or no request succeeded.

Crash testing (docs/durability.md, "Crash test in CI"): --ack-log FILE
records what siftd acknowledged, one JSON line per 2xx request: worker,
format, sent and done (RFC 3339, siftd's receive time lies between them),
status, events and the body as sent. A request that got a connection but
no answer (reset, timeout, siftd killed) is written too, with status 0: it
is in doubt, siftd may have logged it. Other answers, and requests that got
no connection, are not written. siftctl replay --requests FILE replays the
acknowledged lines. --partition gives each worker its own series, so the
events of a series are sent, and applied, in order; --resolve-at-end leaves
no alert firing (Alertmanager and PagerDuty alerts never expire). Without
--ack-log the run does no extra work.`

func main() {
	os.Exit(runMain(os.Args[1:], os.Stdout, os.Stderr))
}

func runMain(args []string, stdout, stderr io.Writer) int {
	var o Options
	a := kingpin.New("siftload", help)
	a.Version(version.Print("siftload"))
	a.HelpFlag.Short('h')
	a.Flag("url", "Base URL of siftd.").Default("http://127.0.0.1:9095").StringVar(&o.URL)
	a.Flag("format", "Wire format: prometheus, alertmanager, pagerduty, generic, or mixed (rotates the four).").
		Default("prometheus").EnumVar(&o.Format, "prometheus", "alertmanager", "pagerduty", "generic", "mixed")
	a.Flag("series", "Distinct alert series (label sets).").Default("10000").IntVar(&o.Series)
	a.Flag("duplicate-ratio", "Fraction of events, 0 to 1, that repeat an already-sent series rather than introduce the next new one; once all series are introduced every event is a repeat.").
		Default("0.9").Float64Var(&o.DuplicateRatio)
	a.Flag("resolve-ratio", "Fraction of repeat events, 0 to 1, sent resolved (a series' first event always fires).").Default("0").Float64Var(&o.ResolveRatio)
	a.Flag("batch", "Events per request. Ignored for pagerduty, whose API takes one event per request.").Default("1000").IntVar(&o.Batch)
	a.Flag("concurrency", "Parallel workers, each with its own keep-alive connection and one request in flight.").Default("4").IntVar(&o.Concurrency)
	a.Flag("duration", "How long to send; 0 for no limit.").Default("10s").DurationVar(&o.Duration)
	a.Flag("requests", "Stop after this many requests in all; 0 for no limit.").Default("0").Int64Var(&o.Requests)
	a.Flag("rate", "Target events per second in all, paced by request start times; 0 for as fast as possible.").Default("0").Float64Var(&o.Rate)
	a.Flag("labels", "Labels per alert: alertname, service, instance, job, severity, cluster, env, team, then label_09... (at least 3).").Default("8").IntVar(&o.Labels)
	a.Flag("seed", "Seed of the random choice of repeated series.").Default("1").Uint64Var(&o.Seed)
	a.Flag("timeout", "Timeout of one request.").Default("10s").DurationVar(&o.Timeout)
	a.Flag("output", "Report format: text or json.").Default("text").EnumVar(&o.Output, "text", "json")
	a.Flag("partition", "Give each worker its own series (those equal to its number modulo --concurrency), so that a series' events are sent one request at a time, in order.").BoolVar(&o.Partition)
	a.Flag("resolve-at-end", "When the run is over, resolve every series introduced, in every format of the run (not counted in the figures above it).").BoolVar(&o.ResolveAtEnd)
	a.Flag("ack-log", "Write each acknowledged request, and each left without an answer after it was sent, to this JSON-lines file (for siftctl replay --requests).").StringVar(&o.AckLog)
	cpuProfile := a.Flag("debug.cpuprofile", "Write a CPU profile of siftload itself to this file.").Hidden().String()
	if _, err := a.Parse(args); err != nil {
		fmt.Fprintln(stderr, "siftload:", err)
		return 2
	}
	if _, _, err := o.validate(); err != nil {
		fmt.Fprintln(stderr, "siftload:", err)
		return 2
	}
	if *cpuProfile != "" {
		f, err := os.Create(*cpuProfile)
		if err == nil {
			err = pprof.StartCPUProfile(f)
		}
		if err != nil {
			fmt.Fprintln(stderr, "siftload:", err)
			return 2
		}
		defer func() {
			pprof.StopCPUProfile()
			_ = f.Close()
		}()
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	res, err := run(ctx, o)
	if res != nil {
		if werr := writeReport(stdout, res, o.Output); werr != nil {
			fmt.Fprintln(stderr, "siftload:", werr)
			return 1
		}
	}
	if err != nil {
		fmt.Fprintln(stderr, "siftload:", err)
		return 1
	}
	return 0
}
