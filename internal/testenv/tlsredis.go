package testenv

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"
)

// TLSCluster is a one-node Redis Cluster that speaks only TLS to clients
// and to its cluster bus, with a certificate for 127.0.0.1 and localhost
// signed by a throwaway CA. The node holds every slot.
type TLSCluster struct {
	node    *server
	tlsPort int
	caFile  string
}

// StartTLSCluster starts the node for the test and kills it when the test
// ends. It returns when the node reports cluster_state:ok.
func StartTLSCluster(t testing.TB) *TLSCluster {
	t.Helper()
	dir := t.TempDir()
	c := &TLSCluster{caFile: filepath.Join(dir, "ca.pem")}
	cert, key := filepath.Join(dir, "server.pem"), filepath.Join(dir, "server.key")
	writeCerts(t, c.caFile, cert, key)
	c.node = startServer(t, "tls cluster node", false, func(t testing.TB, _ int) string {
		c.tlsPort = freePort(t)
		return "tls-port " + strconv.Itoa(c.tlsPort) + "\n" +
			"tls-cert-file " + cert + "\ntls-key-file " + key + "\ntls-ca-cert-file " + c.caFile + "\n" +
			"tls-auth-clients no\ntls-cluster yes\n" +
			// A lone node has met no other to learn its own address from.
			"cluster-announce-ip 127.0.0.1\n" +
			"cluster-enabled yes\ncluster-config-file nodes.conf\n" +
			"cluster-port " + strconv.Itoa(freePort(t)) + "\n" +
			"save \"\"\nappendonly no\n"
	})
	// The plain port (testenv's own, on loopback) sets the cluster up.
	if _, err := call(c.node.addr(), "CLUSTER", "ADDSLOTSRANGE", "0", "16383"); err != nil {
		t.Fatalf("assign the slots: %v%s", err, c.node.log())
	}
	deadline := time.Now().Add(clusterReadyTimeout)
	for {
		reply, err := call(c.node.addr(), "CLUSTER", "INFO")
		text, _ := reply.(string)
		if err == nil && fields(text)["cluster_state"] == "ok" {
			return c
		}
		if time.Now().After(deadline) {
			t.Fatalf("TLS cluster not ready within %v: %v %q%s", clusterReadyTimeout, err, text, c.node.log())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// URL is the rediss-cluster:// URL of the node's TLS port.
func (c *TLSCluster) URL() string {
	return "rediss-cluster://" + net.JoinHostPort("127.0.0.1", strconv.Itoa(c.tlsPort))
}

// PlainURL is the same node named without TLS, which it refuses to serve
// on its TLS port.
func (c *TLSCluster) PlainURL() string {
	return "redis-cluster://" + net.JoinHostPort("127.0.0.1", strconv.Itoa(c.tlsPort))
}

// CAFile is the PEM file of the CA that signed the node's certificate, for
// SSL_CERT_FILE.
func (c *TLSCluster) CAFile() string { return c.caFile }

// writeCerts writes a new CA and a server certificate it signed, for
// 127.0.0.1 and localhost, valid for a day.
func writeCerts(t testing.TB, caFile, certFile, keyFile string) {
	t.Helper()
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	ca := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "jitbot test CA"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(24 * time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, ca, ca, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	leaf := &x509.Certificate{
		SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "redis"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(24 * time.Hour),
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, DNSNames: []string{"localhost"},
		KeyUsage:    x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
	}
	leafDER, err := x509.CreateCertificate(rand.Reader, leaf, ca, &key.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	for path, block := range map[string]*pem.Block{
		caFile:   {Type: "CERTIFICATE", Bytes: caDER},
		certFile: {Type: "CERTIFICATE", Bytes: leafDER},
		keyFile:  {Type: "EC PRIVATE KEY", Bytes: keyDER},
	} {
		if err := os.WriteFile(path, pem.EncodeToMemory(block), 0o600); err != nil {
			t.Fatal(err)
		}
	}
}
