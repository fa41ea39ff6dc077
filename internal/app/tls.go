package app

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"

	"github.com/sift-itsm/sift/config"
)

// clientTLS builds the client side of a config TLS block (history,
// Kafka, email), reading its files with read. Errors name the key within
// the block; callers say which block.
func clientTLS(c *config.TLSConfig, read func(string) ([]byte, error)) (*tls.Config, error) {
	t := &tls.Config{ServerName: c.ServerName, InsecureSkipVerify: c.InsecureSkipVerify, MinVersion: tls.VersionTLS12}
	if c.CAFile != "" {
		pem, err := read(c.CAFile)
		if err != nil {
			return nil, fmt.Errorf("ca_file: %w", err)
		}
		t.RootCAs = x509.NewCertPool()
		if !t.RootCAs.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("ca_file: no certificate in %q", c.CAFile)
		}
	}
	if c.CertFile != "" {
		cert, err := tls.LoadX509KeyPair(c.CertFile, c.KeyFile)
		if err != nil {
			return nil, fmt.Errorf("cert_file, key_file: %w", err)
		}
		t.Certificates = []tls.Certificate{cert}
	}
	return t, nil
}
