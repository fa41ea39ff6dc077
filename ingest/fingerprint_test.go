package ingest

import (
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/prometheus/common/model"
	"github.com/stretchr/testify/require"
)

func TestFingerprintMatchesModel(t *testing.T) {
	cases := []struct {
		name     string
		labels   model.LabelSet
		identity []string // nil: all labels
	}{
		{"empty", model.LabelSet{}, nil},
		{"one", model.LabelSet{"alertname": "Watchdog"}, nil},
		{"empty value", model.LabelSet{"a": ""}, nil},
		{"typical", model.LabelSet{"alertname": "HighRequestLatency", "instance": "api-1:8080", "job": "api", "severity": "page"}, nil},
		{"unicode", model.LabelSet{"équipe": "paiements", "service": "チェックアウト", "emoji": "🔥", "zw": "a\u200bb"}, nil},
		{"name-value boundary", model.LabelSet{"ab": "c"}, nil}, // must differ from {a="bc"}
		{"upper before lower", model.LabelSet{"Z": "1", "a": "2", "_": "3", "0": "4"}, nil},
		{"prefix names", model.LabelSet{"a": "1", "aa": "2", "a_": "3", "a0": "4"}, nil},
		{"long value", model.LabelSet{"description": model.LabelValue(string(make([]byte, 4096)))}, nil},
		{"many", func() model.LabelSet {
			ls := model.LabelSet{}
			for _, n := range []string{"alertname", "cluster", "container", "endpoint", "instance", "job", "namespace", "pod", "prometheus", "reason", "service", "severity", "team", "uid", "node", "region", "zone", "env"} {
				ls[model.LabelName(n)] = model.LabelValue(n + "-value")
			}
			return ls
		}(), nil},
		{"subset identity", model.LabelSet{"alertname": "DiskLatencyHigh", "host": "db-3", "volume": "vol-1", "region": "eu"}, []string{"alertname", "volume"}},
		{"identity with absent names", model.LabelSet{"host": "db-3", "volume": "vol-1"}, []string{"a", "host", "zzz"}},
		{"identity naming nothing", model.LabelSet{"host": "db-3"}, []string{"instance"}},
		{"identity after the last label", model.LabelSet{"a": "1", "b": "2"}, []string{"b", "c"}},
		{"identity of all", model.LabelSet{"a": "1", "b": "2"}, []string{"a", "b"}},
		{"empty identity", model.LabelSet{"a": "1"}, []string{}},
		{"pagerduty", model.LabelSet{"dedup_key": "samplekeyhere", "source": "host1", "class": "deploy"}, []string{"dedup_key"}},
	}
	seen := map[model.Fingerprint]string{}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			m := map[string]string{}
			for k, v := range tc.labels {
				m[string(k)] = string(v)
			}
			ls := LabelsFromMap(m)
			require.Equal(t, len(tc.labels), ls.Len())
			var names []string
			for n := range ls.All() {
				names = append(names, n)
			}
			require.True(t, slices.IsSorted(names))
			require.Equal(t, tc.labels, ls.LabelSet())
			require.Equal(t, tc.labels.Fingerprint(), ls.Fingerprint())

			sub := model.LabelSet{}
			for k, v := range tc.labels {
				if tc.identity == nil || slices.Contains(tc.identity, string(k)) {
					sub[k] = v
				}
			}
			if tc.identity != nil {
				require.Equal(t, sub.Fingerprint(), ls.FingerprintOf(tc.identity))
			}
			fp := sub.Fingerprint()
			if other, dup := seen[fp]; dup && len(sub) > 0 {
				t.Fatalf("fingerprint %s of %s also of case %q", fp, sub, other)
			}
			seen[fp] = tc.name
		})
	}
	// The name/value separator matters: {a="bc"} and {ab="c"} differ.
	require.NotEqual(t, NewLabels(Label{"a", "bc"}).Fingerprint(), NewLabels(Label{"ab", "c"}).Fingerprint())
	// FingerprintOf(all names) is Fingerprint().
	ls := NewLabels(Label{"a", "1"}, Label{"b", "2"}, Label{"c", "3"})
	require.Equal(t, ls.Fingerprint(), ls.FingerprintOf([]string{"a", "b", "c"}))
}

func TestLabels(t *testing.T) {
	ls := LabelsFromMap(map[string]string{"job": "api", "alertname": "X", "instance": "a:1"})
	require.Equal(t, NewLabels(Label{"alertname", "X"}, Label{"instance", "a:1"}, Label{"job", "api"}), ls)
	v, ok := ls.Get("instance")
	require.True(t, ok)
	require.Equal(t, "a:1", v)
	_, ok = ls.Get("severity")
	require.False(t, ok)
	require.Equal(t, `{alertname="X", instance="a:1", job="api"}`, ls.String())
	require.Equal(t, ls.LabelSet().String(), ls.String())
	require.True(t, ls.Equal(NewLabels(Label{"alertname", "X"}, Label{"instance", "a:1"}, Label{"job", "api"})))
	require.False(t, ls.Equal(NewLabels(Label{"alertname", "X"}, Label{"instance", "a:1"}, Label{"job", "web"})))
	require.False(t, ls.Equal(ls[:2]))
}

// TestLabelsMarshalJSON holds the hand-written encoder to encoding/json.
func TestLabelsMarshalJSON(t *testing.T) {
	for _, m := range []map[string]string{
		{},
		{"a": "b"},
		{"html": "<a href=\"x\">&</a>", "ctl": "\x00\x01\x1f\t\n\r\\\b\f\x7f", "uni": "é 🔥 \u2028\u2029 \u00a0"},
		{"bad utf8": "a\xffb\xc3", "\xfe": "name"},
		{"quote\"name": "v"},
	} {
		require.NoError(t, sameJSON(LabelsFromMap(m), m))
	}
	// HTML-sensitive characters and U+2028/9 are escaped as encoding/json
	// escapes them, so the output is safe to embed.
	raw, err := NewLabels(Label{"a", "<&>\u2028\u2029"}).MarshalJSON()
	require.NoError(t, err)
	require.Equal(t, `{"a":"\u003c\u0026\u003e\u2028\u2029"}`, string(raw))
}

func TestEventTime(t *testing.T) {
	at := testReceivedAt
	e := Event{ReceivedAt: at}
	require.Equal(t, at, e.EventTime(0), "no StartsAt: received time")
	e.StartsAt = at.Add(-time5m)
	require.Equal(t, at.Add(-time5m), e.EventTime(0))
	e.StartsAt = at.Add(time5m)
	require.Equal(t, at.Add(time5m/5), e.EventTime(time5m/5), "a fast clock is clamped")
	require.Equal(t, at.Add(time5m), e.EventTime(2*time5m))
}

const time5m = 5 * time.Minute

func FuzzFingerprint(f *testing.F) {
	f.Add("alertname", "Watchdog", "severity", "none", "job", "prometheus")
	f.Add("", "", "", "", "", "")
	f.Add("a", "bc", "ab", "c", "a", "x")
	f.Add("équipe", "🔥", "Z", "\xff", "_", "\x00")
	f.Fuzz(func(t *testing.T, n1, v1, n2, v2, n3, v3 string) {
		for _, s := range []string{n1, v1, n2, v2, n3, v3} {
			if !utf8.ValidString(s) {
				// Replaced on the way in (TestInvalidUTF8InLabelsIsReplaced);
				// model has no defined fingerprint for invalid label sets.
				return
			}
		}
		m := map[string]string{n1: v1, n2: v2, n3: v3}
		set := model.LabelSet{}
		for k, v := range m {
			set[model.LabelName(k)] = model.LabelValue(v)
		}
		ls := LabelsFromMap(m)
		if err := checkSortedUnique(ls); err != "" {
			t.Fatal(err)
		}
		if got, want := ls.Fingerprint(), set.Fingerprint(); got != want {
			t.Fatalf("Fingerprint(%s) = %s, model says %s", ls, got, want)
		}
		// A subset identity: n1 and n3 (which may be equal, or absent).
		identity := []string{n1, n3}
		slices.Sort(identity)
		identity = slices.Compact(identity)
		sub := model.LabelSet{}
		for _, n := range identity {
			sub[model.LabelName(n)] = set[model.LabelName(n)]
		}
		if got, want := ls.FingerprintOf(identity), sub.Fingerprint(); got != want {
			t.Fatalf("FingerprintOf(%q) of %s = %s, model says %s", identity, ls, got, want)
		}
		if err := sameJSON(ls, m); err != nil {
			t.Fatal(err)
		}
	})
}

// sameJSON checks that ls.MarshalJSON is valid JSON that decodes to what
// encoding/json's encoding of m decodes to. The bytes may differ: Go's
// encoder writes "\b" and "\f" where MarshalJSON writes "\u0008" and
// "\u000c", which mean the same.
func sameJSON(ls Labels, m map[string]string) error {
	raw, err := ls.MarshalJSON()
	if err != nil {
		return err
	}
	if !json.Valid(raw) {
		return fmt.Errorf("MarshalJSON is not valid JSON: %s", raw)
	}
	want, err := json.Marshal(m)
	if err != nil {
		return err
	}
	var g, w map[string]string
	if err := json.Unmarshal(raw, &g); err != nil {
		return err
	}
	if err := json.Unmarshal(want, &w); err != nil {
		return err
	}
	if !maps.Equal(g, w) {
		return fmt.Errorf("MarshalJSON = %s decodes to %q; encoding/json = %s decodes to %q", raw, g, want, w)
	}
	return nil
}

func checkSortedUnique(ls Labels) string {
	if err := checkLabelSet("labels", ls, false); err != nil {
		return err.Error()
	}
	return ""
}

func TestInvalidUTF8InLabelsIsReplaced(t *testing.T) {
	// 0xff is the separator of packed labels; it must never get in.
	ls := LabelsFromMap(map[string]string{"a": "b\xffc", "ab": "c", "\xfe": "x"})
	require.Equal(t, map[string]string{"a": "b\uFFFDc", "ab": "c", "\uFFFD": "x"}, ls.Map())
	require.Equal(t, model.LabelSet{"a": "b\uFFFDc", "ab": "c", "\uFFFD": "x"}.Fingerprint(), ls.Fingerprint())
}
