package cmdb

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"
)

// Format is an import file format.
type Format int

// The import formats.
const (
	FormatYAML Format = iota
	FormatJSON
	// FormatCSV is either cis.csv or relations.csv; the header says which.
	FormatCSV
)

func (f Format) String() string {
	switch f {
	case FormatJSON:
		return "json"
	case FormatCSV:
		return "csv"
	}
	return "yaml"
}

// FormatOf picks the format from a file name's extension: .yml, .yaml,
// .json or .csv.
func FormatOf(path string) (Format, bool) {
	switch strings.ToLower(filepath.Ext(path)) {
	case ".yml", ".yaml":
		return FormatYAML, true
	case ".json":
		return FormatJSON, true
	case ".csv":
		return FormatCSV, true
	}
	return 0, false
}

// ParseFiles reads and decodes the files in order into one dataset. It
// reports every error of every file; a dataset is returned only without
// errors. The dataset is not yet validated as a whole (NewGraph does).
func ParseFiles(paths ...string) (*Dataset, error) {
	contents := make([][]byte, len(paths))
	var errs errList
	for i, p := range paths {
		b, err := os.ReadFile(p)
		if err != nil {
			errs.add(Source{File: p}, "", "%v", errors.Unwrap(err))
		}
		contents[i] = b
	}
	if err := errs.err(); err != nil {
		return nil, err
	}
	return parseContents(paths, contents)
}

func parseContents(paths []string, contents [][]byte) (*Dataset, error) {
	ds := &Dataset{}
	var errs errList
	for i, p := range paths {
		f, ok := FormatOf(p)
		if !ok {
			errs.add(Source{File: p}, "", "unknown file type (want .yml, .yaml, .json or .csv)")
			continue
		}
		decode(p, f, contents[i], ds, &errs)
	}
	if err := errs.err(); err != nil {
		return nil, err
	}
	return ds, nil
}

// Parse decodes one file's content; file names it in errors.
func Parse(file string, f Format, b []byte) (*Dataset, error) {
	ds := &Dataset{}
	var errs errList
	decode(file, f, b, ds, &errs)
	if err := errs.err(); err != nil {
		return nil, err
	}
	return ds, nil
}

func decode(file string, f Format, b []byte, ds *Dataset, errs *errList) {
	switch f {
	case FormatCSV:
		decodeCSV(file, b, csvAny, ds, errs)
	case FormatJSON:
		decodeJSON(file, b, ds, errs)
	default:
		decodeYAML(file, b, ds, errs)
	}
}

var yamlLine = regexp.MustCompile(`^yaml: line (\d+): (.*)$`)

// decodeYAML walks the node tree rather than decoding into structs, so
// that every error names its line and field, unknown keys are errors, and
// all errors are reported at once.
func decodeYAML(file string, b []byte, ds *Dataset, errs *errList) {
	var doc yaml.Node
	if err := yaml.Unmarshal(b, &doc); err != nil {
		src, msg := Source{File: file}, err.Error()
		if m := yamlLine.FindStringSubmatch(msg); m != nil {
			src.Line, _ = strconv.Atoi(m[1])
			msg = m[2]
		}
		errs.add(src, "", "%s", strings.TrimPrefix(msg, "yaml: "))
		return
	}
	if len(doc.Content) == 0 {
		return // an empty file is an empty CMDB
	}
	root := deref(doc.Content[0])
	if isNull(root) {
		return
	}
	if root.Kind != yaml.MappingNode {
		errs.add(at(file, root.Line), "", "must be a mapping with the keys cis and relations")
		return
	}
	for i := 0; i+1 < len(root.Content); i += 2 {
		k, v := root.Content[i], deref(root.Content[i+1])
		switch k.Value {
		case "cis":
			forEach(file, "cis", v, errs, func(n int, item *yaml.Node) {
				if ci, ok := decodeCI(file, fmt.Sprintf("cis[%d]", n), item, errs); ok {
					ds.CIs = append(ds.CIs, ci)
				}
			})
		case "relations":
			forEach(file, "relations", v, errs, func(n int, item *yaml.Node) {
				if r, ok := decodeRelation(file, fmt.Sprintf("relations[%d]", n), item, errs); ok {
					ds.Relations = append(ds.Relations, r)
				}
			})
		default:
			errs.add(at(file, k.Line), k.Value, "unknown key (want cis or relations)")
		}
	}
}

// decodeJSON checks JSON syntax with encoding/json (JSON's own errors and
// rules), then walks the document as YAML, of which JSON is a subset, to
// get line numbers.
func decodeJSON(file string, b []byte, ds *Dataset, errs *errList) {
	var v any
	if err := json.Unmarshal(b, &v); err != nil {
		src := Source{File: file}
		var se *json.SyntaxError
		if errors.As(err, &se) {
			src.Line = lineAt(b, se.Offset)
		}
		errs.add(src, "", "%v", err)
		return
	}
	if _, ok := v.(map[string]any); !ok {
		errs.add(at(file, 1), "", "must be an object with the keys cis and relations")
		return
	}
	decodeYAML(file, b, ds, errs)
}

func lineAt(b []byte, off int64) int {
	off = min(max(off, 0), int64(len(b)))
	return bytes.Count(b[:off], []byte{'\n'}) + 1
}

func deref(n *yaml.Node) *yaml.Node {
	for n != nil && n.Kind == yaml.AliasNode {
		n = n.Alias
	}
	return n
}

func isNull(n *yaml.Node) bool { return n.Kind == yaml.ScalarNode && n.Tag == "!!null" }

func forEach(file, field string, n *yaml.Node, errs *errList, f func(int, *yaml.Node)) {
	if isNull(n) {
		return
	}
	if n.Kind != yaml.SequenceNode {
		errs.add(at(file, n.Line), field, "must be a list")
		return
	}
	for i, item := range n.Content {
		f(i, deref(item))
	}
}

// scalar returns a scalar's text; null is "".
func scalar(file, field string, n *yaml.Node, errs *errList) (string, bool) {
	n = deref(n)
	if n.Kind != yaml.ScalarNode {
		errs.add(at(file, n.Line), field, "must be a string")
		return "", false
	}
	if isNull(n) {
		return "", true
	}
	return n.Value, true
}

func decodeCI(file, field string, n *yaml.Node, errs *errList) (CI, bool) {
	ci := CI{Source: Source{File: file, Line: n.Line, item: field}}
	if n.Kind != yaml.MappingNode {
		errs.add(ci.Source, field, "must be a mapping")
		return ci, false
	}
	ok := true
	var hasID bool
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], deref(n.Content[i+1])
		f := field + "." + k.Value
		src := at(file, v.Line)
		set := func(dst *string) {
			s, good := scalar(file, f, v, errs)
			*dst = s
			ok = ok && good
		}
		switch k.Value {
		case "id":
			set(&ci.ID)
			hasID = true
		case "name":
			set(&ci.Name)
		case "class":
			set(&ci.Class)
		case "environment":
			set(&ci.Environment)
		case "support_group":
			set(&ci.SupportGroup)
		case "owner":
			set(&ci.Owner)
		case "criticality":
			var s string
			set(&s)
			if c, err := parseCriticality(s); err != nil {
				errs.add(src, f, "%v", err)
				ok = false
			} else {
				ci.Criticality = c
			}
		case "attributes":
			if isNull(v) {
				continue
			}
			if v.Kind != yaml.MappingNode {
				errs.add(src, f, "must be a mapping of strings")
				ok = false
				continue
			}
			ci.Attributes = make(map[string]string, len(v.Content)/2)
			for j := 0; j+1 < len(v.Content); j += 2 {
				s, good := scalar(file, f+"."+v.Content[j].Value, v.Content[j+1], errs)
				ci.Attributes[v.Content[j].Value] = s
				ok = ok && good
			}
		case "match":
			var exprs []string
			switch {
			case isNull(v):
			case v.Kind == yaml.ScalarNode:
				exprs = []string{v.Value}
			case v.Kind == yaml.SequenceNode:
				for j, e := range v.Content {
					s, good := scalar(file, fmt.Sprintf("%s[%d]", f, j), e, errs)
					ok = ok && good
					exprs = append(exprs, s)
				}
			default:
				errs.add(src, f, "must be a matcher string or a list of them")
				ok = false
			}
			for _, e := range exprs {
				ms, err := ParseMatch(e)
				if err != nil {
					errs.add(src, f, "bad matcher %q: %v", e, err)
					ok = false
					continue
				}
				ci.Match = append(ci.Match, ms...)
			}
		default:
			errs.add(at(file, k.Line), f, "unknown key")
			ok = false
		}
	}
	if !hasID {
		errs.add(ci.Source, field+".id", "missing")
		return ci, false
	}
	if !validID(ci.ID) {
		errs.add(ci.Source, field+".id", "%q is not a valid id (not empty, no surrounding spaces or control characters)", ci.ID)
		ok = false
	}
	return ci, ok
}

func parseCriticality(s string) (int, error) {
	if s == "" {
		return CriticalityUnknown, nil
	}
	c, err := strconv.Atoi(strings.TrimSpace(s))
	if err != nil || c < 0 || c > CriticalityMax {
		return 0, fmt.Errorf("must be an integer from 1 to 4 (0 or empty: unknown), got %q", s)
	}
	return c, nil
}

func decodeRelation(file, field string, n *yaml.Node, errs *errList) (Relation, bool) {
	r := Relation{Source: Source{File: file, Line: n.Line, item: field}}
	if n.Kind != yaml.MappingNode {
		errs.add(r.Source, field, "must be a mapping with from, type and to")
		return r, false
	}
	ok := true
	var typ string
	var seen [3]bool
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		f := field + "." + k.Value
		var dst *string
		switch k.Value {
		case "from":
			dst, seen[0] = &r.From, true
		case "type":
			dst, seen[1] = &typ, true
		case "to":
			dst, seen[2] = &r.To, true
		default:
			errs.add(at(file, k.Line), f, "unknown key (want from, type, to)")
			ok = false
			continue
		}
		s, good := scalar(file, f, v, errs)
		*dst = s
		ok = ok && good
		if k.Value == "type" && good {
			t, valid := ParseRelType(s)
			if !valid {
				errs.add(at(file, deref(v).Line), f, "unknown relation type %q (want %s)", s, relTypeList)
				ok = false
			}
			r.Type = t
		}
	}
	for i, name := range [3]string{"from", "type", "to"} {
		if !seen[i] {
			errs.add(r.Source, field+"."+name, "missing")
			ok = false
		}
	}
	return r, ok
}

// CSV columns of cis.csv. id is required; the others are optional and in
// any order. A column named attributes.KEY sets attribute KEY; match holds
// matchers as in YAML.
var ciColumns = map[string]bool{
	"id": true, "name": true, "class": true, "environment": true, "criticality": true,
	"support_group": true, "owner": true, "match": true,
}

// csvKind is what a CSV file must hold.
type csvKind int

const (
	csvAny csvKind = iota // the header decides
	csvCIs
	csvRelations
)

func decodeCSV(file string, b []byte, want csvKind, ds *Dataset, errs *errList) {
	b = bytes.TrimPrefix(b, []byte("\uFEFF")) // spreadsheet exports start with a BOM
	r := csv.NewReader(bytes.NewReader(b))
	r.TrimLeadingSpace = true
	r.LazyQuotes = true // matchers hold quotes: job="x" needs no CSV quoting
	header, err := r.Read()
	if errors.Is(err, io.EOF) {
		return
	}
	if err != nil {
		csvError(file, err, errs)
		return
	}
	col := make(map[string]int, len(header))
	attrKeys := make([]string, len(header)) // attribute names keep their case
	for i, h := range header {
		h = strings.TrimSpace(h)
		if len(h) > len("attributes.") && strings.EqualFold(h[:len("attributes.")], "attributes.") {
			attrKeys[i] = h[len("attributes."):]
		}
		h = strings.ToLower(h)
		header[i] = h
		if _, dup := col[h]; dup {
			errs.add(at(file, 1), h, "column named twice in the header")
			return
		}
		col[h] = i
	}
	_, hasFrom := col["from"]
	_, hasTo := col["to"]
	_, hasType := col["type"]
	_, hasID := col["id"]
	relations := hasFrom || hasTo || hasType
	switch {
	case relations && !(hasFrom && hasTo && hasType):
		errs.add(at(file, 1), "", "a relations header needs the columns from, type and to")
		return
	case relations && len(header) != 3:
		errs.add(at(file, 1), "", "a relations header has exactly the columns from, type and to")
		return
	case !relations && !hasID:
		errs.add(at(file, 1), "", "the header must name the columns id,name,class,environment,criticality,support_group,owner (CIs) or from,type,to (relations)")
		return
	case want == csvCIs && relations:
		errs.add(at(file, 1), "", "holds relations (header from,type,to) where CIs were expected")
		return
	case want == csvRelations && !relations:
		errs.add(at(file, 1), "", "holds CIs where relations (header from,type,to) were expected")
		return
	}
	if !relations {
		bad := false
		for i, h := range header {
			if !ciColumns[h] && attrKeys[i] == "" {
				errs.add(at(file, 1), h, "unknown column (want id, name, class, environment, criticality, support_group, owner, match or attributes.KEY)")
				bad = true
			}
		}
		if bad {
			return
		}
	}
	for {
		rec, err := r.Read()
		if errors.Is(err, io.EOF) {
			return
		}
		if err != nil {
			var pe *csv.ParseError
			if errors.As(err, &pe) && errors.Is(pe.Err, csv.ErrFieldCount) {
				errs.add(at(file, pe.StartLine), "", "has %d fields, the header %d", len(rec), len(header))
				continue
			}
			csvError(file, err, errs)
			return
		}
		line, _ := r.FieldPos(0)
		src := at(file, line)
		get := func(name string) string {
			if i, ok := col[name]; ok {
				return strings.TrimSpace(rec[i])
			}
			return ""
		}
		if relations {
			rel := Relation{From: get("from"), To: get("to"), Source: src}
			t, ok := ParseRelType(get("type"))
			if !ok {
				errs.add(src, "type", "unknown relation type %q (want %s)", get("type"), relTypeList)
				continue
			}
			rel.Type = t
			ok = true
			for _, f := range [2]string{"from", "to"} {
				if get(f) == "" {
					errs.add(src, f, "missing")
					ok = false
				}
			}
			if ok {
				ds.Relations = append(ds.Relations, rel)
			}
			continue
		}
		ci := CI{
			ID: get("id"), Name: get("name"), Class: get("class"), Environment: get("environment"),
			SupportGroup: get("support_group"), Owner: get("owner"), Source: src,
		}
		ok := true
		if !validID(ci.ID) {
			errs.add(src, "id", "%q is not a valid id (not empty, no control characters)", ci.ID)
			ok = false
		}
		if c, err := parseCriticality(get("criticality")); err != nil {
			errs.add(src, "criticality", "%v", err)
			ok = false
		} else {
			ci.Criticality = c
		}
		if m := get("match"); m != "" {
			ms, err := ParseMatch(m)
			if err != nil {
				errs.add(src, "match", "bad matcher %q: %v", m, err)
				ok = false
			}
			ci.Match = ms
		}
		for i, k := range attrKeys {
			if v := strings.TrimSpace(rec[i]); k != "" && v != "" {
				if ci.Attributes == nil {
					ci.Attributes = map[string]string{}
				}
				ci.Attributes[k] = v
			}
		}
		if ok {
			ds.CIs = append(ds.CIs, ci)
		}
	}
}

func csvError(file string, err error, errs *errList) {
	var pe *csv.ParseError
	if errors.As(err, &pe) {
		errs.add(at(file, pe.Line), "", "%v", pe.Err)
		return
	}
	errs.add(Source{File: file}, "", "%v", err)
}

func at(file string, line int) Source { return Source{File: file, Line: line} }
