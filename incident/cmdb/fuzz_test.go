package cmdb

import "testing"

// FuzzImport decodes arbitrary bytes as every format and validates what
// decodes: nothing may panic, and an accepted import must index and
// answer queries.
func FuzzImport(f *testing.F) {
	// Small seeds: the fuzzer minimises every interesting input, and
	// large ones make that crawl.
	f.Add([]byte(handMade))
	f.Add([]byte("from,type,to\na,runs_on,b\n"))
	f.Add([]byte(`{"cis":[{"id":"a","match":["x=\"1\"","y=~\"a.*\""]}],"relations":[{"from":"a","type":"runs_on","to":"a"}]}`))
	f.Add([]byte("id,criticality,match,attributes.x\na,1,\"x=~\"\"[\"\"\",v\n"))
	f.Add([]byte("cis: &a [*a]\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		for _, format := range []Format{FormatYAML, FormatJSON, FormatCSV} {
			ds, err := Parse("fuzz", format, b)
			if err != nil {
				if _, ok := AsErrors(err); !ok {
					t.Fatalf("%s: error of type %T, want Errors", format, err)
				}
				continue
			}
			g, err := NewGraph(ds)
			if err != nil {
				continue
			}
			n := 0
			for c := range g.CIs() {
				if n++; n > 5 {
					break
				}
				g.Bind(lbls("instance", c.ID+":9100"))
				g.BlastRadius(c.ID, 3)
				g.Linked(c.ID, ds.CIs[0].ID, 3, 0)
			}
		}
	})
}
