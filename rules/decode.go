package rules

import (
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/alertmanager/matcher/compat"
	"github.com/prometheus/alertmanager/pkg/labels"
	"github.com/prometheus/common/model"
	"gopkg.in/yaml.v3"
)

// maxNodeVisits bounds the work of one file: aliases may repeat a subtree,
// and a file of nested aliases would otherwise expand exponentially.
const maxNodeVisits = 1 << 20

// maxErrors bounds the errors reported for one file.
const maxErrors = 200

// decoder walks a yaml.v3 node tree by hand rather than decoding into
// structs: that is what lets every error carry its line and field path,
// lets decoding go on past an error so that all of them are reported, and
// makes unknown keys errors everywhere (yaml.v3's Node.Decode has no
// strict mode).
type decoder struct {
	file string
	errs Errors
	// nerrs counts errors, including those beyond maxErrors that errs
	// does not keep: callers compare it to know whether a part was valid.
	nerrs         int
	visits        int
	parseMatchers compat.ParseMatchers
}

func newDecoder(file string, pm compat.ParseMatchers) *decoder {
	return &decoder{file: file, parseMatchers: pm}
}

// document parses b and returns its root node, or nil for an empty
// document (an error is recorded when b is not YAML).
func (d *decoder) document(b []byte) *yaml.Node {
	dec := yaml.NewDecoder(strings.NewReader(string(b)))
	var doc yaml.Node
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			return nil
		}
		d.yamlError(err)
		return nil
	}
	var next yaml.Node
	if err := dec.Decode(&next); !errors.Is(err, io.EOF) {
		line := next.Line
		if err != nil {
			line = 0
		}
		d.errorf(&yaml.Node{Line: line}, "", "only one YAML document is allowed")
	}
	if len(doc.Content) == 0 {
		return nil
	}
	root := d.resolve(doc.Content[0])
	if root == nil || isNull(root) {
		return nil
	}
	return root
}

// yamlError records a syntax error of the YAML parser, which names its
// line in its text ("yaml: line 3: ...").
func (d *decoder) yamlError(err error) {
	msg := err.Error()
	line := 0
	if rest, ok := strings.CutPrefix(msg, "yaml: line "); ok {
		if i := strings.IndexByte(rest, ':'); i > 0 {
			if n, err := strconv.Atoi(rest[:i]); err == nil {
				line = n
				msg = strings.TrimSpace(rest[i+1:])
			}
		}
	} else {
		msg = strings.TrimPrefix(msg, "yaml: ")
	}
	d.errorf(&yaml.Node{Line: line}, "", "invalid YAML: %s", msg)
}

func (d *decoder) errorf(n *yaml.Node, field, format string, args ...any) {
	d.nerrs++
	if len(d.errs) >= maxErrors {
		if len(d.errs) == maxErrors {
			d.errs = append(d.errs, &Error{Position: Position{File: d.file, Line: 1 << 30}, Msg: fmt.Sprintf("too many errors; only the first %d are shown", maxErrors)})
		}
		return
	}
	e := &Error{Position: Position{File: d.file}, Field: field, Msg: fmt.Sprintf(format, args...)}
	if n != nil {
		e.Line, e.Column = n.Line, n.Column
	}
	d.errs = append(d.errs, e)
}

func (d *decoder) pos(n *yaml.Node) Position { return Position{File: d.file, Line: n.Line} }

// resolve follows aliases. It returns nil once the visit budget is spent.
func (d *decoder) resolve(n *yaml.Node) *yaml.Node {
	for n != nil && n.Kind == yaml.AliasNode {
		n = n.Alias
	}
	d.visits++
	if d.visits == maxNodeVisits {
		// Not subject to maxErrors: it explains why the rest is missing.
		d.nerrs++
		d.errs = append(d.errs, &Error{Position: d.pos(n), Column: n.Column, Msg: "document too large or too deeply aliased"})
	}
	if d.visits >= maxNodeVisits {
		return nil
	}
	return n
}

func isNull(n *yaml.Node) bool {
	return n.Kind == yaml.ScalarNode && n.Tag == "!!null"
}

func join(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

func index(path string, i int) string { return path + "[" + strconv.Itoa(i) + "]" }

func kindName(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.ScalarNode:
		if isNull(n) {
			return "empty"
		}
		return quote(n.Value)
	}
	return "unknown YAML"
}

// quote quotes s for an error message, cut to a readable length.
func quote(s string) string {
	const max = 64
	if len(s) > max {
		return strconv.Quote(strings.ToValidUTF8(s[:max], "")) + "..."
	}
	return strconv.Quote(s)
}

// object walks a mapping: each key must have a handler, which is called
// with the value (aliases resolved) in document order. A key with a null
// value counts as absent, as yaml.v3 would decode it to the zero value.
// It returns the non-null keys seen, for checks of required fields, or
// nil when n is not a mapping.
func (d *decoder) object(n *yaml.Node, path string, handlers map[string]func(v *yaml.Node, path string)) map[string]*yaml.Node {
	if n.Kind != yaml.MappingNode {
		d.errorf(n, path, "must be a mapping, got %s", kindName(n))
		return nil
	}
	seen := make(map[string]*yaml.Node, len(n.Content)/2)
	dup := make(map[string]bool, len(n.Content)/2)
	for i := 0; i+1 < len(n.Content); i += 2 {
		k := d.resolve(n.Content[i])
		v := d.resolve(n.Content[i+1])
		if k == nil || v == nil {
			return seen
		}
		if k.Kind != yaml.ScalarNode {
			d.errorf(k, path, "keys must be strings, got %s", kindName(k))
			continue
		}
		key := k.Value
		fpath := join(path, key)
		if dup[key] {
			d.errorf(k, fpath, "duplicate key")
			continue
		}
		dup[key] = true
		h, ok := handlers[key]
		if !ok {
			if key == "<<" {
				d.errorf(k, path, "merge keys (<<) are not supported")
			} else {
				d.errorf(k, fpath, "unknown field %s", quote(key))
			}
			continue
		}
		if isNull(v) {
			continue
		}
		seen[key] = k
		h(v, fpath)
	}
	return seen
}

// list walks a sequence, calling each with every item.
func (d *decoder) list(n *yaml.Node, path string, each func(i int, item *yaml.Node, path string)) {
	if n.Kind != yaml.SequenceNode {
		d.errorf(n, path, "must be a list, got %s", kindName(n))
		return
	}
	for i, item := range n.Content {
		item = d.resolve(item)
		if item == nil {
			return
		}
		each(i, item, index(path, i))
	}
}

// listOf returns an object handler for a list whose items one decodes,
// appending to dst every item it returns (nil: the item had errors).
func listOf[T any](d *decoder, dst *[]*T, one func(n *yaml.Node, path string) *T) func(*yaml.Node, string) {
	return func(v *yaml.Node, path string) {
		d.list(v, path, func(_ int, item *yaml.Node, path string) {
			if x := one(item, path); x != nil {
				*dst = append(*dst, x)
			}
		})
	}
}

func (d *decoder) scalar(n *yaml.Node, path, what string) (string, bool) {
	if n.Kind != yaml.ScalarNode {
		d.errorf(n, path, "must be %s, got %s", what, kindName(n))
		return "", false
	}
	return n.Value, true
}

func (d *decoder) str(n *yaml.Node, path string, dst *string) {
	if v, ok := d.scalar(n, path, "a string"); ok {
		*dst = v
	}
}

func (d *decoder) boolean(n *yaml.Node, path string, dst *bool) {
	v, ok := d.scalar(n, path, "true or false")
	if !ok {
		return
	}
	if n.Tag != "!!bool" {
		d.errorf(n, path, "must be true or false, got %s", quote(v))
		return
	}
	_ = n.Decode(dst)
}

func (d *decoder) integer(n *yaml.Node, path string, dst *int) {
	v, ok := d.scalar(n, path, "an integer")
	if !ok {
		return
	}
	i, err := strconv.Atoi(v)
	if err != nil || n.Tag != "!!int" {
		d.errorf(n, path, "must be an integer, got %s", quote(v))
		return
	}
	*dst = i
}

func (d *decoder) duration(n *yaml.Node, path string, dst *time.Duration) {
	v, ok := d.scalar(n, path, "a duration")
	if !ok {
		return
	}
	md, err := model.ParseDuration(v)
	if err != nil {
		d.errorf(n, path, "%s is not a duration (use e.g. 30s, 5m, 1h)", quote(v))
		return
	}
	*dst = time.Duration(md)
}

func (d *decoder) timestamp(n *yaml.Node, path string, dst *time.Time) {
	v, ok := d.scalar(n, path, "an RFC 3339 time")
	if !ok {
		return
	}
	t, err := time.Parse(time.RFC3339, v)
	if err != nil {
		d.errorf(n, path, "%s is not an RFC 3339 time (use e.g. 2026-11-24T22:00:00Z or 2026-11-24T23:00:00+01:00)", quote(v))
		return
	}
	*dst = t
}

func (d *decoder) strings(n *yaml.Node, path string, dst *[]string) {
	d.list(n, path, func(_ int, item *yaml.Node, path string) {
		if v, ok := d.scalar(item, path, "a string"); ok {
			*dst = append(*dst, v)
		}
	})
}

// matchers parses a list of Alertmanager matcher strings, as
// Alertmanager's own config does: each item holds one or more matchers
// (`alertname="X"`, `{a="b", c=~"d.*"}`), all of which must match.
func (d *decoder) matchers(n *yaml.Node, path string, dst *labels.Matchers) {
	d.list(n, path, func(_ int, item *yaml.Node, path string) {
		v, ok := d.scalar(item, path, "a matcher string")
		if !ok {
			return
		}
		ms, err := d.parseMatchers(v, "rules")
		if err != nil {
			d.errorf(item, path, "invalid matcher %s: %v", quote(v), err)
			return
		}
		if len(ms) == 0 {
			d.errorf(item, path, "no matcher in %s", quote(v))
			return
		}
		*dst = append(*dst, ms...)
	})
}

// labelName checks a label name as Alertmanager's UTF-8 mode does.
func (d *decoder) labelName(n *yaml.Node, path, name string) bool {
	if name == "" || !model.UTF8Validation.IsValidLabelName(name) {
		d.errorf(n, path, "%s is not a valid label name", quote(name))
		return false
	}
	return true
}
