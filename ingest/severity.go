package ingest

import "strings"

// Severity is a normalised severity. Lower values are more severe, so
// "worst of" is a min.
type Severity uint8

// Normalised severities, most to least severe (ITSM.md).
const (
	SeverityCritical Severity = iota
	SeverityMajor
	SeverityMinor
	SeverityWarning
	SeverityInfo
)

// Severities lists every Severity, most severe first.
var Severities = []Severity{SeverityCritical, SeverityMajor, SeverityMinor, SeverityWarning, SeverityInfo}

var severityNames = [...]string{"critical", "major", "minor", "warning", "info"}

func (s Severity) String() string {
	if int(s) < len(severityNames) {
		return severityNames[s]
	}
	return "warning"
}

// MarshalText implements encoding.TextMarshaler.
func (s Severity) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

// UnmarshalText accepts a normalised severity name.
func (s *Severity) UnmarshalText(b []byte) error {
	for i, n := range severityNames {
		if n == string(b) {
			*s = Severity(i)
			return nil
		}
	}
	return &FieldError{Field: "severity", Msg: "unknown severity " + quote(string(b))}
}

// NormalizeSeverity maps a source's severity to sift's. It accepts the
// Prometheus, PagerDuty and Alerta-style vocabularies of ITSM.md, case
// insensitively; anything else, or nothing, is warning, and ok is false so
// the caller can record the raw value.
func NormalizeSeverity(raw string) (sev Severity, ok bool) {
	switch strings.ToLower(strings.TrimSpace(raw)) {
	case "critical", "page", "security":
		return SeverityCritical, true
	case "error", "high", "major":
		return SeverityMajor, true
	case "minor":
		return SeverityMinor, true
	case "warning", "warn":
		return SeverityWarning, true
	case "info", "none", "informational", "indeterminate":
		return SeverityInfo, true
	}
	return SeverityWarning, false
}
