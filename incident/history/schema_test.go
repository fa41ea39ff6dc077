package history

import (
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

const day = 24 * time.Hour

func TestFeaturesByVersion(t *testing.T) {
	f := func(major, minor uint64, ttl bool) {
		t.Helper()
		require.Equal(t, Features{TTL: ttl}, featuresOf(major, minor))
	}
	f(18, 16, false)
	f(19, 5, false)
	f(19, 6, true)
	f(20, 1, true)
	f(25, 3, true)
}

// The modern path's DDL (not runnable on the 18.16 of CI): the form the
// server prints back, so applyRetention's comparison holds.
func TestTTLStatements(t *testing.T) {
	require.Equal(t, "TTL received_at + toIntervalDay(90)", ttlClause(TableEvents, 90*day))
	require.Equal(t, "TTL changed_at + toIntervalDay(730)", ttlClause(TableAlertStates, 730*day))
	require.Equal(t, "TTL opened_at + toIntervalDay(2)", ttlClause(TableIncidents, day+time.Second), "rounded up to whole days")
	require.Equal(t, "", ttlClause(TableEvents, 0))
	require.Equal(t, "ALTER TABLE `sift`.events MODIFY TTL received_at + toIntervalDay(90)", ttlStatement("sift", TableEvents, 90*day))
	require.Equal(t, "ALTER TABLE `my\\`db`.problems REMOVE TTL", ttlStatement("my`db", TableProblems, 0))
}

func TestExpiredPartitions(t *testing.T) {
	now := time.Date(2026, 6, 15, 0, 0, 0, 0, time.UTC)
	parts := []uint32{202512, 202601, 202602, 202603, 202604, 202605, 202606, 999}
	// 90 days before is 2026-03-17: March and later keep rows inside
	// retention; February ended (with a day of slack) before it.
	require.Equal(t, []uint32{202512, 202601, 202602}, expiredPartitions(parts, 90*day, now))
	require.Empty(t, expiredPartitions(parts, 0, now), "0 keeps forever")
	require.Equal(t, []uint32{202512}, expiredPartitions(parts, 164*day, now))
}

// The schema uses only what 18.16 has; everything version-dependent is
// gated in code, not in the migrations.
func TestMigrationsAvoidNewTypes(t *testing.T) {
	bad := regexp.MustCompile(`\b(Map|JSON|LowCardinality|DateTime64|Object|Variant|Dynamic)\b|\bTTL\b`)
	for _, m := range migrations {
		for _, s := range m.statements {
			require.False(t, bad.MatchString(s), "migration %d uses a type or clause 18.16 lacks:\n%s", m.version, s)
			require.Contains(t, s, "IF NOT EXISTS {db}.")
		}
	}
	// Every table has a migration, a time column and insert columns
	// that all exist in its DDL or are added by a later migration.
	added := map[string]bool{}
	for _, m := range migrations {
		for _, c := range m.columns {
			require.False(t, bad.MatchString(c.typ), "migration %d: %s.%s", m.version, c.table, c.name)
			added[c.table+"."+c.name] = true
		}
	}
	ddl := strings.Join(migrations[0].statements, "\n")
	for _, table := range Tables {
		require.Contains(t, ddl, "{db}."+table+" (")
		require.Contains(t, timeColumn, table)
		i := strings.Index(ddl, "{db}."+table+" (")
		body := ddl[i : i+strings.Index(ddl[i:], "ENGINE")]
		for _, c := range insertColumns[table] {
			if added[table+"."+c] {
				continue
			}
			require.Regexp(t, `(?m)^\t`+regexp.QuoteMeta(c)+` `, body, "%s.%s", table, c)
		}
		require.Contains(t, body, "\t"+timeColumn[table]+" DateTime,")
	}
}

func TestMatcherSQL(t *testing.T) {
	sql, args := matcherSQL(mustMatchers(t, `{a="1", b!="2", c=~"x.*", d!~"y|z"}`), "ln", "lv")
	require.Equal(t, "lv[indexOf(ln, ?)] = ? AND lv[indexOf(ln, ?)] != ? AND match(lv[indexOf(ln, ?)], ?) AND NOT match(lv[indexOf(ln, ?)], ?)", sql)
	require.Equal(t, []any{"a", "1", "b", "2", "c", "^(?:x.*)$", "d", "^(?:y|z)$"}, args)
	sql, args = matcherSQL(nil, "ln", "lv")
	require.Empty(t, sql)
	require.Empty(t, args)
}

func TestCursorRoundTrip(t *testing.T) {
	c := Cursor{ReceivedNs: 1773489600000000000, ID: EventID{Run: 1773489000000000001, Seq: 77, Idx: 3}}
	got, err := ParseCursor(c.String())
	require.NoError(t, err)
	require.Equal(t, c, got)
	for _, bad := range []string{"", "1-2-3", "a-b-c-d", "1-2-3-99999999999"} {
		_, err := ParseCursor(bad)
		require.Error(t, err, bad)
	}
}
