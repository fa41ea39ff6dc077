package email

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"math/big"
	"net"
	"net/textproto"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/sift-itsm/sift/notify"
	"github.com/sift-itsm/sift/notify/notifytest"
)

// smtpServer is a small SMTP server on loopback: EHLO, STARTTLS, AUTH
// PLAIN, MAIL, RCPT, DATA, QUIT. It records the commands (the AUTH
// payload decoded) and the messages.
type smtpServer struct {
	ln       net.Listener
	tls      *tls.Config
	offerTLS bool
	rcptCode int

	mu       sync.Mutex
	commands []string
	messages []string
}

func newSMTPServer(t *testing.T, offerTLS bool) (*smtpServer, *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "127.0.0.1"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, KeyUsage: x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	require.NoError(t, err)
	cert, err := x509.ParseCertificate(der)
	require.NoError(t, err)
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	s := &smtpServer{ln: ln, offerTLS: offerTLS, rcptCode: 250,
		tls: &tls.Config{Certificates: []tls.Certificate{{Certificate: [][]byte{der}, PrivateKey: key}}}}
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			wg.Add(1)
			go func() { defer wg.Done(); s.serve(c) }()
		}
	}()
	t.Cleanup(func() { ln.Close(); wg.Wait() })
	return s, pool
}

func (s *smtpServer) record(cmd string) {
	s.mu.Lock()
	s.commands = append(s.commands, cmd)
	s.mu.Unlock()
}

func (s *smtpServer) serve(conn net.Conn) {
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
	tp := textproto.NewConn(conn)
	secure := false
	reply := func(format string, args ...any) { _ = tp.PrintfLine(format, args...) }
	reply("220 127.0.0.1 ESMTP test")
	for {
		line, err := tp.ReadLine()
		if err != nil {
			return
		}
		verb, arg, _ := strings.Cut(line, " ")
		switch strings.ToUpper(verb) {
		case "EHLO":
			s.record("EHLO " + arg)
			reply("250-127.0.0.1 greets %s", arg)
			if s.offerTLS && !secure {
				reply("250-STARTTLS")
			}
			reply("250 AUTH PLAIN")
		case "STARTTLS":
			s.record("STARTTLS")
			reply("220 ready")
			tc := tls.Server(conn, s.tls)
			if tc.Handshake() != nil {
				return
			}
			conn, secure = tc, true
			tp = textproto.NewConn(conn)
		case "AUTH":
			_, b64, _ := strings.Cut(arg, " ")
			raw, _ := base64.StdEncoding.DecodeString(b64)
			s.record("AUTH PLAIN " + strings.ReplaceAll(string(raw), "\x00", "|") + " tls=" + map[bool]string{true: "yes", false: "no"}[secure])
			reply("235 2.7.0 authenticated")
		case "MAIL", "RCPT":
			s.record(line)
			if verb == "RCPT" && s.rcptCode != 250 {
				reply("%d 5.1.1 no such user", s.rcptCode)
				continue
			}
			reply("250 ok")
		case "DATA":
			s.record("DATA")
			reply("354 go ahead")
			lines, err := tp.ReadDotLines()
			if err != nil {
				return
			}
			s.mu.Lock()
			s.messages = append(s.messages, strings.Join(lines, "\n"))
			s.mu.Unlock()
			reply("250 queued")
		case "QUIT":
			s.record("QUIT")
			reply("221 bye")
			return
		default:
			reply("502 unknown")
		}
	}
}

func (s *smtpServer) snapshot() ([]string, []string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.commands...), append([]string(nil), s.messages...)
}

func TestEmailOverSTARTTLSWithAuth(t *testing.T) {
	srv, pool := newSMTPServer(t, true)
	e := &Email{
		To: "noc@example.com, dba@example.com", From: "sift <sift@example.com>", Smarthost: srv.ln.Addr().String(), Hello: "sift.example.com",
		Username: "sift", Password: "hunter2", RequireTLS: true, TLS: &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12},
		Headers: map[string]string{"x-team": "{{ .Incident.SupportGroup }}"},
		Now:     func() time.Time { return notifytest.T0.Add(5 * time.Minute) },
	}
	for _, ev := range []notify.Event{notify.EventOpened, notify.EventAcknowledged} {
		_, err := e.Notify(context.Background(), notifytest.Event(t, ev, "noc/email"))
		require.NoError(t, err)
	}
	cmds, msgs := srv.snapshot()
	session := []string{"EHLO sift.example.com", "STARTTLS", "EHLO sift.example.com", "AUTH PLAIN |sift|hunter2 tls=yes",
		"MAIL FROM:<sift@example.com>", "RCPT TO:<noc@example.com>", "RCPT TO:<dba@example.com>", "DATA", "QUIT"}
	require.Equal(t, append(session, session...), cmds)
	require.Len(t, msgs, 2)
	notifytest.Golden(t, "opened.golden", msgs[0]+"\n")
	notifytest.Golden(t, "acknowledged.golden", msgs[1]+"\n")
}

func TestEmailRequiresTLS(t *testing.T) {
	srv, _ := newSMTPServer(t, false)
	e := &Email{To: "noc@example.com", From: "sift@example.com", Smarthost: srv.ln.Addr().String(), RequireTLS: true}
	_, err := e.Notify(context.Background(), notifytest.Event(t, notify.EventOpened, "noc/email"))
	require.ErrorContains(t, err, "does not offer STARTTLS")
	require.False(t, notify.Retryable(err))
	_, msgs := srv.snapshot()
	require.Empty(t, msgs)

	// Without require_tls it sends in the clear (a relay on loopback).
	e.RequireTLS = false
	_, err = e.Notify(context.Background(), notifytest.Event(t, notify.EventOpened, "noc/email"))
	require.NoError(t, err)
	_, msgs = srv.snapshot()
	require.Len(t, msgs, 1)
}

func TestEmailErrors(t *testing.T) {
	srv, pool := newSMTPServer(t, true)
	srv.rcptCode = 550
	e := &Email{To: "nobody@example.com", From: "sift@example.com", Smarthost: srv.ln.Addr().String(), TLS: &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}}
	_, err := e.Notify(context.Background(), notifytest.Event(t, notify.EventOpened, "noc/email"))
	require.ErrorContains(t, err, "RCPT TO")
	require.False(t, notify.Retryable(err), "550 is permanent")

	srv.ln.Close()
	_, err = e.Notify(context.Background(), notifytest.Event(t, notify.EventOpened, "noc/email"))
	require.Error(t, err)
	require.True(t, notify.Retryable(err), "a server that is down may come back")

	e.To = "{{ .Incident.Assignee }}"
	_, err = e.Notify(context.Background(), notifytest.Event(t, notify.EventOpened, "noc/email"))
	require.ErrorContains(t, err, "no recipient")
}
