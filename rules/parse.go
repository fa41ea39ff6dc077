package rules

import (
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/prometheus/alertmanager/matcher/compat"
	"github.com/prometheus/alertmanager/timeinterval"
	"gopkg.in/yaml.v3"
)

// Load reads, validates and compiles rule files into one Set. Each path
// may be a glob (as Prometheus' rule_files); a literal path that does not
// exist is an error. Correlation rules keep file order, then the order
// within each file, and the built-in default rule comes last. With no
// paths, Load returns Default().
//
// Every problem of every file is reported at once as Errors, each naming
// the file, line and field.
func Load(paths ...string) (*Set, error) {
	files, err := expand(paths)
	if err != nil {
		return nil, err
	}
	pm := compat.FallbackMatchersParser(slog.New(slog.DiscardHandler))
	var parsed []*file
	var errs Errors
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			return nil, fmt.Errorf("reading rule file: %w", err)
		}
		pf, fileErrs := parseFile(f, b, pm)
		errs = append(errs, fileErrs...)
		parsed = append(parsed, pf)
	}
	s, setErrs := build(parsed)
	errs = append(errs, setErrs...)
	if err := errs.err(); err != nil {
		return nil, err
	}
	s.Files = files
	return s, nil
}

// Parse validates and compiles one rule file's content; name is used in
// errors.
func Parse(name string, b []byte) (*Set, error) {
	pm := compat.FallbackMatchersParser(slog.New(slog.DiscardHandler))
	pf, errs := parseFile(name, b, pm)
	s, setErrs := build([]*file{pf})
	errs = append(errs, setErrs...)
	if err := errs.err(); err != nil {
		return nil, err
	}
	if name != "" {
		s.Files = []string{name}
	}
	return s, nil
}

func expand(paths []string) ([]string, error) {
	var files []string
	for _, p := range paths {
		if !strings.ContainsAny(p, "*?[") {
			files = append(files, p)
			continue
		}
		m, err := filepath.Glob(p)
		if err != nil {
			return nil, fmt.Errorf("rule file pattern %q: %w", p, err)
		}
		files = append(files, m...)
	}
	return files, nil
}

// file is one parsed rule file, before the set-wide checks.
type file struct {
	name        string
	correlation []*CorrelationRule
	inhibit     []*InhibitRule
	maintenance []*MaintenanceWindow
	// positions of names, for duplicate errors
	namePos map[any]*yaml.Node
}

func parseFile(name string, b []byte, pm compat.ParseMatchers) (*file, Errors) {
	d := newDecoder(name, pm)
	f := &file{name: name, namePos: map[any]*yaml.Node{}}
	root := d.document(b)
	if root == nil {
		return f, d.errs
	}
	d.object(root, "", map[string]func(*yaml.Node, string){
		"correlation_rules":   listOf(d, &f.correlation, func(n *yaml.Node, p string) *CorrelationRule { return d.correlationRule(n, p, f) }),
		"inhibit_rules":       listOf(d, &f.inhibit, func(n *yaml.Node, p string) *InhibitRule { return d.inhibitRule(n, p, f) }),
		"maintenance_windows": listOf(d, &f.maintenance, func(n *yaml.Node, p string) *MaintenanceWindow { return d.maintenanceWindow(n, p, f) }),
	})
	return f, d.errs
}

func (d *decoder) correlationRule(n *yaml.Node, path string, f *file) *CorrelationRule {
	r := &CorrelationRule{Pos: d.pos(n), Window: DefaultWindow, MaxDuration: DefaultMaxDuration}
	nerr := d.nerrs
	seen := d.object(n, path, map[string]func(*yaml.Node, string){
		"name":                func(v *yaml.Node, p string) { d.str(v, p, &r.Name) },
		"match":               func(v *yaml.Node, p string) { d.matchers(v, p, &r.Matchers) },
		"group_by":            func(v *yaml.Node, p string) { r.GroupBy = d.keyEntries(v, p, true) },
		"window":              func(v *yaml.Node, p string) { d.duration(v, p, &r.Window) },
		"max_duration":        func(v *yaml.Node, p string) { d.duration(v, p, &r.MaxDuration) },
		"topology":            func(v *yaml.Node, p string) { r.Topology = d.topology(v, p) },
		"continue":            func(v *yaml.Node, p string) { d.boolean(v, p, &r.Continue) },
		"impact":              func(v *yaml.Node, p string) { d.level(v, p, &r.Impact) },
		"urgency":             func(v *yaml.Node, p string) { d.level(v, p, &r.Urgency) },
		"support_group":       func(v *yaml.Node, p string) { d.str(v, p, &r.SupportGroup) },
		"info_opens_incident": func(v *yaml.Node, p string) { d.boolean(v, p, &r.InfoOpensIncident) },
		"recurrence": func(v *yaml.Node, p string) {
			d.object(v, p, map[string]func(*yaml.Node, string){
				"signature": func(v *yaml.Node, p string) {
					r.Recurrence = d.keyEntries(v, p, true)
					if r.Recurrence == nil {
						d.errorf(v, p, "must not be empty (omit recurrence for the default signature)")
					}
				},
			})
		},
	})
	if seen == nil {
		return nil
	}
	if k, ok := seen["name"]; !ok {
		d.errorf(n, join(path, "name"), "is required")
	} else if r.Name == DefaultRuleName {
		d.errorf(k, join(path, "name"), "%q is reserved for the built-in default rule", DefaultRuleName)
	} else if r.Name != "" {
		f.namePos[r] = k
	}
	if _, ok := seen["name"]; ok && strings.TrimSpace(r.Name) == "" {
		d.errorf(seen["name"], join(path, "name"), "must not be empty")
	}
	if r.Window <= 0 {
		d.errorf(n, join(path, "window"), "must be over 0, got %s", fmtDur(r.Window))
	}
	if r.MaxDuration < r.Window {
		d.errorf(n, join(path, "max_duration"), "must be at least the window (%s), got %s", fmtDur(r.Window), fmtDur(r.MaxDuration))
	}
	if d.nerrs > nerr {
		return nil
	}
	return r
}

// keyEntries parses a group_by-like list: each item a label name, a CI
// attribute (ci.<attr>), or a list of those meaning the first present.
func (d *decoder) keyEntries(n *yaml.Node, path string, allowCI bool) [][]string {
	var out [][]string
	seen := map[string]bool{}
	d.list(n, path, func(_ int, item *yaml.Node, path string) {
		var alts []string
		switch item.Kind {
		case yaml.SequenceNode:
			d.strings(item, path, &alts)
			if len(alts) == 0 {
				d.errorf(item, path, "a first-present list needs at least one name")
				return
			}
		default:
			var s string
			d.str(item, path, &s)
			if item.Kind != yaml.ScalarNode {
				return
			}
			alts = []string{s}
		}
		for _, a := range alts {
			if attr, ok := strings.CutPrefix(a, CIPrefix); ok {
				if !allowCI {
					d.errorf(item, path, "CI attributes (%s) are not allowed here", quote(a))
					return
				}
				if attr == "" || strings.ContainsAny(attr, " \t\n\"{}=,") {
					d.errorf(item, path, "%s is not a valid CI attribute (use e.g. ci.site, ci.class, ci.support_group, ci.id)", quote(a))
					return
				}
				continue
			}
			if !d.labelName(item, path, a) {
				return
			}
		}
		text := strings.Join(alts, "|")
		if seen[text] {
			d.errorf(item, path, "%s is listed twice", quote(text))
			return
		}
		seen[text] = true
		out = append(out, alts)
	})
	slices.SortFunc(out, func(a, b []string) int {
		return strings.Compare(strings.Join(a, "|"), strings.Join(b, "|"))
	})
	return out
}

func (d *decoder) topology(n *yaml.Node, path string) *Topology {
	t := &Topology{MaxHops: DefaultMaxHops}
	var rels []string
	relsSet := false
	d.object(n, path, map[string]func(*yaml.Node, string){
		"relations": func(v *yaml.Node, p string) {
			relsSet = true
			d.list(v, p, func(_ int, item *yaml.Node, p string) {
				var s string
				d.str(item, p, &s)
				if item.Kind != yaml.ScalarNode {
					return
				}
				if !slices.Contains(AllRelations, s) {
					d.errorf(item, p, "unknown relation type %s (use %s)", quote(s), strings.Join(AllRelations, ", "))
					return
				}
				if !slices.Contains(rels, s) {
					rels = append(rels, s)
				}
			})
			if len(v.Content) == 0 && v.Kind == yaml.SequenceNode {
				d.errorf(v, p, "must name at least one relation type (omit it for all)")
			}
		},
		"max_hops": func(v *yaml.Node, p string) {
			d.integer(v, p, &t.MaxHops)
			if t.MaxHops < 1 || t.MaxHops > 10 {
				d.errorf(v, p, "must be from 1 to 10, got %d", t.MaxHops)
			}
		},
		"group_by": func(v *yaml.Node, p string) { t.GroupBy = d.keyEntries(v, p, true) },
	})
	if !relsSet {
		rels = slices.Clone(AllRelations)
	}
	slices.Sort(rels)
	t.Relations = rels
	return t
}

// level parses an impact or urgency pin.
func (d *decoder) level(n *yaml.Node, path string, dst *int) {
	v := 0
	d.integer(n, path, &v)
	if v < 1 || v > 3 {
		if n.Tag == "!!int" {
			d.errorf(n, path, "must be 1 (high), 2 (medium) or 3 (low), got %d", v)
		}
		return
	}
	*dst = v
}

func (d *decoder) inhibitRule(n *yaml.Node, path string, f *file) *InhibitRule {
	r := &InhibitRule{Pos: d.pos(n)}
	nerr := d.nerrs
	seen := d.object(n, path, map[string]func(*yaml.Node, string){
		"name":         func(v *yaml.Node, p string) { d.str(v, p, &r.Name) },
		"source_match": func(v *yaml.Node, p string) { d.matchers(v, p, &r.SourceMatchers) },
		"target_match": func(v *yaml.Node, p string) { d.matchers(v, p, &r.TargetMatchers) },
		"equal": func(v *yaml.Node, p string) {
			d.list(v, p, func(_ int, item *yaml.Node, p string) {
				var s string
				d.str(item, p, &s)
				if item.Kind == yaml.ScalarNode && d.labelName(item, p, s) && !slices.Contains(r.Equal, s) {
					r.Equal = append(r.Equal, s)
				}
			})
		},
	})
	if seen == nil {
		return nil
	}
	if k, ok := seen["name"]; ok {
		f.namePos[r] = k
	}
	// Alertmanager accepts empty matcher lists, which then match every
	// alert; here that is far more likely a mistake than an intent.
	for _, side := range []string{"source_match", "target_match"} {
		if _, ok := seen[side]; !ok {
			d.errorf(n, join(path, side), "is required (at least one matcher)")
		}
	}
	slices.Sort(r.Equal)
	if d.nerrs > nerr {
		return nil
	}
	return r
}

func (d *decoder) maintenanceWindow(n *yaml.Node, path string, f *file) *MaintenanceWindow {
	w := &MaintenanceWindow{Pos: d.pos(n)}
	nerr := d.nerrs
	seen := d.object(n, path, map[string]func(*yaml.Node, string){
		"name": func(v *yaml.Node, p string) { d.str(v, p, &w.Name) },
		"cis": func(v *yaml.Node, p string) {
			d.strings(v, p, &w.CIs)
			if v.Kind == yaml.SequenceNode && len(v.Content) == 0 {
				d.errorf(v, p, "must name at least one CI (omit it to select by match only)")
			}
		},
		"match":          func(v *yaml.Node, p string) { d.matchers(v, p, &w.Matchers) },
		"start":          func(v *yaml.Node, p string) { d.timestamp(v, p, &w.Start) },
		"end":            func(v *yaml.Node, p string) { d.timestamp(v, p, &w.End) },
		"time_intervals": func(v *yaml.Node, p string) { w.TimeIntervals = d.timeIntervals(v, p) },
		"comment":        func(v *yaml.Node, p string) { d.str(v, p, &w.Comment) },
	})
	if seen == nil {
		return nil
	}
	if k, ok := seen["name"]; !ok || strings.TrimSpace(w.Name) == "" {
		d.errorf(n, join(path, "name"), "is required")
	} else {
		f.namePos[w] = k
	}
	_, hasCIs := seen["cis"]
	_, hasMatch := seen["match"]
	if !hasCIs && !hasMatch {
		d.errorf(n, path, "needs cis, match or both to say what it covers")
	}
	_, hasStart := seen["start"]
	_, hasEnd := seen["end"]
	_, recurring := seen["time_intervals"]
	switch {
	case !recurring && (!hasStart || !hasEnd):
		d.errorf(n, path, "needs start and end (a one-off window) or time_intervals (a recurring one)")
	case hasStart && hasEnd && !w.End.After(w.Start):
		d.errorf(seen["end"], join(path, "end"), "must be after start (%s), got %s", w.Start.Format(time.RFC3339), w.End.Format(time.RFC3339))
	}
	slices.Sort(w.CIs)
	w.CIs = slices.Compact(w.CIs)
	if d.nerrs > nerr {
		return nil
	}
	return w
}

// timeIntervals decodes Alertmanager time intervals with its own types
// (and so its own validation), item by item so that errors name lines,
// after checking the keys that Node.Decode would not check strictly.
func (d *decoder) timeIntervals(n *yaml.Node, path string) []timeinterval.TimeInterval {
	var out []timeinterval.TimeInterval
	d.list(n, path, func(_ int, item *yaml.Node, path string) {
		var ti timeinterval.TimeInterval
		each := func(dst func(*yaml.Node) error) func(*yaml.Node, string) {
			return func(v *yaml.Node, p string) {
				d.list(v, p, func(_ int, it *yaml.Node, p string) {
					if err := dst(it); err != nil {
						d.errorf(it, p, "%s", trimYAMLErr(err))
					}
				})
			}
		}
		d.object(item, path, map[string]func(*yaml.Node, string){
			"times": func(v *yaml.Node, p string) {
				d.list(v, p, func(_ int, it *yaml.Node, p string) {
					d.object(it, p, map[string]func(*yaml.Node, string){
						"start_time": func(*yaml.Node, string) {},
						"end_time":   func(*yaml.Node, string) {},
					})
					var tr timeinterval.TimeRange
					if it.Kind != yaml.MappingNode {
						return
					}
					if err := it.Decode(&tr); err != nil {
						d.errorf(it, p, "%s", trimYAMLErr(err))
						return
					}
					ti.Times = append(ti.Times, tr)
				})
			},
			"weekdays":      each(appendScalar(&ti.Weekdays)),
			"days_of_month": each(appendScalar(&ti.DaysOfMonth)),
			"months":        each(appendScalar(&ti.Months)),
			"years":         each(appendScalar(&ti.Years)),
			"location": func(v *yaml.Node, p string) {
				var loc timeinterval.Location
				if err := decodeScalar(v, &loc); err != nil {
					d.errorf(v, p, "%s", trimYAMLErr(err))
					return
				}
				ti.Location = &loc
			},
		})
		out = append(out, ti)
	})
	return out
}

// appendScalar returns a decoder of one list item, a scalar, that
// appends it to dst.
func appendScalar[T any](dst *[]T) func(*yaml.Node) error {
	return func(it *yaml.Node) error {
		var v T
		if err := decodeScalar(it, &v); err != nil {
			return err
		}
		*dst = append(*dst, v)
		return nil
	}
}

func decodeScalar(n *yaml.Node, dst any) error {
	if n.Kind != yaml.ScalarNode {
		return fmt.Errorf("must be a string, got %s", kindName(n))
	}
	return n.Decode(dst)
}

// trimYAMLErr drops yaml's "yaml: unmarshal errors:\n  line N: " framing;
// the caller names the line.
func trimYAMLErr(err error) string {
	s := err.Error()
	s = strings.TrimPrefix(s, "yaml: unmarshal errors:\n")
	s = strings.TrimSpace(s)
	if rest, ok := strings.CutPrefix(s, "line "); ok {
		if i := strings.Index(rest, ": "); i > 0 {
			s = rest[i+2:]
		}
	}
	return s
}

func fmtDur(d time.Duration) string {
	if d < 0 {
		return "-" + fmtDur(-d)
	}
	return modelDuration(d)
}
