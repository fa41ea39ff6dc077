package main

import (
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/alecthomas/kingpin/v2"
	"github.com/prometheus/common/model"

	"github.com/sift-itsm/sift/incident/history"
)

// reportOptions are the flags of siftctl report: the analytics of a
// running siftd (GET /api/v1/analytics/...), printed as tables or JSON.
type reportOptions struct {
	client
	from, to      string
	since         string
	limit         int
	minChanges    int
	now           func() time.Time
	recurring     *kingpin.CmdClause
	mtt, noise    *kingpin.CmdClause
	reportCommand *kingpin.CmdClause
}

func (o *reportOptions) register(a *kingpin.Application) {
	o.reportCommand = a.Command("report", "Print history analytics of a running siftd (needs history in ClickHouse).")
	o.client.flags(o.reportCommand)
	// Analytics may take the server's whole query timeout.
	o.timeout = 2 * history.QueryTimeout
	o.reportCommand.Flag("since", "Report on this long before --to (e.g. 7d, 12h); ignored with --from.").Default("30d").StringVar(&o.since)
	o.reportCommand.Flag("from", "Start of the range (RFC 3339 or Unix seconds).").StringVar(&o.from)
	o.reportCommand.Flag("to", "End of the range (RFC 3339 or Unix seconds); default now.").StringVar(&o.to)
	o.recurring = o.reportCommand.Command("recurring", "Signatures (rule and group key), CIs and services with the most incidents.")
	o.recurring.Flag("limit", "Length of each top list.").Default("10").IntVar(&o.limit)
	o.mtt = o.reportCommand.Command("mtt", "Mean and median time to acknowledge and to resolve, by priority, service and support group.")
	o.noise = o.reportCommand.Command("noise", "Events per incident, the noisiest alerts and the flapping ones.")
	o.noise.Flag("limit", "Length of each top list.").Default("10").IntVar(&o.limit)
	o.noise.Flag("min-changes", "Firing/resolved changes in the range that make an alert flapping.").Default(strconv.Itoa(history.DefaultMinChanges)).IntVar(&o.minChanges)
}

// query is the range (and limit) as the API's query string.
func (o *reportOptions) query(limit bool) (url.Values, error) {
	q := url.Values{}
	now := time.Now
	if o.now != nil {
		now = o.now
	}
	to := now().UTC()
	if o.to != "" {
		q.Set("to", o.to)
		t, err := time.Parse(time.RFC3339Nano, o.to)
		if err == nil {
			to = t
		}
	} else {
		q.Set("to", to.Format(time.RFC3339))
	}
	if o.from != "" {
		q.Set("from", o.from)
	} else {
		from, _, err := sinceRange(o.since, to)
		if err != nil {
			return nil, err
		}
		q.Set("from", from.Format(time.RFC3339))
	}
	if limit {
		q.Set("limit", strconv.Itoa(o.limit))
	}
	return q, nil
}

// report runs the report subcommand cmd.
func report(o *reportOptions, cmd string, stdout, stderr io.Writer) int {
	fail := func(err error) int {
		fmt.Fprintln(stderr, "siftctl report:", err)
		return 1
	}
	var (
		v      any
		path   string
		render func(*tabwriter.Writer)
	)
	switch cmd {
	case o.recurring.FullCommand():
		var r history.Recurring
		v, path, render = &r, "/api/v1/analytics/recurring", func(w *tabwriter.Writer) { printRecurring(w, &r) }
	case o.mtt.FullCommand():
		var m history.MTT
		v, path, render = &m, "/api/v1/analytics/mtt", func(w *tabwriter.Writer) { printMTT(w, &m) }
	case o.noise.FullCommand():
		var n history.Noise
		v, path, render = &n, "/api/v1/analytics/noise", func(w *tabwriter.Writer) { printNoise(w, &n) }
	}
	q, err := o.query(cmd != o.mtt.FullCommand())
	if err != nil {
		return fail(err)
	}
	if cmd == o.noise.FullCommand() {
		q.Set("min_changes", strconv.Itoa(o.minChanges))
	}
	if err := o.do(http.MethodGet, path+"?"+q.Encode(), nil, v); err != nil {
		return fail(err)
	}
	if err := o.show(stdout, v, render); err != nil {
		return fail(err)
	}
	return 0
}

func printRange(w io.Writer, r history.Range) {
	fmt.Fprintf(w, "from %s to %s\n", r.From.UTC().Format(time.RFC3339), r.To.UTC().Format(time.RFC3339))
}

func printRecurring(w *tabwriter.Writer, r *history.Recurring) {
	printRange(w, r.Range)
	fmt.Fprintf(w, "%d incidents opened\n", r.Incidents)
	for _, sec := range []struct {
		title string
		rows  []history.RecurringEntry
	}{{"SIGNATURE", r.Signatures}, {"CI", r.CIs}, {"SERVICE", r.Services}} {
		// A signature's problem, if it has one: recurring failures
		// without one are the problem manager's to look at.
		signatures := sec.title == "SIGNATURE"
		fmt.Fprintf(w, "\n%s\tINCIDENTS\tEVENTS\tFIRST OPENED\tLAST OPENED\tLAST INCIDENT", sec.title)
		if signatures {
			fmt.Fprint(w, "\tPROBLEM")
		}
		fmt.Fprintln(w)
		for _, e := range sec.rows {
			fmt.Fprintf(w, "%s\t%d\t%d\t%s\t%s\t%s", e.Key, e.Incidents, e.Events,
				e.FirstOpened.UTC().Format(time.RFC3339), e.LastOpened.UTC().Format(time.RFC3339), e.LastIncident)
			if signatures {
				fmt.Fprintf(w, "\t%s", dash(e.ProblemID))
			}
			fmt.Fprintln(w)
		}
	}
}

func printMTT(w *tabwriter.Writer, m *history.MTT) {
	printRange(w, m.Range)
	fmt.Fprintln(w, "\nBY\tGROUP\tINCIDENTS\tACKNOWLEDGED\tMTTA\tMEDIAN TTA\tRESOLVED\tMTTR\tMEDIAN TTR")
	row := func(by string, e history.MTTEntry) {
		fmt.Fprintf(w, "%s\t%s\t%d\t%d\t%s\t%s\t%d\t%s\t%s\n", by, dash(e.Key), e.Incidents, e.Acknowledged, secs(e.MTTASeconds, e.Acknowledged),
			secs(e.MedianTTA, e.Acknowledged), e.Resolved, secs(e.MTTRSeconds, e.Resolved), secs(e.MedianTTR, e.Resolved))
	}
	row("all", m.All)
	for _, g := range []struct {
		by   string
		rows []history.MTTEntry
	}{{"priority", m.ByPriority}, {"service", m.ByService}, {"support group", m.BySupportGroup}} {
		for _, e := range g.rows {
			row(g.by, e)
		}
	}
}

// secs formats seconds as a duration, "-" when nothing was measured.
func secs(s float64, n uint64) string {
	if n == 0 {
		return "-"
	}
	return time.Duration(s * float64(time.Second)).Round(time.Second).String()
}

func printNoise(w *tabwriter.Writer, n *history.Noise) {
	printRange(w, n.Range)
	fmt.Fprintf(w, "%d events, %d in %d incidents: %.1f per incident (median %.0f, max %d)\n",
		n.Events, n.EventsInIncidents, n.Incidents, n.EventsPerIncident, n.MedianPerIncident, n.MaxPerIncident)
	fmt.Fprintln(w, "\nINCIDENT\tEVENTS")
	for _, i := range n.TopIncidents {
		fmt.Fprintf(w, "%s\t%d\n", i.ID, i.Events)
	}
	fmt.Fprintln(w, "\nNOISIEST ALERT\tFINGERPRINT\tEVENTS\tINCIDENTS\tLABELS")
	for _, a := range n.NoisiestAlerts {
		fmt.Fprintf(w, "%s\t%s\t%d\t%d\t%s\n", a.Alertname, a.Fingerprint, a.Events, a.Incidents, labelSet(a.Labels))
	}
	fmt.Fprintln(w, "\nFLAPPING ALERT\tFINGERPRINT\tCHANGES\tOPENED\tRESOLVED\tINCIDENTS")
	for _, a := range n.Flapping {
		fmt.Fprintf(w, "%s\t%s\t%d\t%d\t%d\t%s\n", a.Alertname, a.Fingerprint, a.Changes, a.Opened, a.Resolved, strings.Join(a.Incidents, ","))
	}
}

func labelSet(m map[string]string) model.LabelSet {
	ls := make(model.LabelSet, len(m))
	for k, v := range m {
		ls[model.LabelName(k)] = model.LabelValue(v)
	}
	return ls
}
