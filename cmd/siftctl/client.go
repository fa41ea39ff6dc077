package main

import (
	"bytes"
	"cmp"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/alecthomas/kingpin/v2"

	"github.com/sift-itsm/sift/correlate"
	"github.com/sift-itsm/sift/incident"
)

// client talks to a running siftd's REST API.
type client struct {
	url    string
	output string
	hc     *http.Client
	// timeout bounds a request when hc is nil; 30s when 0.
	timeout time.Duration
}

func (c *client) flags(cmd *kingpin.CmdClause) {
	cmd.Flag("url", "siftd's base URL.").Default("http://127.0.0.1:9095").Envar("SIFTCTL_URL").StringVar(&c.url)
	cmd.Flag("output", "Output format: table or json.").Short('o').Default("table").EnumVar(&c.output, "table", "json")
}

// do sends a request and decodes a 2xx JSON answer into v; any other
// answer is an error with the API's message.
func (c *client) do(method, path string, body any, v any) error {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, strings.TrimRight(c.url, "/")+path, rd)
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	hc := c.hc
	if hc == nil {
		hc = &http.Client{Timeout: cmp.Or(c.timeout, 30*time.Second)}
	}
	resp, err := hc.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		return err
	}
	if resp.StatusCode/100 != 2 {
		var e struct{ Message string }
		if json.Unmarshal(raw, &e) == nil && e.Message != "" {
			return fmt.Errorf("%s %s: %d: %s", method, path, resp.StatusCode, e.Message)
		}
		return fmt.Errorf("%s %s: %d: %s", method, path, resp.StatusCode, bytes.TrimSpace(raw))
	}
	return json.Unmarshal(raw, v)
}

// print writes v as indented JSON, or the table of header and the rows
// rows adds.
func (c *client) print(w io.Writer, v any, header string, rows func(add func(cols ...any))) error {
	return c.show(w, v, func(tw *tabwriter.Writer) {
		fmt.Fprintln(tw, header)
		rows(func(cols ...any) {
			s := make([]string, len(cols))
			for i, c := range cols {
				s[i] = fmt.Sprint(c)
			}
			fmt.Fprintln(tw, strings.Join(s, "\t"))
		})
	})
}

// show writes v as indented JSON, or what table writes, aligned.
func (c *client) show(w io.Writer, v any, table func(*tabwriter.Writer)) error {
	if c.output == "json" {
		return writeJSON(w, v)
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	table(tw)
	return tw.Flush()
}

// writeJSON writes v as indented JSON.
func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

func since(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return time.Since(t).Round(time.Second).String()
}

func (c *client) incidentsList(w io.Writer, state, priority string, limit int) error {
	q := url.Values{}
	if state != "" {
		q.Set("state", state)
	}
	if priority != "" {
		q.Set("priority", priority)
	}
	q.Set("limit", fmt.Sprint(limit))
	var page incident.Page
	if err := c.do(http.MethodGet, "/api/v1/incidents?"+q.Encode(), nil, &page); err != nil {
		return err
	}
	return c.print(w, page, "ID\tPRIORITY\tSTATE\tAGE\tALERTS\tCAUSE\tGROUP\tTITLE", func(add func(...any)) {
		for _, i := range page.Incidents {
			add(i.ID, i.Priority, i.State, since(i.OpenedAt), len(i.Alerts), dash(i.ProbableCause), dash(i.SupportGroup), i.Title)
		}
	})
}

func (c *client) incidentShow(w io.Writer, id string) error {
	var inc incident.JSON
	if err := c.do(http.MethodGet, "/api/v1/incidents/"+url.PathEscape(id), nil, &inc); err != nil {
		return err
	}
	return c.print(w, inc, "TIME\tACTOR\tKIND\tTEXT", func(add func(...any)) {
		add(inc.OpenedAt.Format(time.RFC3339), "-", "summary", fmt.Sprintf("%s %s %s cause=%s group=%s problem=%s", inc.ID, inc.Priority, inc.State, dash(inc.ProbableCause), dash(inc.SupportGroup), dash(inc.ProblemID)))
		for _, ch := range inc.ProbableChanges {
			add(ch.Start.Format(time.RFC3339), "-", "probable_change", ch.ID+" on "+ch.CI+": "+ch.Summary)
		}
		for _, e := range inc.Timeline {
			add(e.At.Format(time.RFC3339), e.Actor, e.Kind, e.Text)
		}
	})
}

func (c *client) incidentAct(w io.Writer, id, verb, actor, text string) error {
	var inc incident.JSON
	body := map[string]string{"actor": actor, "text": text}
	if err := c.do(http.MethodPost, "/api/v1/incidents/"+url.PathEscape(id)+"/"+verb, body, &inc); err != nil {
		return err
	}
	return c.print(w, inc, "ID\tSTATE\tVERSION", func(add func(...any)) { add(inc.ID, inc.State, inc.Version) })
}

func (c *client) problemsList(w io.Writer, state string) error {
	q := url.Values{}
	if state != "" {
		q.Set("state", state)
	}
	var page incident.ProblemPage
	if err := c.do(http.MethodGet, "/api/v1/problems?"+q.Encode(), nil, &page); err != nil {
		return err
	}
	return c.print(w, page, "ID\tSTATE\tOCCURRENCES\tLAST\tSIGNATURE", func(add func(...any)) {
		for _, p := range page.Problems {
			add(p.ID, p.State, p.Occurrences, since(p.LastOccurrence), p.Signature)
		}
	})
}

func (c *client) problemShow(w io.Writer, id string) error {
	var p incident.ProblemJSON
	if err := c.do(http.MethodGet, "/api/v1/problems/"+url.PathEscape(id), nil, &p); err != nil {
		return err
	}
	return c.print(w, p, "FIELD\tVALUE", func(add func(...any)) {
		add("id", p.ID)
		add("state", p.State)
		add("title", p.Title)
		add("signature", p.Signature)
		add("incidents", strings.Join(p.IncidentIDs, ", "))
		add("cis", dash(strings.Join(p.CIs, ", ")))
		add("root cause", dash(p.RootCause))
		add("workaround", dash(p.Workaround))
		add("runbook", dash(p.RunbookURL))
	})
}

func (c *client) changesList(w io.Writer) error {
	var out struct {
		Changes []correlate.ChangeEvent `json:"changes"`
	}
	if err := c.do(http.MethodGet, "/api/v1/changes", nil, &out); err != nil {
		return err
	}
	return c.print(w, out, "ID\tCI\tSTART\tSOURCE\tSUMMARY", func(add func(...any)) {
		for _, ch := range out.Changes {
			add(ch.ID, ch.CI, ch.Start.Format(time.RFC3339), dash(ch.Source), ch.Summary)
		}
	})
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
