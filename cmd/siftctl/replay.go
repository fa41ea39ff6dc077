package main

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"maps"
	"os"
	"runtime/pprof"
	"slices"
	"time"

	"github.com/prometheus/common/model"

	"github.com/sift-itsm/sift/config"
	"github.com/sift-itsm/sift/correlate"
	"github.com/sift-itsm/sift/incident"
	"github.com/sift-itsm/sift/incident/cmdb"
	"github.com/sift-itsm/sift/ingest"
	"github.com/sift-itsm/sift/internal/app"
	"github.com/sift-itsm/sift/rules"
)

// replayBatch is how many lines are applied at once. Timers run in time
// order with the events whatever the batch, so it changes only speed.
const replayBatch = 1000

type replayOptions struct {
	config, events, out string
	changes             string
	cpuProfile          string
	cmdb, rules         []string
	// requests is a siftload --ack-log file (replay_requests.go); inDoubt
	// replays its unanswered requests too.
	requests string
	inDoubt  bool
	// advance, when positive, runs the timers due within it after the
	// last event instead of draining them all; alerts adds the alerts
	// still in memory to the output.
	advance time.Duration
	alerts  bool
	// fromClickHouse replays the events stored in history instead of
	// a file (replay_history.go).
	fromClickHouse, database, since string
}

// replayOutput is what replay writes.
type replayOutput struct {
	Incidents []incident.JSON        `json:"incidents"`
	Problems  []incident.ProblemJSON `json:"problems"`
	// Alerts, with --alerts, are the alerts still in memory at the end,
	// in fingerprint order.
	Alerts []correlate.AlertJSON  `json:"alerts,omitempty"`
	Stats  correlate.OfflineStats `json:"stats"`
}

// replay runs the engine over a JSON-lines file of generic events with the
// clock following the events, drains every timer at the end, and writes
// the incidents.
func replay(o replayOptions, stdout, stderr io.Writer) int {
	fail := func(format string, args ...any) int {
		fmt.Fprintf(stderr, "siftctl replay: "+format+"\n", args...)
		return 1
	}
	cfg := config.Default()
	if o.config != "" {
		c, err := config.Load(o.config)
		if err != nil {
			return fail("%v", err)
		}
		cfg = c
	}
	ruleFiles, cmdbFiles := o.rules, o.cmdb
	if ruleFiles == nil {
		ruleFiles = cfg.Rules.Files
	}
	if cmdbFiles == nil {
		cmdbFiles = cfg.CMDB.Files
	}
	rs, err := rules.Load(ruleFiles...)
	if err != nil {
		return fail("%v", err)
	}
	var topo correlate.Topology
	if len(cmdbFiles) > 0 {
		g, err := cmdb.Load(cmdbFiles...)
		if err != nil {
			return fail("%v", err)
		}
		topo = app.TopologyOf(g)
	}
	inputs := 0
	for _, in := range []string{o.events, o.requests, o.fromClickHouse} {
		if in != "" {
			inputs++
		}
	}
	if inputs > 1 {
		return fail("--events, --requests and --from-clickhouse exclude each other")
	}
	if o.fromClickHouse != "" {
		from, to, err := sinceRange(o.since, time.Now())
		if err != nil {
			return fail("%v", err)
		}
		st, err := openHistory(o.fromClickHouse, o.database)
		if err != nil {
			return fail("%v", err)
		}
		defer st.Close()
		w, done, err := outputFile(o.out, stdout)
		if err != nil {
			return fail("%v", err)
		}
		defer done()
		if err := replayHistory(st, from, to, correlate.NewOffline(app.EngineSettings(cfg), rs, topo), w, stderr); err != nil {
			return fail("%v", err)
		}
		return 0
	}
	if inputs == 0 {
		return fail("--events, --requests or --from-clickhouse is required")
	}
	path := o.events
	if path == "" {
		path = o.requests
	}
	in, err := os.Open(path)
	if err != nil {
		return fail("%v", err)
	}
	defer in.Close()

	if o.cpuProfile != "" {
		pf, err := os.Create(o.cpuProfile)
		if err != nil {
			return fail("%v", err)
		}
		defer pf.Close()
		if err := pprof.StartCPUProfile(pf); err != nil {
			return fail("%v", err)
		}
		defer pprof.StopCPUProfile()
	}
	start := time.Now()
	eng := correlate.NewOffline(app.EngineSettings(cfg), rs, topo)
	if o.changes != "" {
		if err := replayChanges(eng, o.changes); err != nil {
			return fail("%v", err)
		}
	}
	fps := map[model.Fingerprint]struct{}{}
	var summary string
	if o.requests != "" {
		st, err := replayRequests(eng, in, o.inDoubt, int(cfg.Ingest.MaxBodySize), fps)
		if err != nil {
			return fail("%s: %v", o.requests, err)
		}
		summary = fmt.Sprintf(" from %d requests (%d not acknowledged, skipped)", st.replayed, st.skipped)
	} else if err := replayEvents(eng, in, o.events, int(cfg.Ingest.MaxBodySize), fps); err != nil {
		return fail("%v", err)
	}
	if o.advance > 0 {
		eng.Advance(eng.Clock().Add(o.advance))
	} else {
		eng.Drain()
	}
	took := time.Since(start)

	out := replayOutput{Problems: []incident.ProblemJSON{}, Stats: eng.Stats()}
	if o.alerts {
		out.Alerts = []correlate.AlertJSON{}
		for _, fp := range slices.Sorted(maps.Keys(fps)) {
			if a, ok := eng.Alert(fp); ok {
				out.Alerts = append(out.Alerts, a.JSON())
			}
		}
	}
	for _, p := range eng.Problems() {
		out.Problems = append(out.Problems, p.ToJSON())
	}
	for _, inc := range eng.Incidents() {
		out.Incidents = append(out.Incidents, inc.ToJSON(true))
	}
	if out.Incidents == nil {
		out.Incidents = []incident.JSON{}
	}
	w, done, err := outputFile(o.out, stdout)
	if err != nil {
		return fail("%v", err)
	}
	defer done()
	if err := writeJSON(w, out); err != nil {
		return fail("writing: %v", err)
	}
	s := out.Stats
	fmt.Fprintf(stderr, "replayed %d events%s in %s (%.0f events/s): %d alerts, %d suppressed, %d incidents\n",
		s.Events, summary, took.Round(time.Millisecond), float64(s.Events)/took.Seconds(), s.Alerts, s.Suppressed, s.Incidents)
	return 0
}

// replayEvents applies a JSON-lines file of generic events (an object or
// an array a line), each received at its own time, and adds their
// fingerprints to fps.
func replayEvents(eng *correlate.Offline, in io.Reader, name string, maxLine int, fps map[model.Fingerprint]struct{}) error {
	var batch []ingest.Event
	err := jsonLines(in, name, maxLine, func(b []byte) error {
		evs, err := ingest.ParseGeneric(b, eng.Clock())
		if err != nil {
			return err
		}
		for i := range evs {
			fps[evs[i].Fingerprint] = struct{}{}
		}
		batch = append(batch, evs...)
		if len(batch) >= replayBatch {
			eng.Apply(batch)
			batch = nil
		}
		return nil
	})
	if err != nil {
		return err
	}
	eng.Apply(batch)
	return nil
}

// replayChanges feeds a JSON-lines file of change events (an object or an
// array a line, as POST /api/v1/changes takes) to the offline engine.
func replayChanges(eng *correlate.Offline, path string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	return jsonLines(f, path, 8<<20, func(b []byte) error {
		cs, err := correlate.DecodeChanges(b)
		if err != nil {
			return err
		}
		return eng.AddChanges(cs)
	})
}

// jsonLines calls fn with each trimmed line of in (at most maxLine long)
// but blank lines and # comments; errors name the input (name) and line.
func jsonLines(in io.Reader, name string, maxLine int, fn func([]byte) error) error {
	sc := bufio.NewScanner(in)
	sc.Buffer(make([]byte, 1<<20), maxLine)
	for line := 1; sc.Scan(); line++ {
		b := bytes.TrimSpace(sc.Bytes())
		if len(b) == 0 || b[0] == '#' {
			continue
		}
		if err := fn(b); err != nil {
			return fmt.Errorf("%s:%d: %v", name, line, err)
		}
	}
	if err := sc.Err(); err != nil {
		return fmt.Errorf("reading %s: %v", name, err)
	}
	return nil
}
