package notify

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
)

// HTTPError is a non-2xx answer. 4xx answers other than 408 and 429 are
// permanent (the request is wrong and stays wrong); the rest are retried.
type HTTPError struct {
	Method string
	// URL is the request's, without its query, user info and, for
	// secret URLs, its path.
	URL    string
	Status int
	// Body is the start of the answer, for the log.
	Body string
}

func (e *HTTPError) Error() string {
	return fmt.Sprintf("%s %s: %d %s: %s", e.Method, e.URL, e.Status, http.StatusText(e.Status), e.Body)
}

// Request is an HTTP call of an integration.
type Request struct {
	Method string
	URL    string
	// SecretURL hides the URL's path in errors (Slack and webhook URLs
	// carry their token in it).
	SecretURL bool
	Header    http.Header
	// Body is sent as JSON unless it is []byte or io.Reader.
	Body any
	// ContentType is for a non-JSON body.
	ContentType string
}

// Do sends the request and returns the answer's body. A non-2xx answer is
// an *HTTPError, wrapped with Permanent for 4xx but 408 and 429; errors
// never show secret URLs.
func Do(ctx context.Context, c *http.Client, r Request) ([]byte, error) {
	var body io.Reader
	ct := r.ContentType
	switch b := r.Body.(type) {
	case nil:
	case []byte:
		body = bytes.NewReader(b)
	case io.Reader:
		body = b
	default:
		raw, err := EncodeJSON(b)
		if err != nil {
			return nil, Permanent(fmt.Errorf("encoding request: %w", err))
		}
		body = bytes.NewReader(raw)
		if ct == "" {
			ct = "application/json"
		}
	}
	req, err := http.NewRequestWithContext(ctx, r.Method, r.URL, body)
	if err != nil {
		return nil, Permanent(fmt.Errorf("request to %s: %w", redact(r.URL, r.SecretURL), stripURL(err)))
	}
	for k, vs := range r.Header {
		req.Header[k] = vs
	}
	if ct != "" {
		req.Header.Set("Content-Type", ct)
	}
	if req.Header.Get("Accept") == "" {
		req.Header.Set("Accept", "application/json")
	}
	req.Header.Set("User-Agent", "sift")
	resp, err := c.Do(req)
	if err != nil {
		return nil, fmt.Errorf("%s %s: %w", r.Method, redact(r.URL, r.SecretURL), stripURL(err))
	}
	defer resp.Body.Close()
	out, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return nil, fmt.Errorf("%s %s: reading the answer: %w", r.Method, redact(r.URL, r.SecretURL), err)
	}
	if resp.StatusCode/100 == 2 {
		return out, nil
	}
	herr := &HTTPError{Method: r.Method, URL: redact(r.URL, r.SecretURL), Status: resp.StatusCode, Body: truncate(strings.TrimSpace(string(out)), 200)}
	if resp.StatusCode/100 == 4 && resp.StatusCode != http.StatusRequestTimeout && resp.StatusCode != http.StatusTooManyRequests {
		return out, Permanent(herr)
	}
	return out, herr
}

// EncodeJSON encodes v as JSON without HTML escaping (texts keep their
// "<" and "&"), without a trailing newline.
func EncodeJSON(v any) ([]byte, error) {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(b.Bytes(), []byte("\n")), nil
}

// redact shows a URL without user info and query, and without its path
// if secret.
func redact(raw string, secret bool) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "<invalid URL>"
	}
	u.User = nil
	u.RawQuery = ""
	u.Fragment = ""
	if secret {
		u.Path, u.RawPath = "/<secret>", ""
	}
	return u.String()
}

// stripURL drops the URL from a *url.Error: it may carry a secret.
func stripURL(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err
	}
	return err
}

// BasicAuth is the Authorization header of HTTP basic authentication.
func BasicAuth(user, password string) http.Header {
	return http.Header{"Authorization": {"Basic " + base64.StdEncoding.EncodeToString([]byte(user+":"+password))}}
}
