package oidcfake

import (
	"encoding/json"
	"net/http"
	"testing"

	jose "github.com/go-jose/go-jose/v4"
)

func getJSON(t *testing.T, url string, v any) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %s", url, resp.Status)
	}
	if err := json.NewDecoder(resp.Body).Decode(v); err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
}

// publishedKeys follows discovery to the JWKS, as a relying party does.
func publishedKeys(t *testing.T, iss *Issuer) jose.JSONWebKeySet {
	t.Helper()
	var disc struct {
		Issuer  string `json:"issuer"`
		JWKSURI string `json:"jwks_uri"`
	}
	getJSON(t, iss.URL+"/.well-known/openid-configuration", &disc)
	if disc.Issuer != iss.URL {
		t.Fatalf("discovery issuer = %q, want %q", disc.Issuer, iss.URL)
	}
	var set jose.JSONWebKeySet
	getJSON(t, disc.JWKSURI, &set)
	return set
}

// verifies reports whether raw's signature checks with a published key of
// the kid in its header.
func verifies(t *testing.T, set jose.JSONWebKeySet, raw string) bool {
	t.Helper()
	jws, err := jose.ParseSignedCompact(raw, []jose.SignatureAlgorithm{jose.RS256})
	if err != nil {
		t.Fatalf("parse: %v", err)
	}
	for _, k := range set.Key(jws.Signatures[0].Header.KeyID) {
		if _, err := jws.Verify(k); err == nil {
			return true
		}
	}
	return false
}

func TestTokensVerifyWithPublishedKeysOnly(t *testing.T) {
	iss := Start(t)
	set := publishedKeys(t, iss)
	if len(set.Keys) != 1 || !set.Keys[0].IsPublic() {
		t.Fatalf("JWKS = %+v, want one public key", set.Keys)
	}
	claims := iss.GitHubActionsClaims("jitbot")
	if !verifies(t, set, iss.Token(claims)) {
		t.Error("Token does not verify with the published key")
	}
	if verifies(t, set, iss.ForgedToken(claims)) {
		t.Error("ForgedToken verifies with the published key")
	}
}

func TestRotateKeyKeepsOldKeyUntilRetired(t *testing.T) {
	iss := Start(t)
	claims := iss.KubernetesClaims("jitbot", "ci", "deployer")
	old := iss.Token(claims)
	iss.RotateKey()
	set := publishedKeys(t, iss)
	if len(set.Keys) != 2 {
		t.Fatalf("after RotateKey the JWKS has %d keys, want 2", len(set.Keys))
	}
	if !verifies(t, set, old) || !verifies(t, set, iss.Token(claims)) {
		t.Error("old and new tokens must both verify while both keys are published")
	}
	iss.RetireOldKeys()
	set = publishedKeys(t, iss)
	if verifies(t, set, old) {
		t.Error("a token of a retired key still verifies")
	}
	if !verifies(t, set, iss.Token(claims)) {
		t.Error("a token of the current key does not verify after RetireOldKeys")
	}
}

func TestFailDiscoveryAndCounts(t *testing.T) {
	iss := Start(t)
	iss.FailDiscovery(true)
	resp, err := http.Get(iss.URL + "/.well-known/openid-configuration")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusServiceUnavailable {
		t.Errorf("failing discovery answered %s", resp.Status)
	}
	iss.FailDiscovery(false)
	publishedKeys(t, iss)
	if got := iss.DiscoveryRequests(); got != 2 {
		t.Errorf("DiscoveryRequests = %d, want 2", got)
	}
	if got := iss.KeySetRequests(); got != 1 {
		t.Errorf("KeySetRequests = %d, want 1", got)
	}
}
