package ingest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/prometheus/common/model"
)

// testReceivedAt is the receive time of every golden test. The testdata
// payloads are written around it: Prometheus endsAt values a few minutes
// after it are firing, the one before it is resolved.
var testReceivedAt = time.Date(2025, 6, 3, 10, 15, 30, 0, time.UTC)

// seqKeys returns a deterministic newKey for ParsePagerDuty.
func seqKeys(prefix string) func() string {
	n := 0
	return func() string {
		n++
		return fmt.Sprintf("%s-%04d", prefix, n)
	}
}

func readTestdata(tb testing.TB, name string) []byte {
	tb.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

// renderedEvent is an Event as the golden files show it: every field, in
// a form a person can check by eye against ITSM.md.
type renderedEvent struct {
	Fingerprint  string            `json:"fingerprint"`
	Source       string            `json:"source"`
	Status       string            `json:"status"`
	Severity     string            `json:"severity"`
	RawSeverity  string            `json:"raw_severity"`
	Labels       map[string]string `json:"labels"`
	Annotations  map[string]string `json:"annotations"`
	StartsAt     string            `json:"starts_at"`
	EndsAt       string            `json:"ends_at"`
	ReceivedAt   string            `json:"received_at"`
	GeneratorURL string            `json:"generator_url"`
	Identity     []string          `json:"identity"`
	Producer     string            `json:"producer"`
	Acknowledge  bool              `json:"acknowledge"`
}

// fmtTime renders a time in UTC so that the output does not depend on the
// machine's time zone (a "+0000" offset parses into Local when Local is
// UTC, into a fixed zone otherwise); the zero time is "".
func fmtTime(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(time.RFC3339Nano)
}

func render(e *Event) renderedEvent {
	r := renderedEvent{
		Fingerprint:  fmt.Sprintf("%016x", uint64(e.Fingerprint)),
		Source:       string(e.Source),
		Status:       e.Status.String(),
		Severity:     e.Severity.String(),
		RawSeverity:  e.RawSeverity,
		Labels:       e.Labels.Map(),
		Annotations:  e.Annotations.Map(),
		StartsAt:     fmtTime(e.StartsAt),
		EndsAt:       fmtTime(e.EndsAt),
		ReceivedAt:   fmtTime(e.ReceivedAt),
		GeneratorURL: e.GeneratorURL,
		Identity:     e.Identity,
		Producer:     e.Producer,
		Acknowledge:  e.Acknowledge,
	}
	return r
}

func renderJSON(events []Event) []byte {
	out := make([]renderedEvent, len(events))
	for i := range events {
		out[i] = render(&events[i])
	}
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false) // keep URLs readable: & not \u0026
	enc.SetIndent("", "  ")
	if err := enc.Encode(out); err != nil {
		panic(err)
	}
	return b.Bytes()
}

// checkLabelSet reports whether ls is sorted by name with unique names and
// valid UTF-8 throughout; nonEmptyNames also requires every name to be
// non-empty.
func checkLabelSet(what string, ls Labels, nonEmptyNames bool) error {
	if len(ls) > 0 && (ls[len(ls)-1] != sep || strings.Count(string(ls), "\xff")%2 != 0) {
		return fmt.Errorf("%s: malformed packed labels %q", what, string(ls))
	}
	i, prev := 0, ""
	for name, value := range ls.All() {
		if nonEmptyNames && name == "" {
			return fmt.Errorf("%s[%d]: empty name", what, i)
		}
		if !utf8.ValidString(name) || !utf8.ValidString(value) {
			return fmt.Errorf("%s[%d]: invalid UTF-8 in %q=%q", what, i, name, value)
		}
		if i > 0 && prev >= name {
			return fmt.Errorf("%s not sorted and unique at %d: %q then %q", what, i, prev, name)
		}
		i, prev = i+1, name
	}
	if i != ls.Len() {
		return fmt.Errorf("%s: Len() = %d, iterated %d", what, ls.Len(), i)
	}
	return nil
}

// modelFingerprint computes what Alertmanager would: the fingerprint of the
// labels named by identity (all of them when identity is nil) as a
// model.LabelSet.
func modelFingerprint(ls Labels, identity []string) model.Fingerprint {
	set := model.LabelSet{}
	for name, value := range ls.All() {
		if identity == nil || slices.Contains(identity, name) {
			set[model.LabelName(name)] = model.LabelValue(value)
		}
	}
	return set.Fingerprint()
}

// eventInvariants checks what every successfully parsed event must hold,
// whatever its format and input.
func eventInvariants(e *Event, src Source, receivedAt time.Time) error {
	if e.Source != src {
		return fmt.Errorf("source %q, want %q", e.Source, src)
	}
	if e.Labels.Len() == 0 {
		return fmt.Errorf("no labels")
	}
	if err := checkLabelSet("labels", e.Labels, true); err != nil {
		return err
	}
	if err := checkLabelSet("annotations", e.Annotations, false); err != nil {
		return err
	}
	for _, s := range []string{e.GeneratorURL, e.Producer, e.RawSeverity} {
		if !utf8.ValidString(s) {
			return fmt.Errorf("invalid UTF-8 in %q", s)
		}
	}
	if e.Identity != nil {
		present := false
		for i, n := range e.Identity {
			if n == "" || !utf8.ValidString(n) {
				return fmt.Errorf("identity[%d] = %q", i, n)
			}
			if i > 0 && e.Identity[i-1] >= n {
				return fmt.Errorf("identity not sorted and unique: %q", e.Identity)
			}
			if _, ok := e.Labels.Get(n); ok {
				present = true
			}
		}
		if !present {
			return fmt.Errorf("identity %q names no label of %s", e.Identity, e.Labels)
		}
		if want := e.Labels.FingerprintOf(e.Identity); e.Fingerprint != want {
			return fmt.Errorf("fingerprint %s, want FingerprintOf(%q) = %s", e.Fingerprint, e.Identity, want)
		}
	} else if want := e.Labels.Fingerprint(); e.Fingerprint != want {
		return fmt.Errorf("fingerprint %s, want Labels.Fingerprint() = %s", e.Fingerprint, want)
	}
	if want := modelFingerprint(e.Labels, e.Identity); e.Fingerprint != want {
		return fmt.Errorf("fingerprint %s, model.LabelSet says %s", e.Fingerprint, want)
	}
	if !e.ReceivedAt.Equal(receivedAt) {
		return fmt.Errorf("ReceivedAt %v, want %v", e.ReceivedAt, receivedAt)
	}
	if e.StartsAt.IsZero() {
		return fmt.Errorf("StartsAt is zero")
	}
	if !e.EndsAt.IsZero() && e.EndsAt.Before(e.StartsAt) {
		return fmt.Errorf("EndsAt %v before StartsAt %v", e.EndsAt, e.StartsAt)
	}
	if e.Status != StatusFiring && e.Status != StatusResolved {
		return fmt.Errorf("status %d", e.Status)
	}
	if e.Severity > SeverityInfo {
		return fmt.Errorf("severity %d", e.Severity)
	}
	if want, _ := NormalizeSeverity(e.RawSeverity); e.Severity != want {
		return fmt.Errorf("severity %s for raw %q, want %s", e.Severity, e.RawSeverity, want)
	}
	if src == SourcePrometheus {
		resolved := !e.EndsAt.IsZero() && !e.EndsAt.After(receivedAt)
		if resolved != (e.Status == StatusResolved) {
			return fmt.Errorf("status %s with endsAt %v and receivedAt %v", e.Status, e.EndsAt, receivedAt)
		}
	}
	if src != SourcePagerDuty && e.Acknowledge {
		return fmt.Errorf("acknowledge set on a %s event", src)
	}
	return nil
}
