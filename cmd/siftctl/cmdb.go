package main

import (
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"

	"github.com/sift-itsm/sift/incident/cmdb"
)

// checkCMDB validates the files together, as siftd loads cmdb.files
// (relations may point into another file), and prints every error or the
// counts.
func checkCMDB(files []string, stdout, stderr io.Writer) int {
	g, err := cmdb.Load(files...)
	if err != nil {
		if es, ok := cmdb.AsErrors(err); ok {
			fmt.Fprintf(stderr, "FAILED: %d errors in %s\n", len(es), strings.Join(files, ", "))
			for _, e := range es {
				fmt.Fprintln(stderr, "  "+e.Error())
			}
		} else {
			fmt.Fprintf(stderr, "FAILED: %v\n", err)
		}
		return 1
	}
	classes := map[string]int{}
	matchers := 0
	for c := range g.CIs() {
		classes[c.Class]++
		if len(c.Match) > 0 {
			matchers++
		}
	}
	fmt.Fprintf(stdout, "SUCCESS: %s: %d CIs (%d with match), %d relations\n", strings.Join(files, ", "), g.Len(), matchers, g.NumRelations())
	for _, class := range slices.Sorted(maps.Keys(classes)) {
		name := class
		if name == "" {
			name = "(no class)"
		}
		fmt.Fprintf(stdout, "  %-20s %d\n", name, classes[class])
	}
	return 0
}
