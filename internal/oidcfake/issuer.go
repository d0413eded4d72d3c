// Package oidcfake is an OpenID Connect issuer for tests: it serves
// discovery and a JSON Web Key Set on a loopback HTTP server and signs ID
// tokens the way GitHub Actions, GitLab CI and Kubernetes do, so code that
// verifies workload tokens can be tested against the real go-oidc client
// over HTTP instead of against mocks.
//
// Besides good tokens it makes the bad ones a verifier must refuse: tokens
// signed with a key the issuer never published, unsigned (alg "none")
// tokens, HS256 tokens keyed with the public key (algorithm confusion), and
// tokens from before or after a key rotation.
package oidcfake

import (
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"

	jose "github.com/go-jose/go-jose/v4"
)

// keyBits is the RSA modulus size; 2048 is what GitHub, GitLab and
// Kubernetes sign with.
const keyBits = 2048

// Issuer is a running fake OIDC issuer. Its methods are safe for
// concurrent use.
type Issuer struct {
	// URL is the issuer identifier: the iss claim of its tokens, the
	// "issuer" of its discovery document and the base URL of its server.
	URL string

	t   testing.TB
	srv *httptest.Server

	mu            sync.Mutex
	keys          []jose.JSONWebKey // published; the last one signs
	failDiscovery bool
	discoveries   int // discovery requests served, failed ones included
	keyFetches    int // JWKS requests served
}

// Start runs an issuer with one freshly generated RS256 key on a loopback
// server that t's cleanup closes.
func Start(t testing.TB) *Issuer {
	t.Helper()
	i := &Issuer{t: t}
	i.keys = []jose.JSONWebKey{i.newKey()}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /.well-known/openid-configuration", i.serveDiscovery)
	mux.HandleFunc("GET /keys", i.serveKeys)
	i.srv = httptest.NewServer(mux)
	i.URL = i.srv.URL
	t.Cleanup(i.srv.Close)
	return i
}

// newKey generates an RSA key whose key ID is its RFC 7638 thumbprint, as
// Kubernetes derives its kid.
func (i *Issuer) newKey() jose.JSONWebKey {
	i.t.Helper()
	priv, err := rsa.GenerateKey(rand.Reader, keyBits)
	if err != nil {
		i.t.Fatalf("oidcfake: generate key: %v", err)
	}
	k := jose.JSONWebKey{Key: priv, Algorithm: string(jose.RS256), Use: "sig"}
	thumb, err := k.Thumbprint(crypto.SHA256)
	if err != nil {
		i.t.Fatalf("oidcfake: key thumbprint: %v", err)
	}
	k.KeyID = base64.RawURLEncoding.EncodeToString(thumb)
	return k
}

func (i *Issuer) serveDiscovery(w http.ResponseWriter, _ *http.Request) {
	i.mu.Lock()
	i.discoveries++
	fail := i.failDiscovery
	i.mu.Unlock()
	if fail {
		http.Error(w, "discovery is failing on purpose", http.StatusServiceUnavailable)
		return
	}
	// The fields GitHub's and GitLab's discovery documents carry that a
	// relying party reads; authorization endpoints are left out because
	// workload issuers have none.
	writeJSON(w, map[string]any{
		"issuer":                                i.URL,
		"jwks_uri":                              i.URL + "/keys",
		"response_types_supported":              []string{"id_token"},
		"subject_types_supported":               []string{"public", "pairwise"},
		"id_token_signing_alg_values_supported": []string{string(jose.RS256)},
		"claims_supported":                      []string{"iss", "sub", "aud", "exp", "nbf", "iat", "jti"},
	})
}

func (i *Issuer) serveKeys(w http.ResponseWriter, _ *http.Request) {
	i.mu.Lock()
	i.keyFetches++
	set := jose.JSONWebKeySet{}
	for _, k := range i.keys {
		set.Keys = append(set.Keys, k.Public())
	}
	i.mu.Unlock()
	writeJSON(w, set)
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(v)
}

// signer is the key new tokens are signed with.
func (i *Issuer) signer() jose.JSONWebKey {
	i.mu.Lock()
	defer i.mu.Unlock()
	return i.keys[len(i.keys)-1]
}

// Token signs claims with the current key (RS256, with its kid and typ
// JWT in the header) and returns the compact JWT.
func (i *Issuer) Token(claims map[string]any) string {
	i.t.Helper()
	return i.sign(claims, jose.SigningKey{Algorithm: jose.RS256, Key: i.signer()}, nil)
}

// ForgedToken signs claims with a fresh key the issuer never published,
// under the kid of the current key: what an attacker without the private
// key can make. A verifier must refuse it.
func (i *Issuer) ForgedToken(claims map[string]any) string {
	i.t.Helper()
	forger := i.newKey()
	forger.KeyID = i.signer().KeyID
	return i.sign(claims, jose.SigningKey{Algorithm: jose.RS256, Key: forger}, nil)
}

// HMACToken signs claims with HS256 keyed by secret, with the current
// key's kid in the header. Given PublicKeyPEM as the secret it is the
// algorithm-confusion attack: a verifier that lets the token's alg pick
// how the published key is used would check the MAC with the public key
// and accept it.
func (i *Issuer) HMACToken(claims map[string]any, secret []byte) string {
	i.t.Helper()
	opts := (&jose.SignerOptions{}).WithHeader("kid", i.signer().KeyID)
	return i.sign(claims, jose.SigningKey{Algorithm: jose.HS256, Key: secret}, opts)
}

// UnsignedToken returns claims as an unsecured JWT (alg "none", empty
// signature, RFC 7519 section 6), with the current key's kid in the
// header. go-jose cannot produce one, so it is put together by hand.
func (i *Issuer) UnsignedToken(claims map[string]any) string {
	i.t.Helper()
	header := map[string]string{"alg": "none", "typ": "JWT", "kid": i.signer().KeyID}
	return encodeSegment(i.t, header) + "." + encodeSegment(i.t, claims) + "."
}

func encodeSegment(t testing.TB, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatalf("oidcfake: encode token segment: %v", err)
	}
	return base64.RawURLEncoding.EncodeToString(b)
}

func (i *Issuer) sign(claims map[string]any, key jose.SigningKey, opts *jose.SignerOptions) string {
	i.t.Helper()
	if opts == nil {
		opts = &jose.SignerOptions{}
	}
	signer, err := jose.NewSigner(key, opts.WithType("JWT"))
	if err != nil {
		i.t.Fatalf("oidcfake: signer: %v", err)
	}
	payload, err := json.Marshal(claims)
	if err != nil {
		i.t.Fatalf("oidcfake: encode claims: %v", err)
	}
	jws, err := signer.Sign(payload)
	if err != nil {
		i.t.Fatalf("oidcfake: sign: %v", err)
	}
	raw, err := jws.CompactSerialize()
	if err != nil {
		i.t.Fatalf("oidcfake: serialize: %v", err)
	}
	return raw
}

// PublicKeyPEM returns the current signing key's public half as a PEM
// "PUBLIC KEY" block: the bytes an algorithm-confusion attacker would use
// as an HMAC secret, since they are public.
func (i *Issuer) PublicKeyPEM() []byte {
	i.t.Helper()
	pub := i.signer().Key.(*rsa.PrivateKey).Public()
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		i.t.Fatalf("oidcfake: marshal public key: %v", err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})
}

// RotateKey generates a new key, publishes it and signs new tokens with
// it. The old keys stay published, as real issuers keep a retired key in
// their JWKS until the tokens it signed have expired, so tokens signed
// before the rotation still verify; RetireOldKeys ends that.
func (i *Issuer) RotateKey() {
	i.t.Helper()
	k := i.newKey()
	i.mu.Lock()
	i.keys = append(i.keys, k)
	i.mu.Unlock()
}

// RetireOldKeys unpublishes every key but the current signer, as an issuer
// does once a rotated-out key's tokens have expired, or at once when that
// key leaked. Tokens signed with a retired key fail to verify once the
// verifier has fetched the key set again.
func (i *Issuer) RetireOldKeys() {
	i.mu.Lock()
	defer i.mu.Unlock()
	i.keys = i.keys[len(i.keys)-1:]
}

// FailDiscovery makes the discovery document answer 503 while fail is
// true, to test a verifier that starts while its issuer is unreachable.
func (i *Issuer) FailDiscovery(fail bool) {
	i.mu.Lock()
	defer i.mu.Unlock()
	i.failDiscovery = fail
}

// DiscoveryRequests is how many times the discovery document was asked
// for, failed answers included.
func (i *Issuer) DiscoveryRequests() int {
	i.mu.Lock()
	defer i.mu.Unlock()
	return i.discoveries
}

// KeySetRequests is how many times the JWKS was fetched.
func (i *Issuer) KeySetRequests() int {
	i.mu.Lock()
	defer i.mu.Unlock()
	return i.keyFetches
}
