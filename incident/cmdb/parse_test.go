package cmdb

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
)

// wantErr is an expected import error: file, line and field must be
// exactly these; msg a substring of the message.
type wantErr struct {
	file  string
	line  int
	field string
	msg   string
}

func requireErrors(t *testing.T, err error, want ...wantErr) {
	t.Helper()
	es, ok := AsErrors(err)
	require.True(t, ok, "want import errors, got %v", err)
	require.Len(t, es, len(want), "errors: %v", err)
	for i, w := range want {
		e := es[i]
		require.Equal(t, w.file, e.File, "error %d: %v", i, e)
		require.Equal(t, w.line, e.Line, "error %d: %v", i, e)
		require.Equal(t, w.field, e.Field, "error %d: %v", i, e)
		require.Contains(t, e.Message, w.msg, "error %d: %v", i, e)
	}
}

func load(t *testing.T, files map[string]string, order ...string) (*Graph, error) {
	t.Helper()
	// Relative names, so that errors name the files as written here.
	dir := t.TempDir()
	for _, name := range order {
		require.NoError(t, os.WriteFile(filepath.Join(dir, name), []byte(files[name]), 0o644))
	}
	t.Chdir(dir)
	return Load(order...)
}

func TestParseYAMLGood(t *testing.T) {
	ds, err := Parse("c.yml", FormatYAML, []byte(`
cis:
  - id: db1
    name: Orders DB
    class: database
    environment: prod
    criticality: 1
    support_group: dba
    owner: alice
    attributes: {rack: r1, site: a}
    match:
      - job="postgres"
      - '{db="orders", env=~"prod|dr"}'
  - id: h1
    criticality: ~
    match: ~
    attributes: ~
relations:
  - {from: db1, type: runs_on, to: h1}
`))
	require.NoError(t, err)
	require.Len(t, ds.CIs, 2)
	c := ds.CIs[0]
	require.Equal(t, "Orders DB", c.Name)
	require.Equal(t, 1, c.Criticality)
	require.Equal(t, map[string]string{"rack": "r1", "site": "a"}, c.Attributes)
	require.Equal(t, `[job="postgres" db="orders" env=~"prod|dr"]`, matcherStrings(c))
	require.Equal(t, Source{File: "c.yml", Line: 3, item: "cis[0]"}, c.Source)
	require.Equal(t, CriticalityUnknown, ds.CIs[1].Criticality)
	require.Equal(t, []Relation{{From: "db1", Type: RunsOn, To: "h1", Source: Source{File: "c.yml", Line: 19, item: "relations[0]"}}}, ds.Relations)

	for _, empty := range []string{"", "---\n", "cis: []\n", "cis:\nrelations:\n", "null"} {
		ds, err := Parse("e.yml", FormatYAML, []byte(empty))
		require.NoError(t, err, "%q", empty)
		require.Empty(t, ds.CIs)
	}
}

func matcherStrings(c CI) string {
	s := "["
	for i, m := range c.Match {
		if i > 0 {
			s += " "
		}
		s += m.String()
	}
	return s + "]"
}

func TestParseYAMLErrorsNameFileLineField(t *testing.T) {
	_, err := Parse("cmdb.yml", FormatYAML, []byte(`cis:
  - id: a
    criticality: 7
  - id: b
    colour: red
  - name: no-id
  - id: c
    match: 'job=~"("'
  - id: d
    match: ""
  - id: e
    attributes: [x]
  - " e "
  - id: " f"
relations:
  - {from: a, type: uses, to: b}
  - {from: a, to: b}
  - {from: a, type: runs_on, to: b, why: x}
tags: []
`))
	requireErrors(t, err,
		wantErr{"cmdb.yml", 3, "cis[0].criticality", "from 1 to 4"},
		wantErr{"cmdb.yml", 5, "cis[1].colour", "unknown key"},
		wantErr{"cmdb.yml", 6, "cis[2].id", "missing"},
		wantErr{"cmdb.yml", 8, "cis[3].match", `bad matcher "job=~\"(\""`},
		wantErr{"cmdb.yml", 10, "cis[4].match", "empty matcher"},
		wantErr{"cmdb.yml", 12, "cis[5].attributes", "mapping"},
		wantErr{"cmdb.yml", 13, "cis[6]", "must be a mapping"},
		wantErr{"cmdb.yml", 14, "cis[7].id", "not a valid id"},
		wantErr{"cmdb.yml", 16, "relations[0].type", `unknown relation type "uses"`},
		wantErr{"cmdb.yml", 17, "relations[1].type", "missing"},
		wantErr{"cmdb.yml", 18, "relations[2].why", "unknown key"},
		wantErr{"cmdb.yml", 19, "tags", "unknown key"},
	)
	require.Contains(t, err.Error(), "cmdb.yml:3: cis[0].criticality: must be an integer from 1 to 4")

	// Syntax errors carry the line yaml.v3 reports.
	_, err = Parse("bad.yml", FormatYAML, []byte("cis:\n  - id: a\n\tname: x\n"))
	requireErrors(t, err, wantErr{"bad.yml", 2, "", "found a tab character"})
	_, err = Parse("list.yml", FormatYAML, []byte("- id: a\n"))
	requireErrors(t, err, wantErr{"list.yml", 1, "", "must be a mapping"})
	_, err = Parse("s.yml", FormatYAML, []byte("cis: {id: a}\n"))
	requireErrors(t, err, wantErr{"s.yml", 1, "cis", "must be a list"})
}

func TestParseJSON(t *testing.T) {
	ds, err := Parse("c.json", FormatJSON, []byte(`{
  "cis": [
    {"id": "db1", "criticality": 2, "match": "job=\"postgres\"", "attributes": {"rack": "r1"}},
    {"id": "h1", "criticality": null}
  ],
  "relations": [{"from": "db1", "type": "runs_on", "to": "h1"}]
}`))
	require.NoError(t, err)
	require.Len(t, ds.CIs, 2)
	require.Equal(t, 3, ds.CIs[0].Source.Line)
	require.Equal(t, `[job="postgres"]`, matcherStrings(ds.CIs[0]))
	require.Equal(t, 6, ds.Relations[0].Source.Line)

	_, err = Parse("c.json", FormatJSON, []byte(`{
  "cis": [
    {"id": "db1", "criticality": 5},
    {"id": "h1", "kind": "x"}
  ],
  "relations": [{"from": "db1", "type": "on", "to": "h1"}]
}`))
	requireErrors(t, err,
		wantErr{"c.json", 3, "cis[0].criticality", "got \"5\""},
		wantErr{"c.json", 4, "cis[1].kind", "unknown key"},
		wantErr{"c.json", 6, "relations[0].type", "unknown relation type"},
	)

	_, err = Parse("syntax.json", FormatJSON, []byte("{\n  \"cis\": [\n    {\"id\": \"a\",}\n  ]\n}"))
	requireErrors(t, err, wantErr{"syntax.json", 3, "", "invalid character '}'"})
	_, err = Parse("arr.json", FormatJSON, []byte(`[]`))
	requireErrors(t, err, wantErr{"arr.json", 1, "", "must be an object"})
}

func TestParseCSV(t *testing.T) {
	ds, err := Parse("cis.csv", FormatCSV, []byte("\uFEFFid,name,class,environment,criticality,support_group,owner,match,attributes.Rack\n"+
		"db1,Orders DB,database,prod,1,dba,alice,\"job=\"\"postgres\"\"\",r1\n"+
		"h1, host one ,host,prod,,unix,,,\n"))
	require.NoError(t, err)
	require.Len(t, ds.CIs, 2)
	require.Equal(t, "Orders DB", ds.CIs[0].Name)
	require.Equal(t, `[job="postgres"]`, matcherStrings(ds.CIs[0]))
	require.Equal(t, map[string]string{"Rack": "r1"}, ds.CIs[0].Attributes)
	require.Equal(t, "host one", ds.CIs[1].Name)
	require.Equal(t, Source{File: "cis.csv", Line: 3}, ds.CIs[1].Source)
	require.Nil(t, ds.CIs[1].Attributes)

	ds, err = Parse("relations.csv", FormatCSV, []byte("from,type,to\ndb1,runs_on,h1\n"))
	require.NoError(t, err)
	require.Equal(t, []Relation{{From: "db1", Type: RunsOn, To: "h1", Source: Source{File: "relations.csv", Line: 2}}}, ds.Relations)

	ds, err = Parse("empty.csv", FormatCSV, nil)
	require.NoError(t, err)
	require.Empty(t, ds.CIs)
}

func TestParseCSVErrors(t *testing.T) {
	_, err := Parse("cis.csv", FormatCSV, []byte("id,name,criticality,match\n"+
		"a,A,9,\n"+
		",B,1,\n"+
		"c,C,1,job=~\"(\"\n"+ // quotes in unquoted fields are literal
		"d,D,1\n"+
		"e,E,x,\n"))
	requireErrors(t, err,
		wantErr{"cis.csv", 2, "criticality", `got "9"`},
		wantErr{"cis.csv", 3, "id", "not a valid id"},
		wantErr{"cis.csv", 4, "match", "bad matcher"},
		wantErr{"cis.csv", 5, "", "has 3 fields, the header 4"},
		wantErr{"cis.csv", 6, "criticality", `got "x"`},
	)
	_, err = Parse("relations.csv", FormatCSV, []byte("from,type,to\na,needs,b\n,runs_on,b\na,runs_on,\n"))
	requireErrors(t, err,
		wantErr{"relations.csv", 2, "type", `unknown relation type "needs"`},
		wantErr{"relations.csv", 3, "from", "missing"},
		wantErr{"relations.csv", 4, "to", "missing"},
	)
	for _, c := range []struct{ in, field, msg string }{
		{"id,colour\n", "colour", "unknown column"},
		{"id,attributes.\n", "attributes.", "unknown column"},
		{"id,id\n", "id", "named twice"},
		{"name,class\n", "", "must name the columns"},
		{"from,to\n", "", "needs the columns from, type and to"},
		{"from,type,to,id\n", "", "exactly the columns"},
	} {
		_, err = Parse("h.csv", FormatCSV, []byte(c.in))
		requireErrors(t, err, wantErr{"h.csv", 1, c.field, c.msg})
	}
}

func TestWholeSetValidationNamesEveryProblem(t *testing.T) {
	_, err := load(t, map[string]string{
		"a.yml":         "cis:\n  - {id: x}\n  - {id: y}\nrelations:\n  - {from: x, type: depends_on, to: z}\n  - {from: y, type: runs_on, to: y}\n",
		"cis.csv":       "id,name\nw,W\nx,X again\n",
		"relations.csv": "from,type,to\nx,depends_on,y\nx,depends_on,y\nghost,member_of,w\n",
	}, "a.yml", "cis.csv", "relations.csv")
	requireErrors(t, err,
		wantErr{"cis.csv", 3, "id", `duplicate id "x" (first defined at a.yml:2)`},
		wantErr{"a.yml", 5, "relations[0].to", `relation to unknown CI "z"`},
		wantErr{"a.yml", 6, "relations[1].to", `relation of CI "y" to itself`},
		wantErr{"relations.csv", 3, "", "duplicate relation x depends_on y (first defined at relations.csv:2)"},
		wantErr{"relations.csv", 4, "from", `relation to unknown CI "ghost"`},
	)

	// Decoding errors of several files are all reported too.
	_, err = load(t, map[string]string{
		"a.yml":   "cis:\n  - {id: x, criticality: 5}\n",
		"cis.csv": "id,criticality\ny,6\n",
		"c.txt":   "",
	}, "a.yml", "cis.csv", "c.txt")
	requireErrors(t, err,
		wantErr{"a.yml", 2, "cis[0].criticality", "from 1 to 4"},
		wantErr{"cis.csv", 2, "criticality", "from 1 to 4"},
		wantErr{"c.txt", 0, "", "unknown file type"},
	)
	_, err = Load("missing.yml")
	requireErrors(t, err, wantErr{"missing.yml", 0, "", "no such file"})
}

func TestErrorsAreCapped(t *testing.T) {
	b := []byte("id,criticality\n")
	for range MaxErrors + 5 {
		b = append(b, "a,9\n"...)
	}
	_, err := Parse("big.csv", FormatCSV, b)
	es, ok := AsErrors(err)
	require.True(t, ok)
	require.Len(t, es, MaxErrors+1)
	require.Equal(t, "5 more errors not shown", es[MaxErrors].Message)
}

func TestCrossFileGraph(t *testing.T) {
	g, err := load(t, map[string]string{
		"cis.csv":       "id,name,class,environment,criticality,support_group,owner\nh1,host1,host,prod,2,unix,bob\n",
		"apps.yml":      "cis:\n  - {id: app1, class: application}\n",
		"relations.csv": "from,type,to\napp1,runs_on,h1\n",
	}, "cis.csv", "apps.yml", "relations.csv")
	require.NoError(t, err)
	require.Equal(t, 2, g.Len())
	require.Equal(t, []string{"h1"}, ids(g.Upstream("app1", 1, 0)))
	c, _ := g.CI("h1")
	require.Equal(t, CI{ID: "h1", Name: "host1", Class: "host", Environment: "prod", Criticality: 2, SupportGroup: "unix", Owner: "bob", Source: Source{File: "cis.csv", Line: 2}}, *c)
}
