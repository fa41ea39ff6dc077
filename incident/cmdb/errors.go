package cmdb

import (
	"errors"
	"fmt"
	"strings"
)

// Error is one problem in an import: where it is (file, line, field) and
// what is wrong.
type Error struct {
	File string `json:"file,omitempty"`
	// Line is 1-based; 0 when the problem has no line (an unreadable
	// file, a request-level problem).
	Line int `json:"line,omitempty"`
	// Field is the path of the offending field: cis[3].criticality,
	// relations[0].to in YAML and JSON, the column name in CSV.
	Field   string `json:"field,omitempty"`
	Message string `json:"message"`
}

func (e *Error) Error() string {
	var b strings.Builder
	if e.File != "" {
		b.WriteString(e.File)
		if e.Line > 0 {
			fmt.Fprintf(&b, ":%d", e.Line)
		}
		b.WriteString(": ")
	} else if e.Line > 0 {
		fmt.Fprintf(&b, "line %d: ", e.Line)
	}
	if e.Field != "" {
		b.WriteString(e.Field)
		b.WriteString(": ")
	}
	b.WriteString(e.Message)
	return b.String()
}

// MaxErrors bounds how many errors one import reports; the last one then
// says how many more there were.
const MaxErrors = 1000

// Errors is every problem found in an import, in file and line order.
// An import with any error applies nothing.
type Errors []*Error

func (es Errors) Error() string {
	s := make([]string, len(es))
	for i, e := range es {
		s[i] = e.Error()
	}
	return strings.Join(s, "\n")
}

// AsErrors returns the import errors in err, if it is one.
func AsErrors(err error) (Errors, bool) {
	var es Errors
	if errors.As(err, &es) {
		return es, true
	}
	return nil, false
}

// errList collects errors up to MaxErrors.
type errList struct {
	errs    Errors
	dropped int
}

func (l *errList) add(src Source, field, format string, args ...any) {
	if len(l.errs) >= MaxErrors {
		l.dropped++
		return
	}
	l.errs = append(l.errs, &Error{File: src.File, Line: src.Line, Field: field, Message: fmt.Sprintf(format, args...)})
}

func (l *errList) err() error {
	if len(l.errs) == 0 {
		return nil
	}
	es := l.errs
	if l.dropped > 0 {
		es = append(es, &Error{Message: fmt.Sprintf("%d more errors not shown", l.dropped)})
	}
	return es
}
