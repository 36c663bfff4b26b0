package jetstream_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
)

// The nats-server configurations in docs/agents.md are ones
// nats-server accepts: a three-node JetStream cluster with token auth.
func TestDocsClusterConfigsParse(t *testing.T) {
	doc, err := os.ReadFile("../../../docs/agents.md")
	if err != nil {
		t.Fatal(err)
	}
	blocks := regexp.MustCompile("(?s)```conf\n(.*?)```").FindAllStringSubmatch(string(doc), -1)
	if len(blocks) != 2 {
		t.Fatalf("found %d conf blocks in the doc, want 2 (one machine, three machines)", len(blocks))
	}
	t.Setenv("RELAY_NATS_TOKEN", "doc-test-token")
	tlsDir := writeTestCerts(t)
	for i, b := range blocks {
		conf := strings.ReplaceAll(b[1], "/etc/nats/tls/", tlsDir+"/")
		conf = regexp.MustCompile(`store_dir: \S+`).ReplaceAllString(conf, "store_dir: "+filepath.ToSlash(t.TempDir()))
		path := filepath.Join(t.TempDir(), "nats.conf")
		if err := os.WriteFile(path, []byte(conf), 0o600); err != nil {
			t.Fatal(err)
		}
		opts, err := server.ProcessConfigFile(path)
		if err != nil {
			t.Fatalf("conf block %d: %v\n%s", i+1, err, conf)
		}
		if !opts.JetStream || opts.Authorization != "doc-test-token" || opts.Cluster.Name != "relay" || len(opts.Routes) != 3 || opts.ServerName != "n1" {
			t.Fatalf("conf block %d: jetstream %v, token %q, cluster %q, %d routes, name %q",
				i+1, opts.JetStream, opts.Authorization, opts.Cluster.Name, len(opts.Routes), opts.ServerName)
		}
	}
}

// writeTestCerts writes a self-signed certificate under every file name the
// doc's TLS blocks use.
func writeTestCerts(t *testing.T) string {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "n1.example.internal"},
		DNSNames: []string{"n1.example.internal"}, NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true,
		KeyUsage:    x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	certPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	keyPEM := pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER})
	dir := t.TempDir()
	for name, data := range map[string][]byte{
		"server.pem": certPEM, "server-key.pem": keyPEM, "route.pem": certPEM, "route-key.pem": keyPEM, "route-ca.pem": certPEM,
	} {
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return filepath.ToSlash(dir)
}
