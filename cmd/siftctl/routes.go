package main

import (
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/alecthomas/kingpin/v2"
	"github.com/prometheus/common/model"

	"github.com/sift-itsm/sift/config"
	"github.com/sift-itsm/sift/incident/cmdb"
	"github.com/sift-itsm/sift/ingest"
	"github.com/sift-itsm/sift/internal/app"
	"github.com/sift-itsm/sift/notify"
	"github.com/sift-itsm/sift/rules"
)

// routesOptions are the flags of siftctl routes.
type routesOptions struct {
	config string
	event  string
	at     string
	firing []string
	verify string
	labels []string
}

// routesCommands adds "routes show" and "routes test" and returns their
// full names.
func routesCommands(a *kingpin.Application, o *routesOptions) (show, test string) {
	r := a.Command("routes", "Work with the notification routes (notify.route).")
	s := r.Command("show", "Print the routing tree of a configuration.")
	s.Flag("config", "siftd configuration file.").Required().StringVar(&o.config)
	t := r.Command("test", "Show the receivers an incident event reaches, with maintenance windows and inhibition taken into account.")
	t.Flag("config", "siftd configuration file (notify, rules.files, cmdb.files).").Required().StringVar(&o.config)
	t.Flag("event", "The incident event: "+strings.Join(config.NotifyEvents, ", ")+".").Default("opened").EnumVar(&o.event, config.NotifyEvents...)
	t.Flag("at", "The time maintenance windows are checked at (RFC 3339); now when unset.").StringVar(&o.at)
	t.Flag("firing", "Labels of another firing alert (name=value,name=value) that may inhibit this one; repeatable.").StringsVar(&o.firing)
	t.Flag("verify-receivers", "Fail unless exactly these receivers (comma-separated) are reached.").StringVar(&o.verify)
	t.Arg("labels", "The incident: its fields (priority=P1 support_group=dba state=new rule=… ci=…) and its alerts' labels (service=api environment=prod).").StringsVar(&o.labels)
	return s.FullCommand(), t.FullCommand()
}

func routesShow(o routesOptions, stdout, stderr io.Writer) int {
	cfg, err := config.Load(o.config)
	if err != nil {
		fmt.Fprintf(stderr, "siftctl routes show: %v\n", err)
		return 1
	}
	if !cfg.Notify.Enabled() {
		fmt.Fprintln(stdout, "notify is off: no notify.route")
		return 0
	}
	plan, err := app.NotifyPlan(&cfg.Notify)
	if err != nil {
		fmt.Fprintf(stderr, "siftctl routes show: %v\n", err)
		return 1
	}
	fmt.Fprint(stdout, plan.Route)
	return 0
}

func routesTest(o routesOptions, stdout, stderr io.Writer) int {
	fail := func(format string, args ...any) int {
		fmt.Fprintf(stderr, "siftctl routes test: "+format+"\n", args...)
		return 1
	}
	cfg, err := config.Load(o.config)
	if err != nil {
		return fail("%v", err)
	}
	if !cfg.Notify.Enabled() {
		return fail("%s: notify is off: no notify.route", o.config)
	}
	plan, err := app.NotifyPlan(&cfg.Notify)
	if err != nil {
		return fail("%v", err)
	}
	at := time.Now()
	if o.at != "" {
		if at, err = time.Parse(time.RFC3339, o.at); err != nil {
			return fail("--at: %v", err)
		}
	}
	given, err := parseLabels(o.labels)
	if err != nil {
		return fail("%v", err)
	}
	ev, _ := notify.ParseEvent(o.event)
	alert := ingest.LabelsFromMap(given)

	// The CMDB names the CI, its class and environment, and the support
	// group, unless the description does.
	ls := maps.Clone(given)
	ls["event"] = ev.String()
	if len(cfg.CMDB.Files) > 0 {
		g, err := cmdb.Load(cfg.CMDB.Files...)
		if err != nil {
			return fail("%v", err)
		}
		if ls["ci"] == "" {
			if ci, ok := g.Bind(alert); ok {
				ls["ci"] = ci.ID
			}
		}
		if topo := app.TopologyOf(g); topo != nil && ls["ci"] != "" {
			for _, a := range []string{"class", "environment", "criticality", "support_group"} {
				key := "ci_" + a
				if a == "support_group" {
					key = a
				}
				if v, ok := topo.Attr(ls["ci"], a); ok && v != "" && ls[key] == "" {
					ls[key] = v
				}
			}
		}
	}
	rs, err := rules.Load(cfg.Rules.Files...)
	if err != nil {
		return fail("%v", err)
	}
	if w, ok := rs.InMaintenance(at, ls["ci"], alert); ok {
		fmt.Fprintf(stdout, "suppressed: in maintenance window %s at %s: no incident, no notification\n", w, at.Format(time.RFC3339))
		return verify(o.verify, nil, stdout)
	}
	if len(o.firing) > 0 {
		ix := rules.NewInhibitIndex(rs)
		for i, f := range o.firing {
			m, err := parseLabels(strings.Split(f, ","))
			if err != nil {
				return fail("--firing %q: %v", f, err)
			}
			ix.Add(model.Fingerprint(i+1), ingest.LabelsFromMap(m))
		}
		if inh, ok := ix.Inhibits(alert); ok {
			fmt.Fprintf(stdout, "suppressed: inhibited by rule %s (source --firing %q): no incident, no notification\n", inh.Rule, o.firing[int(inh.Source)-1])
			return verify(o.verify, nil, stdout)
		}
	}
	targets := plan.Route.Receivers(ls)
	var names []string
	for _, t := range targets {
		names = append(names, t.Receiver)
	}
	fmt.Fprintf(stdout, "receivers: %s\n", strings.Join(names, ", "))
	for _, t := range targets {
		line := fmt.Sprintf("  %s via %s", t.Receiver, t.Route)
		if t.RepeatInterval > 0 {
			line += fmt.Sprintf(", repeated every %s while unacknowledged", model.Duration(t.RepeatInterval))
		}
		fmt.Fprintln(stdout, line)
	}
	return verify(o.verify, names, stdout)
}

// verify checks the receivers reached against --verify-receivers.
func verify(want string, got []string, stdout io.Writer) int {
	if want == "" {
		return 0
	}
	var w []string
	for _, r := range strings.Split(want, ",") {
		if r = strings.TrimSpace(r); r != "" {
			w = append(w, r)
		}
	}
	g := slices.Clone(got)
	slices.Sort(w)
	slices.Sort(g)
	if !slices.Equal(w, g) {
		fmt.Fprintf(stdout, "FAILED: want receivers %s\n", strings.Join(w, ", "))
		return 1
	}
	return 0
}

func parseLabels(args []string) (map[string]string, error) {
	m := map[string]string{}
	for _, a := range args {
		k, v, ok := strings.Cut(a, "=")
		if !ok || k == "" {
			return nil, fmt.Errorf("label %q: want name=value", a)
		}
		m[strings.TrimSpace(k)] = strings.Trim(strings.TrimSpace(v), `"`)
	}
	return m, nil
}
