package email

import (
	"bytes"
	"cmp"
	"context"
	"crypto/sha256"
	"crypto/tls"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"maps"
	"mime"
	"mime/multipart"
	"mime/quotedprintable"
	"net"
	"net/smtp"
	"net/textproto"
	"slices"
	"strings"
	"time"

	"github.com/sift-itsm/sift/notify"
)

// Default templates.
const (
	DefaultSubject = `{{ template "email.sift.subject" . }}`
	DefaultText    = `{{ template "email.sift.text" . }}`
	DefaultHTML    = `{{ template "email.sift.html" . }}`
)

// Email sends notifications over SMTP.
type Email struct {
	// To is a comma-separated list of addresses (a template).
	To   string
	From string
	// Smarthost is host:port.
	Smarthost string
	// Hello is the EHLO name ("localhost" when empty).
	Hello string
	// Username, Password and Identity authenticate when Username is set.
	Username, Password, Identity string
	// RequireTLS refuses to send without STARTTLS (on ports other than
	// 465, which speaks TLS from the start).
	RequireTLS bool
	// TLS configures the TLS connection; its ServerName defaults to the
	// smarthost's host.
	TLS *tls.Config
	// Subject, Text and HTML are templates; the defaults when empty. An
	// HTML template that renders empty sends text only.
	Subject, Text, HTML string
	// Headers are added to the message (values are templates).
	Headers map[string]string
	// Now stamps the Date header; time.Now when nil.
	Now func() time.Time
	// Dial connects; a net.Dialer when nil.
	Dial func(ctx context.Context, network, addr string) (net.Conn, error)
}

// Notify implements notify.Integration.
func (e *Email) Notify(ctx context.Context, m *notify.Message) (string, error) {
	msg, rcpts, err := e.message(m)
	if err != nil {
		return "", notify.Permanent(err)
	}
	return "", e.send(ctx, rcpts, msg)
}

// message renders the message and its recipients.
func (e *Email) message(m *notify.Message) ([]byte, []string, error) {
	r := m.Render()
	to := r.Text(e.To)
	subject := r.Text(cmp.Or(e.Subject, DefaultSubject))
	text := r.Text(cmp.Or(e.Text, DefaultText))
	html := r.HTML(cmp.Or(e.HTML, DefaultHTML))
	headers := map[string]string{}
	for k, v := range e.Headers {
		headers[textproto.CanonicalMIMEHeaderKey(k)] = r.Text(v)
	}
	if err := r.Err(); err != nil {
		return nil, nil, err
	}
	var rcpts []string
	for _, a := range strings.Split(to, ",") {
		if a = strings.TrimSpace(a); a != "" {
			rcpts = append(rcpts, a)
		}
	}
	if len(rcpts) == 0 {
		return nil, nil, errors.New("no recipient: to rendered empty")
	}
	now := time.Now
	if e.Now != nil {
		now = e.Now
	}
	domain := "sift"
	if i := strings.LastIndexByte(e.From, '@'); i >= 0 {
		domain = strings.TrimRight(e.From[i+1:], ">")
	}
	id := fmt.Sprintf("%s.%s.%d", m.Incident.ID(), m.Event, m.Occurrence.Occurrence)
	var b bytes.Buffer
	h := map[string]string{
		"Date":            now().UTC().Format(time.RFC1123Z),
		"From":            e.From,
		"To":              strings.Join(rcpts, ", "),
		"Subject":         mime.QEncoding.Encode("utf-8", subject),
		"Message-Id":      "<" + id + "@" + domain + ">",
		"Mime-Version":    "1.0",
		"X-Sift-Incident": m.Incident.ID(),
		"X-Sift-Event":    m.Event.String(),
	}
	if m.Event != notify.EventOpened {
		first := "<" + m.Incident.ID() + ".opened.1@" + domain + ">"
		h["In-Reply-To"], h["References"] = first, first
	}
	maps.Copy(h, headers)
	sum := sha256.Sum256([]byte(id))
	mw := multipart.NewWriter(&b)
	if err := mw.SetBoundary("sift-" + hex.EncodeToString(sum[:12])); err != nil {
		return nil, nil, err
	}
	h["Content-Type"] = "multipart/alternative; boundary=" + mw.Boundary()
	var head bytes.Buffer
	for _, k := range slices.Sorted(maps.Keys(h)) {
		fmt.Fprintf(&head, "%s: %s\r\n", k, h[k])
	}
	head.WriteString("\r\n")
	part := func(ct, body string) error {
		w, err := mw.CreatePart(textproto.MIMEHeader{"Content-Type": {ct + "; charset=UTF-8"}, "Content-Transfer-Encoding": {"quoted-printable"}})
		if err != nil {
			return err
		}
		qp := quotedprintable.NewWriter(w)
		if _, err := io.WriteString(qp, body); err != nil {
			return err
		}
		return qp.Close()
	}
	if err := part("text/plain", text); err != nil {
		return nil, nil, err
	}
	if strings.TrimSpace(html) != "" {
		if err := part("text/html", html); err != nil {
			return nil, nil, err
		}
	}
	if err := mw.Close(); err != nil {
		return nil, nil, err
	}
	return append(head.Bytes(), b.Bytes()...), rcpts, nil
}

// send delivers msg over SMTP.
func (e *Email) send(ctx context.Context, rcpts []string, msg []byte) error {
	host, port, err := net.SplitHostPort(e.Smarthost)
	if err != nil {
		return notify.Permanent(fmt.Errorf("smarthost %q: %w", e.Smarthost, err))
	}
	tc := &tls.Config{MinVersion: tls.VersionTLS12}
	if e.TLS != nil {
		tc = e.TLS.Clone()
	}
	if tc.ServerName == "" {
		tc.ServerName = host
	}
	dial := e.Dial
	if dial == nil {
		dial = (&net.Dialer{}).DialContext
	}
	conn, err := dial(ctx, "tcp", e.Smarthost)
	if err != nil {
		return fmt.Errorf("connecting to %s: %w", e.Smarthost, err)
	}
	if port == "465" {
		conn = tls.Client(conn, tc)
	}
	if dl, ok := ctx.Deadline(); ok {
		_ = conn.SetDeadline(dl)
	}
	stop := context.AfterFunc(ctx, func() { _ = conn.Close() })
	defer stop()
	c, err := smtp.NewClient(conn, host)
	if err != nil {
		conn.Close()
		return fmt.Errorf("smtp %s: %w", e.Smarthost, err)
	}
	defer c.Close()
	if err := c.Hello(cmp.Or(e.Hello, "localhost")); err != nil {
		return smtpErr("EHLO", err)
	}
	if port != "465" {
		if ok, _ := c.Extension("STARTTLS"); ok {
			if err := c.StartTLS(tc); err != nil {
				return smtpErr("STARTTLS", err)
			}
		} else if e.RequireTLS {
			return notify.Permanent(fmt.Errorf("smtp %s does not offer STARTTLS and require_tls is set", e.Smarthost))
		}
	}
	if e.Username != "" {
		ok, mechs := c.Extension("AUTH")
		if !ok {
			return notify.Permanent(fmt.Errorf("smtp %s offers no authentication, and auth_username is set", e.Smarthost))
		}
		var a smtp.Auth
		switch {
		case strings.Contains(mechs, "PLAIN"):
			a = smtp.PlainAuth(e.Identity, e.Username, e.Password, host)
		case strings.Contains(mechs, "CRAM-MD5"):
			a = smtp.CRAMMD5Auth(e.Username, e.Password)
		default:
			return notify.Permanent(fmt.Errorf("smtp %s: no supported authentication in %q", e.Smarthost, mechs))
		}
		if err := c.Auth(a); err != nil {
			return smtpErr("AUTH", err)
		}
	}
	if err := c.Mail(addr(e.From)); err != nil {
		return smtpErr("MAIL FROM", err)
	}
	for _, r := range rcpts {
		if err := c.Rcpt(addr(r)); err != nil {
			return smtpErr("RCPT TO", err)
		}
	}
	w, err := c.Data()
	if err != nil {
		return smtpErr("DATA", err)
	}
	if _, err := w.Write(msg); err != nil {
		return smtpErr("DATA", err)
	}
	if err := w.Close(); err != nil {
		return smtpErr("DATA", err)
	}
	return c.Quit()
}

// smtpErr classifies an SMTP error: 5xx replies are permanent.
func smtpErr(stage string, err error) error {
	var te *textproto.Error
	if errors.As(err, &te) && te.Code >= 500 {
		return notify.Permanent(fmt.Errorf("smtp %s: %w", stage, err))
	}
	return fmt.Errorf("smtp %s: %w", stage, err)
}

// addr takes the address out of "Name <a@b>".
func addr(s string) string {
	if i := strings.LastIndexByte(s, '<'); i >= 0 {
		if j := strings.IndexByte(s[i:], '>'); j > 0 {
			return s[i+1 : i+j]
		}
	}
	return strings.TrimSpace(s)
}
