// Command replaygen writes a JSON-lines stream of generic events for
// benchmarking siftctl replay (docs/benchmarks.md): --series distinct
// alerts bound to the example CMDB's hosts, applications, databases and
// services, each resent every --interval, --per-line events a line, until
// --events are written.
package main

import (
	"bufio"
	"flag"
	"fmt"
	"os"
	"time"

	"github.com/sift-itsm/sift/incident/cmdb"
)

func main() {
	cmdbFile := flag.String("cmdb", "deploy/examples/cmdb.yml", "CMDB whose CIs the alerts bind to")
	events := flag.Int("events", 1_000_000, "events to write")
	series := flag.Int("series", 10_000, "distinct alerts")
	perLine := flag.Int("per-line", 100, "events per line (a JSON array)")
	interval := flag.Duration("interval", 30*time.Second, "how often each alert is resent")
	flag.Parse()

	g, err := cmdb.Load(*cmdbFile)
	if err != nil {
		fmt.Fprintln(os.Stderr, "replaygen:", err)
		os.Exit(1)
	}
	var cis []string
	for _, class := range []string{"host", "application", "database", "service"} {
		for _, c := range g.ByClass(class) {
			cis = append(cis, c.ID)
		}
	}
	w := bufio.NewWriterSize(os.Stdout, 1<<20)
	defer w.Flush()
	t0 := time.Date(2026, 11, 24, 0, 0, 0, 0, time.UTC)
	// One round sends every series once, spread evenly over the interval.
	step := *interval * time.Duration(*perLine) / time.Duration(*series)
	sev := [...]string{"critical", "major", "warning"}
	for n, line := 0, 0; n < *events; line++ {
		ts := t0.Add(time.Duration(line) * step).Format(time.RFC3339Nano)
		w.WriteByte('[')
		for k := 0; k < *perLine && n < *events; k, n = k+1, n+1 {
			if k > 0 {
				w.WriteByte(',')
			}
			s := n % *series
			fmt.Fprintf(w, `{"labels":{"alertname":"A%d","ci":%q,"series":"%d"},"severity":%q,"timestamp":%q}`, s%50, cis[s%len(cis)], s, sev[s%3], ts)
		}
		w.WriteString("]\n")
	}
}
