package main

import (
	"fmt"
	"io"
	"os"

	"github.com/alecthomas/kingpin/v2"
	"github.com/prometheus/common/version"

	"github.com/sift-itsm/sift/config"
	"github.com/sift-itsm/sift/internal/app"
	"github.com/sift-itsm/sift/rules"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	a := kingpin.New("siftctl", "Operator command line for sift.")
	a.Version(version.Print("siftctl"))
	a.HelpFlag.Short('h')
	// kingpin ends --help and --version through Terminate; record the
	// code instead of exiting so that run stays testable.
	exit := -1
	a.Terminate(func(code int) { exit = code })
	a.UsageWriter(stderr)
	a.ErrorWriter(stderr)

	check := a.Command("check", "Check files offline.")
	checkConfig := check.Command("config", "Check siftd configuration files.")
	configFiles := checkConfig.Arg("file", "Configuration files to check.").Required().ExistingFiles()

	rulesCmd := a.Command("rules", "Work with rule files.")
	rulesCheck := rulesCmd.Command("check", "Check rule files (correlation, inhibition, maintenance).")
	ruleFiles := rulesCheck.Arg("file", "Rule files to check.").Required().ExistingFiles()
	rulesTest := rulesCmd.Command("test", "Run rule unit-test files (docs/rules.md#rule-tests) through the engine.")
	ruleTestFiles := rulesTest.Arg("file", "Rule test files.").Required().ExistingFiles()
	cmdbCmd := a.Command("cmdb", "Work with CMDB import files.")
	cmdbCheck := cmdbCmd.Command("check", "Check CMDB files (YAML, JSON, CSV) as siftd loads cmdb.files: together, as one CMDB.")
	cmdbFiles := cmdbCheck.Arg("file", "CMDB files to check.").Required().ExistingFiles()

	replayCmd := a.Command("replay", "Run the engine over a JSON-lines file of generic events (or the requests of a siftload --ack-log), the clock following the events, and print the incidents as JSON.")
	var ro replayOptions
	replayCmd.Flag("config", "siftd configuration file (incident settings; rules and CMDB files unless given).").StringVar(&ro.config)
	replayCmd.Flag("cmdb", "CMDB files (repeatable); default the config's cmdb.files.").StringsVar(&ro.cmdb)
	replayCmd.Flag("rules", "Rule files (repeatable); default the config's rules.files, else the built-in rules.").StringsVar(&ro.rules)
	replayCmd.Flag("changes", "JSON-lines file of change events (as POST /api/v1/changes takes) for probable changes.").StringVar(&ro.changes)

	var cl client
	incCmd := a.Command("incidents", "Incidents of a running siftd.")
	cl.flags(incCmd)
	incList := incCmd.Command("list", "List incidents, newest first.")
	incState := incList.Flag("state", "open, or one state.").Default("open").String()
	incPriority := incList.Flag("priority", "P1 to P5.").String()
	incLimit := incList.Flag("limit", "Incidents to show.").Default("100").Int()
	incShow := incCmd.Command("show", "Show an incident with its timeline.")
	incShowID := incShow.Arg("id", "Incident id (INC0000001).").Required().String()
	incAck := incCmd.Command("ack", "Acknowledge an incident.")
	incAckID := incAck.Arg("id", "Incident id.").Required().String()
	incResolve := incCmd.Command("resolve", "Resolve an incident.")
	incResolveID := incResolve.Arg("id", "Incident id.").Required().String()
	actor := incCmd.Flag("actor", "Who acts (default: the API's default).").Default("").String()
	comment := incCmd.Flag("comment", "Comment on the transition.").String()
	probCmd := a.Command("problems", "Problems of a running siftd.")
	cl.flags(probCmd)
	probList := probCmd.Command("list", "List problems, newest first.")
	probState := probList.Flag("state", "One state.").String()
	probShow := probCmd.Command("show", "Show a problem.")
	probShowID := probShow.Arg("id", "Problem id (PRB0000001).").Required().String()
	chgCmd := a.Command("changes", "Change events of a running siftd.")
	cl.flags(chgCmd)
	chgList := chgCmd.Command("list", "List the change events within the lookback.")
	var routes routesOptions
	routesShowCmd, routesTestCmd := routesCommands(a, &routes)
	replayCmd.Flag("events", "JSON-lines file of generic events (an object or an array per line).").StringVar(&ro.events)
	replayCmd.Flag("requests", "A siftload --ack-log file: replay the requests siftd acknowledged, each parsed as its receiver parses it, received when it was sent.").StringVar(&ro.requests)
	replayCmd.Flag("in-doubt", "With --requests, replay the requests that got no answer (status 0) too.").BoolVar(&ro.inDoubt)
	replayCmd.Flag("advance", "Run only the timers due within this long after the last event, instead of draining every timer.").DurationVar(&ro.advance)
	replayCmd.Flag("alerts", "Add the alerts still in memory at the end to the output.").BoolVar(&ro.alerts)
	replayCmd.Flag("from-clickhouse", "Replay the events stored in ClickHouse history at this native address (host:port) instead of --events, and print how the incidents of the rules differ from what happened.").StringVar(&ro.fromClickHouse)
	replayCmd.Flag("database", "History database, with --from-clickhouse.").Default("sift").StringVar(&ro.database)
	replayCmd.Flag("since", "How far back to replay, with --from-clickhouse (e.g. 7d).").Default("7d").StringVar(&ro.since)
	replayCmd.Flag("out", "Output file; - for standard output.").Default("-").StringVar(&ro.out)
	replayCmd.Flag("cpuprofile", "Write a CPU profile of the replay to this file.").StringVar(&ro.cpuProfile)

	var rep reportOptions
	rep.register(a)

	if len(args) == 0 {
		a.Usage(nil)
		return 2
	}
	cmd, err := a.Parse(args)
	if exit >= 0 {
		return exit
	}
	if err != nil {
		fmt.Fprintln(stderr, "siftctl:", err)
		return 2
	}
	switch cmd {
	case checkConfig.FullCommand():
		return checkConfigs(*configFiles, stdout, stderr)
	case rulesCheck.FullCommand():
		return checkRules(*ruleFiles, stdout, stderr)
	case rulesTest.FullCommand():
		return testRules(*ruleTestFiles, stdout, stderr)
	case cmdbCheck.FullCommand():
		return checkCMDB(*cmdbFiles, stdout, stderr)
	case replayCmd.FullCommand():
		return replay(ro, stdout, stderr)
	case incList.FullCommand():
		return apiExit(cl.incidentsList(stdout, *incState, *incPriority, *incLimit), stderr)
	case incShow.FullCommand():
		return apiExit(cl.incidentShow(stdout, *incShowID), stderr)
	case incAck.FullCommand():
		return apiExit(cl.incidentAct(stdout, *incAckID, "ack", *actor, *comment), stderr)
	case incResolve.FullCommand():
		return apiExit(cl.incidentAct(stdout, *incResolveID, "resolve", *actor, *comment), stderr)
	case probList.FullCommand():
		return apiExit(cl.problemsList(stdout, *probState), stderr)
	case probShow.FullCommand():
		return apiExit(cl.problemShow(stdout, *probShowID), stderr)
	case chgList.FullCommand():
		return apiExit(cl.changesList(stdout), stderr)
	case routesShowCmd:
		return routesShow(routes, stdout, stderr)
	case routesTestCmd:
		return routesTest(routes, stdout, stderr)
	case rep.recurring.FullCommand(), rep.mtt.FullCommand(), rep.noise.FullCommand():
		return report(&rep, cmd, stdout, stderr)
	}
	return 0
}

// apiExit is the exit code of a command that talks to siftd: 1, with
// the error on stderr, when it failed.
func apiExit(err error, stderr io.Writer) int {
	if err != nil {
		fmt.Fprintln(stderr, "siftctl:", err)
		return 1
	}
	return 0
}

// checkConfigs validates each file as siftd would load it and reports
// every file, so one bad file does not hide the next.
func checkConfigs(files []string, stdout, stderr io.Writer) int {
	code := 0
	for _, f := range files {
		c, err := config.Load(f)
		if err == nil && c.Notify.Enabled() {
			// The notify templates are files of their own: parse them.
			if _, perr := app.NotifyPlan(&c.Notify); perr != nil {
				err = fmt.Errorf("config file %q: %w", f, perr)
			}
		}
		if err != nil {
			fmt.Fprintf(stderr, "FAILED: %v\n", err)
			code = 1
			continue
		}
		fmt.Fprintf(stdout, "SUCCESS: %s is valid siftd configuration\n", f)
	}
	return code
}

// checkRules validates each rule file as siftd would load it, reporting
// every file and every error in it; then, if each file is valid alone,
// the files together, as siftd loads them (names must be unique across
// files).
func checkRules(files []string, stdout, stderr io.Writer) int {
	code := 0
	for _, f := range files {
		s, err := rules.Load(f)
		if err != nil {
			fmt.Fprintf(stderr, "FAILED: %s:\n%v\n", f, err)
			code = 1
			continue
		}
		fmt.Fprintf(stdout, "SUCCESS: %s: %s\n", f, s.Summary())
	}
	if code == 0 && len(files) > 1 {
		if _, err := rules.Load(files...); err != nil {
			fmt.Fprintf(stderr, "FAILED: the files together:\n%v\n", err)
			code = 1
		}
	}
	return code
}
