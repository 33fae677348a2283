package reliability

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/otelcol-mesh/otelcol-mesh/testbed/harness"
	"github.com/otelcol-mesh/otelcol-mesh/testbed/temposink"
)

// testPKI is a throw-away CA with a server and a client certificate, all
// ECDSA P-256, written as PEM files for the collector's tls settings.
type testPKI struct {
	CAFile, ServerCert, ServerKey, ClientCert, ClientKey string
	caPool                                               *x509.CertPool
	server                                               tls.Certificate
}

func newTestPKI(t *testing.T) *testPKI {
	t.Helper()
	dir := t.TempDir()
	newKey := func() *ecdsa.PrivateKey {
		k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		require.NoError(t, err)
		return k
	}
	serial := int64(1)
	template := func(cn string) *x509.Certificate {
		serial++
		return &x509.Certificate{
			SerialNumber: big.NewInt(serial),
			Subject:      pkix.Name{CommonName: cn, Organization: []string{"otelcol-mesh reliability tests"}},
			NotBefore:    time.Now().Add(-time.Hour),
			NotAfter:     time.Now().Add(24 * time.Hour),
		}
	}
	write := func(name, typ string, der []byte) string {
		path := filepath.Join(dir, name)
		require.NoError(t, os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600))
		return path
	}
	writeKey := func(name string, k *ecdsa.PrivateKey) string {
		der, err := x509.MarshalPKCS8PrivateKey(k)
		require.NoError(t, err)
		return write(name, "PRIVATE KEY", der)
	}

	caKey := newKey()
	caTmpl := template("reliability test CA")
	caTmpl.IsCA = true
	caTmpl.BasicConstraintsValid = true
	caTmpl.KeyUsage = x509.KeyUsageCertSign | x509.KeyUsageCRLSign
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	require.NoError(t, err)
	caCert, err := x509.ParseCertificate(caDER)
	require.NoError(t, err)

	issue := func(cn string, usage x509.ExtKeyUsage, key *ecdsa.PrivateKey) []byte {
		tmpl := template(cn)
		tmpl.KeyUsage = x509.KeyUsageDigitalSignature
		tmpl.ExtKeyUsage = []x509.ExtKeyUsage{usage}
		if usage == x509.ExtKeyUsageServerAuth {
			tmpl.DNSNames = []string{"localhost"}
			tmpl.IPAddresses = []net.IP{net.IPv4(127, 0, 0, 1)}
		}
		der, err := x509.CreateCertificate(rand.Reader, tmpl, caCert, &key.PublicKey, caKey)
		require.NoError(t, err)
		return der
	}
	serverKey, clientKey := newKey(), newKey()
	p := &testPKI{
		CAFile:     write("ca.pem", "CERTIFICATE", caDER),
		ServerCert: write("server.pem", "CERTIFICATE", issue("tempo.test", x509.ExtKeyUsageServerAuth, serverKey)),
		ServerKey:  writeKey("server-key.pem", serverKey),
		ClientCert: write("client.pem", "CERTIFICATE", issue("otelcol-mesh", x509.ExtKeyUsageClientAuth, clientKey)),
		ClientKey:  writeKey("client-key.pem", clientKey),
		caPool:     x509.NewCertPool(),
	}
	p.caPool.AddCert(caCert)
	p.server, err = tls.LoadX509KeyPair(p.ServerCert, p.ServerKey)
	require.NoError(t, err)
	return p
}

// serverTLS is the sink's TLS config; with mutual it requires a client
// certificate signed by the test CA.
func (p *testPKI) serverTLS(mutual bool) *tls.Config {
	cfg := &tls.Config{Certificates: []tls.Certificate{p.server}, MinVersion: tls.VersionTLS12}
	if mutual {
		cfg.ClientAuth = tls.RequireAndVerifyClientCert
		cfg.ClientCAs = p.caPool
	}
	return cfg
}

// TestTLSAndMutualTLSToTheSink exports over gRPC and HTTP to a TLS sink and
// to an mTLS sink, with certificates made by the test. Exports without a
// client certificate, or to a server signed by an unknown CA, fail and are
// counted; the rest arrive once under their tenant.
func TestTLSAndMutualTLSToTheSink(t *testing.T) {
	pki := newTestPKI(t)
	tlsSink := startSink(t, temposink.Config{GRPCAddr: "127.0.0.1:0", HTTPAddr: "127.0.0.1:0", TLS: pki.serverTLS(false)})
	mtlsSink := startSink(t, temposink.Config{GRPCAddr: "127.0.0.1:0", HTTPAddr: "127.0.0.1:0", TLS: pki.serverTLS(true)})
	opts := ownPipeline(t, map[string]string{
		"TLS_GRPC": tlsSink.GRPCAddr(), "TLS_HTTP": tlsSink.HTTPAddr(), "MTLS_GRPC": mtlsSink.GRPCAddr(), "MTLS_HTTP": mtlsSink.HTTPAddr(),
		"CA_FILE": pki.CAFile, "CLIENT_CERT": pki.ClientCert, "CLIENT_KEY": pki.ClientKey,
	}, "reliability/tls.yaml")
	col, ports := harness.Start(t, opts), opts.Ports
	src := newStream(t, 't', ports.OTLPGRPC)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	const requests, perReq = 4, 50
	for i := 0; i < requests; i++ {
		require.NoError(t, src.send(ctx, perReq, 0))
	}
	total := requests * perReq
	exporters := []string{"otlp_grpc/tls", "otlp_http/tls", "otlp_grpc/mtls", "otlp_http/mtls", "otlp_grpc/mtls_nocert", "otlp_grpc/untrusted"}
	var m harness.Metrics
	_, ok := waitFor(60*time.Second, func() bool {
		m = scrape(t, col)
		for _, e := range exporters {
			if exporterMetric(m, "otelcol_exporter_sent_spans", e)+exporterMetric(m, "otelcol_exporter_send_failed_spans", e) < float64(total) {
				return false
			}
		}
		return true
	})
	require.True(t, ok, "not every span accounted for")
	for _, c := range []struct {
		exporter, tenant string
		sink             *temposink.Sink
	}{
		{"otlp_grpc/tls", "grpc-tls", tlsSink}, {"otlp_http/tls", "http-tls", tlsSink},
		{"otlp_grpc/mtls", "grpc-mtls", mtlsSink}, {"otlp_http/mtls", "http-mtls", mtlsSink},
	} {
		d := src.compare(c.sink, c.tenant)
		t.Logf("%-22s %s sent=%.0f send_failed=%.0f", c.exporter, d,
			exporterMetric(m, "otelcol_exporter_sent_spans", c.exporter), exporterMetric(m, "otelcol_exporter_send_failed_spans", c.exporter))
		assert.Equal(t, total, d.received, c.exporter)
		assert.Zero(t, d.missing+d.duplicated+d.foreign, c.exporter)
	}
	for _, e := range []string{"otlp_grpc/mtls_nocert", "otlp_grpc/untrusted"} {
		failed := exporterMetric(m, "otelcol_exporter_send_failed_spans", e)
		t.Logf("%-22s (must fail) sent=%.0f send_failed=%.0f", e, exporterMetric(m, "otelcol_exporter_sent_spans", e), failed)
		assert.Equal(t, float64(total), failed, e)
	}
	assert.Zero(t, mtlsSink.SpanCount("nocert"))
	assert.Zero(t, tlsSink.SpanCount("untrusted"))
	log := col.Log()
	assert.True(t, strings.Contains(log, "certificate signed by unknown authority"), "the untrusted server is named in the log")
	require.NoError(t, col.Stop(30*time.Second))
}
