package main

import (
	"fmt"
	"io"
	"os"

	"github.com/alecthomas/kingpin/v2"
	"github.com/prometheus/common/version"

	"github.com/sift-itsm/sift/config"
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

	cmdbCmd := a.Command("cmdb", "Work with CMDB import files.")
	cmdbCheck := cmdbCmd.Command("check", "Check CMDB files (YAML, JSON, CSV) as siftd loads cmdb.files: together, as one CMDB.")
	cmdbFiles := cmdbCheck.Arg("file", "CMDB files to check.").Required().ExistingFiles()

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
	case cmdbCheck.FullCommand():
		return checkCMDB(*cmdbFiles, stdout, stderr)
	}
	return 0
}

// checkConfigs validates each file as siftd would load it and reports
// every file, so one bad file does not hide the next.
func checkConfigs(files []string, stdout, stderr io.Writer) int {
	code := 0
	for _, f := range files {
		if _, err := config.Load(f); err != nil {
			fmt.Fprintf(stderr, "FAILED: %v\n", err)
			code = 1
			continue
		}
		fmt.Fprintf(stdout, "SUCCESS: %s is valid siftd configuration\n", f)
	}
	return code
}
