package cmdb

import (
	"bytes"
	"encoding/json"
	"io"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

type apiFixture struct {
	s   *Store
	srv *httptest.Server
}

func newAPIFixture(t *testing.T, o APIOptions) *apiFixture {
	t.Helper()
	s, _ := newTestStore(t)
	_, err := s.Import(dataset(t, handMade), ModeReplace)
	require.NoError(t, err)
	mux := http.NewServeMux()
	NewAPI(s, o).Register(mux)
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return &apiFixture{s: s, srv: srv}
}

// do sends a request and decodes a JSON answer into a generic value.
func (f *apiFixture) do(t *testing.T, method, path, contentType string, body io.Reader) (int, map[string]any) {
	t.Helper()
	req, err := http.NewRequest(method, f.srv.URL+path, body)
	require.NoError(t, err)
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	require.Equal(t, "application/json", resp.Header.Get("Content-Type"))
	var v map[string]any
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&v))
	return resp.StatusCode, v
}

func listIDs(v map[string]any) []string {
	var out []string
	for _, c := range v["cis"].([]any) {
		out = append(out, c.(map[string]any)["id"].(string))
	}
	return out
}

func TestAPIList(t *testing.T) {
	f := newAPIFixture(t, APIOptions{})
	code, v := f.do(t, "GET", "/api/v1/cis?class=host", "", nil)
	require.Equal(t, 200, code)
	require.Equal(t, []string{"::1", "fe80::1", "h1", "h2", "h3"}, listIDs(v), "id order")
	require.Nil(t, v["next_page_token"])

	code, v = f.do(t, "GET", "/api/v1/cis?q=SW", "", nil)
	require.Equal(t, 200, code)
	require.Equal(t, []string{"sw1", "sw2"}, listIDs(v), "q: substring of id or name, any case")
	_, v = f.do(t, "GET", "/api/v1/cis?q=host1", "", nil)
	require.Equal(t, []string{"h1"}, listIDs(v), "by name")

	// Paging walks every CI exactly once.
	var all []string
	token := ""
	for pages := 0; ; pages++ {
		require.Less(t, pages, 10)
		code, v = f.do(t, "GET", "/api/v1/cis?limit=4&page_token="+token, "", nil)
		require.Equal(t, 200, code)
		all = append(all, listIDs(v)...)
		next, _ := v["next_page_token"].(string)
		if next == "" {
			break
		}
		token = next
	}
	require.Len(t, all, 15)
	require.IsIncreasing(t, all)

	code, v = f.do(t, "GET", "/api/v1/cis?class=nothing", "", nil)
	require.Equal(t, 200, code)
	require.Equal(t, []any{}, v["cis"], "always an array")

	for _, l := range []string{"0", "10001", "x"} {
		code, v = f.do(t, "GET", "/api/v1/cis?limit="+l, "", nil)
		require.Equal(t, 400, code)
		require.Equal(t, "limit", v["field"])
		require.Equal(t, 400.0, v["code"])
	}
}

func TestAPIGetPutDelete(t *testing.T) {
	f := newAPIFixture(t, APIOptions{})
	code, v := f.do(t, "GET", "/api/v1/cis/db1", "", nil)
	require.Equal(t, 200, code)
	require.Equal(t, "db1", v["id"])
	require.Equal(t, []any{`job="postgres"`, `db="orders"`}, v["match"])
	require.Equal(t, map[string]any{}, v["attributes"])
	require.Len(t, v["relations"], 3)
	require.Contains(t, v["relations"], map[string]any{"from": "db1", "type": "runs_on", "to": "h3"})

	code, v = f.do(t, "GET", "/api/v1/cis/nope", "", nil)
	require.Equal(t, 404, code)
	require.Equal(t, `no CI with id "nope"`, v["message"])

	// PUT creates (201), replaces (200), and a GET body can be sent back.
	code, v = f.do(t, "PUT", "/api/v1/cis/web1", "application/json", strings.NewReader(`{"name":"Web 1","class":"host","criticality":2,"match":"role=\"web\", dc=\"a\"","attributes":{"rack":"r9"}}`))
	require.Equal(t, 201, code, v)
	require.Equal(t, "web1", v["id"])
	require.Equal(t, []any{`role="web"`, `dc="a"`}, v["match"])
	c, ok := f.s.Graph().Bind(lbls("role", "web", "dc", "a"))
	require.True(t, ok)
	require.Equal(t, "web1", c.ID)

	_, got := f.do(t, "GET", "/api/v1/cis/db1", "", nil)
	got["owner"] = "carol"
	b, _ := json.Marshal(got)
	code, v = f.do(t, "PUT", "/api/v1/cis/db1", "application/json", bytes.NewReader(b))
	require.Equal(t, 200, code, v)
	require.Equal(t, "carol", v["owner"])
	require.Len(t, f.s.Graph().Downstream("db1", 1, 0), 2)

	for _, c := range []struct{ body, field, msg string }{
		{`{"id":"other"}`, "id", "differs"},
		{`{"criticality":5}`, "criticality", "from 1 to 4"},
		{`{"match":"job=~\"(\""}`, "match[0]", "bad matcher"},
		{`{"match":[""]}`, "match[0]", "empty matcher"},
		{`{"colour":"red"}`, "", "unknown field"},
		{`{"match":3}`, "", "matcher string"},
		{`not json`, "", "invalid body"},
	} {
		code, v = f.do(t, "PUT", "/api/v1/cis/x", "application/json", strings.NewReader(c.body))
		require.Equal(t, 400, code, c.body)
		field, _ := v["field"].(string)
		require.Equal(t, c.field, field, "%s: %v", c.body, v)
		require.Contains(t, v["message"], c.msg, c.body)
	}
	code, _ = f.do(t, "PUT", "/api/v1/cis/%20x", "application/json", strings.NewReader(`{}`))
	require.Equal(t, 400, code)
	_, ok = f.s.Graph().CI("x")
	require.False(t, ok, "nothing applied")

	// DELETE refuses with 409 while relations reference the CI.
	code, v = f.do(t, "DELETE", "/api/v1/cis/db1", "", nil)
	require.Equal(t, 409, code)
	require.Contains(t, v["message"], "cascade")
	code, v = f.do(t, "DELETE", "/api/v1/cis/db1?cascade=maybe", "", nil)
	require.Equal(t, 400, code)
	require.Equal(t, "cascade", v["field"])
	code, v = f.do(t, "DELETE", "/api/v1/cis/db1?cascade=true", "", nil)
	require.Equal(t, 200, code)
	require.Equal(t, map[string]any{"deleted": "db1", "relations_removed": 3.0}, v)
	code, _ = f.do(t, "DELETE", "/api/v1/cis/db1", "", nil)
	require.Equal(t, 404, code)
	code, v = f.do(t, "DELETE", "/api/v1/cis/web1", "", nil)
	require.Equal(t, 200, code)
	require.Equal(t, 0.0, v["relations_removed"])
}

func TestAPIImpact(t *testing.T) {
	f := newAPIFixture(t, APIOptions{})
	code, v := f.do(t, "GET", "/api/v1/cis/sw1/impact", "", nil)
	require.Equal(t, 200, code)
	require.Equal(t, 3.0, v["hops"])
	require.Equal(t, []any{}, v["incidents"])
	imp := v["impacted"].([]any)
	require.Len(t, imp, 5)
	require.Equal(t, map[string]any{"id": "h1", "name": "host1.example", "class": "host", "criticality": 2.0, "support_group": "", "hops": 1.0, "incidents": []any{}}, imp[0])
	require.Equal(t, "svc", imp[4].(map[string]any)["id"])

	code, v = f.do(t, "GET", "/api/v1/cis/sw1/impact?hops=1", "", nil)
	require.Equal(t, 200, code)
	require.Len(t, v["impacted"], 2)
	for _, h := range []string{"0", "101", "x"} {
		code, v = f.do(t, "GET", "/api/v1/cis/sw1/impact?hops="+h, "", nil)
		require.Equal(t, 400, code)
		require.Equal(t, "hops", v["field"])
	}
	code, _ = f.do(t, "GET", "/api/v1/cis/nope/impact", "", nil)
	require.Equal(t, 404, code)

	var asked []string
	f = newAPIFixture(t, APIOptions{OpenIncidents: func(ids []string) map[string][]string {
		asked = ids
		return map[string][]string{"sw1": {"INC0000001"}, "app1": {"INC0000002", "INC0000003"}}
	}})
	_, v = f.do(t, "GET", "/api/v1/cis/sw1/impact?hops=2", "", nil)
	require.Equal(t, []string{"sw1", "h1", "h2", "app1", "app2"}, asked)
	require.Equal(t, []any{"INC0000001"}, v["incidents"])
	require.Equal(t, []any{"INC0000002", "INC0000003"}, v["impacted"].([]any)[2].(map[string]any)["incidents"])
	require.Equal(t, []any{}, v["impacted"].([]any)[3].(map[string]any)["incidents"])
}

func multipartBody(t *testing.T, parts map[string]string) (string, io.Reader) {
	t.Helper()
	var b bytes.Buffer
	w := multipart.NewWriter(&b)
	for _, name := range []string{"cis", "relations", "other"} {
		if content, ok := parts[name]; ok {
			pw, err := w.CreateFormFile(name, name+"-upload.csv")
			require.NoError(t, err)
			_, _ = pw.Write([]byte(content))
		}
	}
	require.NoError(t, w.Close())
	return w.FormDataContentType(), &b
}

func TestAPIImport(t *testing.T) {
	f := newAPIFixture(t, APIOptions{MaxImportBytes: 4096})

	code, v := f.do(t, "POST", "/api/v1/cmdb/import", "application/yaml", strings.NewReader("cis: [{id: a}, {id: b}]\nrelations: [{from: a, type: depends_on, to: b}]\n"))
	require.Equal(t, 200, code, v)
	require.Equal(t, map[string]any{"mode": "replace", "imported_cis": 2.0, "imported_relations": 1.0, "cis": 2.0, "relations": 1.0}, v)

	code, v = f.do(t, "POST", "/api/v1/cmdb/import?mode=merge", "application/json; charset=utf-8", strings.NewReader(`{"cis":[{"id":"c"}],"relations":[{"from":"c","type":"runs_on","to":"a"}]}`))
	require.Equal(t, 200, code, v)
	require.Equal(t, 3.0, v["cis"])
	require.Equal(t, 2.0, v["relations"])

	ct, body := multipartBody(t, map[string]string{
		"cis":       "id,name,class,environment,criticality,support_group,owner\nh1,Host 1,host,prod,2,unix,bob\napp,App,application,prod,1,dev,al\n",
		"relations": "from,type,to\napp,runs_on,h1\n",
	})
	code, v = f.do(t, "POST", "/api/v1/cmdb/import", ct, body)
	require.Equal(t, 200, code, v)
	require.Equal(t, 2.0, v["cis"])
	require.Equal(t, []string{"h1"}, ids(f.s.Graph().Upstream("app", 1, 0)))

	code, v = f.do(t, "POST", "/api/v1/cmdb/import", "text/csv", strings.NewReader("id\nz\n"))
	require.Equal(t, 200, code, v)
	require.Equal(t, 1.0, v["cis"])
	before := f.s.Graph()

	// Every error, with file, line and field; nothing applied.
	ct, body = multipartBody(t, map[string]string{
		"cis":       "id,criticality\na,1\nb,7\na,2\n",
		"relations": "from,type,to\na,runs_on,ghost\na,likes,b\n",
	})
	code, v = f.do(t, "POST", "/api/v1/cmdb/import", ct, body)
	require.Equal(t, 400, code)
	require.Equal(t, "import refused, nothing applied: 2 errors", v["message"])
	require.Equal(t, []any{
		map[string]any{"file": "cis-upload.csv", "line": 3.0, "field": "criticality", "message": `must be an integer from 1 to 4 (0 or empty: unknown), got "7"`},
		map[string]any{"file": "relations-upload.csv", "line": 3.0, "field": "type", "message": `unknown relation type "likes" (want depends_on, runs_on, connected_to or member_of)`},
	}, v["errors"], "decoding errors first; whole-set errors when decoding passes")
	ct, body = multipartBody(t, map[string]string{
		"cis":       "id,criticality\na,1\na,2\n",
		"relations": "from,type,to\na,runs_on,ghost\n",
	})
	code, v = f.do(t, "POST", "/api/v1/cmdb/import", ct, body)
	require.Equal(t, 400, code)
	require.Len(t, v["errors"], 2)
	require.Same(t, before, f.s.Graph())

	code, v = f.do(t, "POST", "/api/v1/cmdb/import", "application/json", strings.NewReader(`{"cis":[{"id":"a","criticality":9}]}`))
	require.Equal(t, 400, code)
	require.Equal(t, `import refused, nothing applied: body:1: cis[0].criticality: must be an integer from 1 to 4 (0 or empty: unknown), got "9"`, v["message"])

	for _, c := range []struct {
		ct, body string
		code     int
		msg      string
	}{
		{"application/x-www-form-urlencoded", "cis=", 415, "unsupported Content-Type"},
		{"", "{}", 415, "unsupported Content-Type"},
		{"application/json", "{\"cis\": [" + strings.Repeat(`{"id":"x"},`, 500) + "]}", 413, "4096 bytes"},
	} {
		code, v = f.do(t, "POST", "/api/v1/cmdb/import", c.ct, strings.NewReader(c.body))
		require.Equal(t, c.code, code, c.ct)
		require.Contains(t, v["message"], c.msg)
	}
	code, v = f.do(t, "POST", "/api/v1/cmdb/import?mode=upsert", "application/json", strings.NewReader("{}"))
	require.Equal(t, 400, code)
	require.Equal(t, "mode", v["field"])
	ct, body = multipartBody(t, map[string]string{"other": "id\n"})
	code, v = f.do(t, "POST", "/api/v1/cmdb/import", ct, body)
	require.Equal(t, 400, code)
	require.Contains(t, v["message"], `unknown part "other"`)
	ct, body = multipartBody(t, map[string]string{"cis": "from,type,to\n"})
	code, v = f.do(t, "POST", "/api/v1/cmdb/import", ct, body)
	require.Equal(t, 400, code)
	require.Contains(t, v["message"], "holds relations")
	require.Same(t, before, f.s.Graph())
}
