package rules

import (
	"fmt"
	"testing"

	"github.com/prometheus/alertmanager/pkg/labels"
	"github.com/stretchr/testify/require"
)

func TestFastMatcherAgrees(t *testing.T) {
	values := []string{"", "a", "b", "ab", "a|b", "t1", "x1", "t10", "a\nb", "\n", ".", ".*", "A", "critical", "crit"}
	for _, typ := range []labels.MatchType{labels.MatchEqual, labels.MatchNotEqual, labels.MatchRegexp, labels.MatchNotRegexp} {
		for _, pat := range []string{"", "a", "a|b", "t1|x1", ".*", ".+", "a.*", "(a|b)", "a|", "crit.*|page", `a\|b`, "[ab]", "A"} {
			if typ == labels.MatchEqual || typ == labels.MatchNotEqual {
				if pat != "" && pat != "a" && pat != "a|b" {
					continue
				}
			}
			m, err := labels.NewMatcher(typ, "l", pat)
			require.NoError(t, err)
			fm := compileMatcher(m)
			for _, v := range values {
				require.Equal(t, m.Matches(v), fm.matches(v), fmt.Sprintf("%s on %q (kind %d)", m, v, fm.kind))
			}
		}
	}
}

func TestLabelView(t *testing.T) {
	var kv []string
	for i := range 30 {
		kv = append(kv, fmt.Sprintf("l%02d", i), fmt.Sprint(i))
	}
	for _, n := range []int{0, 3, 30} {
		ls := lbls(kv[:2*n]...)
		v := unpack(nil, ls)
		require.Len(t, v, n)
		for name, want := range ls.All() {
			require.Equal(t, want, v.get(name))
		}
		require.Equal(t, "", v.get("zz"))
		require.Equal(t, "", v.get("a"))
	}
}
