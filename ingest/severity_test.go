package ingest

import (
	"testing"

	"github.com/stretchr/testify/require"
)

// TestNormalizeSeverity is the mapping table of ITSM.md "Severity".
func TestNormalizeSeverity(t *testing.T) {
	for _, tc := range []struct {
		raw  string
		want Severity
		ok   bool
	}{
		// Prometheus label severity.
		{"critical", SeverityCritical, true},
		{"page", SeverityCritical, true},
		{"error", SeverityMajor, true},
		{"high", SeverityMajor, true},
		{"warning", SeverityWarning, true},
		{"warn", SeverityWarning, true},
		{"info", SeverityInfo, true},
		{"none", SeverityInfo, true},
		// Alerta-style.
		{"security", SeverityCritical, true},
		{"major", SeverityMajor, true},
		{"minor", SeverityMinor, true},
		{"indeterminate", SeverityInfo, true},
		{"informational", SeverityInfo, true},
		// Case and surrounding space do not matter.
		{"CRITICAL", SeverityCritical, true},
		{" Warning\t", SeverityWarning, true},
		// Missing or unknown: warning, not ok.
		{"", SeverityWarning, false},
		{"sev1", SeverityWarning, false},
		{"p1", SeverityWarning, false},
		{"crit", SeverityWarning, false},
	} {
		got, ok := NormalizeSeverity(tc.raw)
		require.Equal(t, tc.want, got, "%q", tc.raw)
		require.Equal(t, tc.ok, ok, "%q", tc.raw)
	}
}

func TestSeverityText(t *testing.T) {
	require.Equal(t, []string{"critical", "major", "minor", "warning", "info"}, func() []string {
		var s []string
		for _, sev := range Severities {
			s = append(s, sev.String())
		}
		return s
	}())
	for _, sev := range Severities {
		b, err := sev.MarshalText()
		require.NoError(t, err)
		var back Severity
		require.NoError(t, back.UnmarshalText(b))
		require.Equal(t, sev, back)
	}
	var s Severity
	require.Error(t, s.UnmarshalText([]byte("page")), "only normalised names")
	require.Equal(t, "warning", Severity(42).String())

	for _, st := range []Status{StatusFiring, StatusResolved} {
		b, err := st.MarshalText()
		require.NoError(t, err)
		var back Status
		require.NoError(t, back.UnmarshalText(b))
		require.Equal(t, st, back)
	}
	var st Status
	require.Error(t, st.UnmarshalText([]byte("open")))
}
