package redisstore

import (
	"context"
	"net/url"
	"strings"
	"testing"
	"time"
)

// TestSentinelTLSReachesTheSentinels: rediss-sentinel:// gives the
// sentinels and the master the same TLS settings, checked against each
// host dialled rather than the first sentinel's name.
func TestSentinelTLSReachesTheSentinels(t *testing.T) {
	uo, err := parseURL("rediss-sentinel://s1.example:26379,s2.example/mymaster?skip_verify=false")
	if err != nil {
		t.Fatal(err)
	}
	fo := uo.Failover()
	if fo.TLSConfig == nil || fo.TLSConfig.ServerName != "" || fo.TLSConfig.InsecureSkipVerify {
		t.Fatalf("failover TLS config = %+v, want one without a fixed ServerName that verifies", fo.TLSConfig)
	}
}

// FuzzURLErrorsHideSecrets: whatever the URL, no error of the parse and
// open path shows a password it holds: the userinfo's, password= or
// sentinel_password=. The corpus is in testdata/fuzz.
func FuzzURLErrorsHideSecrets(f *testing.F) {
	f.Fuzz(func(t *testing.T, scheme, user, password, hosts, path, query string) {
		raw := scheme + "://" + user + ":" + password + "@" + hosts + path
		if query != "" {
			raw += "?" + query
		}
		var secret []string
		if len(password) >= 4 {
			secret = append(secret, password)
		}
		for p := range strings.SplitSeq(query, "&") {
			if k, v, _ := strings.Cut(p, "="); isSecretParam(k) && len(v) >= 4 {
				secret = append(secret, v)
			}
		}
		err := openErr(raw)
		if err == nil {
			return
		}
		for _, s := range secret {
			for _, form := range forms(s) {
				// A secret that is also written outside its place (as a
				// host, say) is not the parser's to hide.
				if strings.Count(raw, form) > strings.Count(raw, s) || strings.Contains(scheme+user+hosts+path, form) ||
					strings.Contains("redis URL unsupported scheme want", form) {
					continue
				}
				if strings.Contains(err.Error(), form) {
					t.Fatalf("error for %q shows the secret %q: %v", raw, form, err)
				}
			}
		}
	})
}

// openErr is the error Open returns for raw, without a server: a URL that
// parses is not dialled (its address is unreachable in a fuzz run), so
// the parse error, or the failure to dial a closed port, is what shows.
func openErr(raw string) error {
	if _, err := parseURL(raw); err != nil {
		return scrub(raw, err)
	}
	if !strings.Contains(raw, "127.0.0.1:1") {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	_, err := Open(ctx, raw, Options{})
	return err
}

// forms are s as written and unescaped.
func forms(s string) []string {
	out := []string{s}
	if u, err := url.PathUnescape(s); err == nil && u != s && len(u) >= 4 {
		out = append(out, u)
	}
	if u, err := url.QueryUnescape(s); err == nil && u != s && len(u) >= 4 {
		out = append(out, u)
	}
	return out
}
