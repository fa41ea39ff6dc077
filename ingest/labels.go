package ingest

import (
	"iter"
	"sort"
	"strings"

	"github.com/prometheus/common/model"
)

// Label is one name/value pair, for building Labels.
type Label struct {
	Name, Value string
}

// sep ends every name and every value in packed Labels. It is the byte
// model uses between fingerprinted strings, and cannot occur in UTF-8.
const sep = model.SeparatorByte

// Labels is a label set packed into one string: for each label, in name
// order, the name, 0xff, the value, 0xff. The zero value is the empty set.
//
// Packing is the Prometheus "stringlabels" idea: a label set costs one
// allocation instead of a slice of string headers (32 bytes a label before
// any text), equality is string equality, and the packed bytes are
// exactly what model.LabelSet.Fingerprint hashes, so fingerprinting is
// one pass over one string. Names and values must be valid UTF-8, which
// every constructor ensures.
type Labels string

// All iterates over the labels in name order.
func (ls Labels) All() iter.Seq2[string, string] {
	return func(yield func(string, string) bool) {
		s := string(ls)
		for len(s) > 0 {
			i := strings.IndexByte(s, sep)
			name := s[:i]
			s = s[i+1:]
			j := strings.IndexByte(s, sep)
			value := s[:j]
			s = s[j+1:]
			if !yield(name, value) {
				return
			}
		}
	}
}

// Len is the number of labels.
func (ls Labels) Len() int { return strings.Count(string(ls), "\xff") / 2 }

// Get returns the value of the named label and whether it is present.
func (ls Labels) Get(name string) (string, bool) {
	for n, v := range ls.All() {
		if n == name {
			return v, true
		}
		if n > name {
			break
		}
	}
	return "", false
}

// Has reports whether the named label is present.
func (ls Labels) Has(name string) bool {
	_, ok := ls.Get(name)
	return ok
}

// Map converts the labels to a map, for templates and JSON output.
func (ls Labels) Map() map[string]string {
	m := make(map[string]string, ls.Len())
	for n, v := range ls.All() {
		m[n] = v
	}
	return m
}

// LabelSet converts the labels to a model.LabelSet.
func (ls Labels) LabelSet() model.LabelSet {
	m := make(model.LabelSet, ls.Len())
	for n, v := range ls.All() {
		m[model.LabelName(n)] = model.LabelValue(v)
	}
	return m
}

// Equal reports whether two label sets are identical.
func (ls Labels) Equal(o Labels) bool { return ls == o }

// String renders the labels as {a="b", c="d"}, like model.LabelSet.
func (ls Labels) String() string {
	var b strings.Builder
	b.WriteByte('{')
	first := true
	for n, v := range ls.All() {
		if !first {
			b.WriteString(", ")
		}
		first = false
		b.WriteString(n)
		b.WriteByte('=')
		b.WriteString(quote(v))
	}
	b.WriteByte('}')
	return b.String()
}

// MarshalJSON renders the labels as a JSON object.
func (ls Labels) MarshalJSON() ([]byte, error) {
	b := make([]byte, 0, len(ls)+8)
	b = append(b, '{')
	first := true
	for n, v := range ls.All() {
		if !first {
			b = append(b, ',')
		}
		first = false
		b = appendJSONString(b, n)
		b = append(b, ':')
		b = appendJSONString(b, v)
	}
	return append(b, '}'), nil
}

// NewLabels builds Labels from pairs in any order. A repeated name keeps
// its last value, as encoding/json does for repeated keys; invalid UTF-8
// is replaced, as encoding/json does.
func NewLabels(pairs ...Label) Labels {
	ps := make([]Label, len(pairs))
	for i, p := range pairs {
		ps[i] = Label{Name: strings.ToValidUTF8(p.Name, "\uFFFD"), Value: strings.ToValidUTF8(p.Value, "\uFFFD")}
	}
	sort.SliceStable(ps, func(i, j int) bool { return ps[i].Name < ps[j].Name })
	n := 0
	for i := range ps {
		if n > 0 && ps[n-1].Name == ps[i].Name {
			ps[n-1] = ps[i]
			continue
		}
		ps[n] = ps[i]
		n++
	}
	var b strings.Builder
	for _, p := range ps[:n] {
		b.WriteString(p.Name)
		b.WriteByte(sep)
		b.WriteString(p.Value)
		b.WriteByte(sep)
	}
	return Labels(b.String())
}

// LabelsFromMap builds Labels from a map.
func LabelsFromMap(m map[string]string) Labels {
	ps := make([]Label, 0, len(m))
	for k, v := range m {
		ps = append(ps, Label{Name: k, Value: v})
	}
	return NewLabels(ps...)
}

// Fingerprint returns the fingerprint of the label set. It equals
// model.LabelSet.Fingerprint of the same labels (the identity Alertmanager
// uses, so the two can be cross-referenced): model hashes each name and
// value followed by 0xff in name order with FNV-1a, which is the packed
// string itself. TestFingerprintMatchesModel and FuzzFingerprint hold it
// to model's result.
func (ls Labels) Fingerprint() model.Fingerprint {
	return model.Fingerprint(hashAdd(offset64, string(ls)))
}

// FingerprintOf returns the fingerprint of the subset of ls named by
// identity (sorted, de-duplicated label names). Names absent from ls are
// skipped, as model.LabelSet would not hold them either.
func (ls Labels) FingerprintOf(identity []string) model.Fingerprint {
	h := uint64(offset64)
	i := 0
	for n, v := range ls.All() {
		for i < len(identity) && identity[i] < n {
			i++
		}
		if i == len(identity) {
			break
		}
		if identity[i] != n {
			continue
		}
		h = hashAdd(h, n)
		h = hashAddByte(h, sep)
		h = hashAdd(h, v)
		h = hashAddByte(h, sep)
	}
	return model.Fingerprint(h)
}

// FNV-1a, as in prometheus/common/model.
const (
	offset64 = 14695981039346656037
	prime64  = 1099511628211
)

func hashAdd(h uint64, s string) uint64 {
	for i := 0; i < len(s); i++ {
		h ^= uint64(s[i])
		h *= prime64
	}
	return h
}

func hashAddByte(h uint64, b byte) uint64 {
	h ^= uint64(b)
	h *= prime64
	return h
}
