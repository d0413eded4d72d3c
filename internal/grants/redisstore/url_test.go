package redisstore

import (
	"slices"
	"strings"
	"testing"
	"time"
)

func TestParseURL(t *testing.T) {
	tests := []struct {
		name, url string
		// what the options must say
		addrs                    []string
		db                       int
		user, password           string
		master, sentinelPassword string
		cluster, tls             bool
		dialTimeout              time.Duration
		wantErr                  string
	}{
		{name: "plain", url: "redis://127.0.0.1:6379/0", addrs: []string{"127.0.0.1:6379"}},
		{name: "default port and db", url: "redis://redis.internal", addrs: []string{"redis.internal:6379"}},
		{name: "db and password", url: "redis://:s3cret@redis:6380/2", addrs: []string{"redis:6380"}, db: 2, password: "s3cret"},
		{name: "acl user", url: "redis://bot:s3cret@redis:6379/0", addrs: []string{"redis:6379"}, user: "bot", password: "s3cret"},
		{name: "tls", url: "rediss://redis.example.com:6380/0", addrs: []string{"redis.example.com:6380"}, tls: true},
		{name: "go-redis option", url: "redis://redis:6379/0?dial_timeout=3s", addrs: []string{"redis:6379"}, dialTimeout: 3 * time.Second},
		{
			name: "sentinel", url: "redis-sentinel://:s3cret@s1:26379,s2:26380,s3/mymaster?db=1",
			addrs: []string{"s1:26379", "s2:26380", "s3:26379"}, db: 1, password: "s3cret", master: "mymaster",
		},
		{
			name: "sentinel with its own password", url: "redis-sentinel://s1:26379/mymaster?sentinel_password=sp&dial_timeout=2s",
			addrs: []string{"s1:26379"}, master: "mymaster", sentinelPassword: "sp", dialTimeout: 2 * time.Second,
		},
		{name: "sentinel ipv6", url: "redis-sentinel://[::1]:26379,[::2]/m", addrs: []string{"[::1]:26379", "[::2]:26379"}, master: "m"},
		{
			name: "cluster", url: "redis-cluster://:s3cret@n1:7000,n2:7001,n3:7002",
			addrs: []string{"n1:7000", "n2:7001", "n3:7002"}, password: "s3cret", cluster: true,
		},
		{
			name: "sentinel over tls", url: "rediss-sentinel://:s3cret@s1:26379,s2/mymaster?sentinel_password=sp",
			addrs: []string{"s1:26379", "s2:26379"}, password: "s3cret", master: "mymaster", sentinelPassword: "sp", tls: true,
		},
		{
			name: "cluster over tls", url: "rediss-cluster://:s3cret@n1:7000,n2:7001",
			addrs: []string{"n1:7000", "n2:7001"}, password: "s3cret", cluster: true, tls: true,
		},
		{name: "cluster one seed", url: "redis-cluster://config.example.com:6379/0", addrs: []string{"config.example.com:6379"}, cluster: true},
		{name: "cluster default port", url: "redis-cluster://n1,n2", addrs: []string{"n1:6379", "n2:6379"}, cluster: true},

		{name: "no scheme", url: "127.0.0.1:6379", wantErr: "want redis://"},
		{name: "unknown scheme", url: "memcached://h:1", wantErr: `unsupported scheme "memcached"`},
		{name: "sentinel without master", url: "redis-sentinel://s1:26379", wantErr: "master name"},
		{name: "sentinel nested path", url: "redis-sentinel://s1:26379/a/b", wantErr: "master name"},
		{name: "sentinel empty host", url: "redis-sentinel://s1:26379,,s2:26379/m", wantErr: "empty host"},
		{name: "sentinel bad host", url: "redis-sentinel://s1:26379,s2:x:y/m", wantErr: `bad host "s2:x:y"`},
		{name: "sentinel unknown option", url: "redis-sentinel://s1/m?flavour=x", wantErr: "unexpected option: flavour"},
		{name: "sentinel bad db", url: "redis-sentinel://s1/m?db=x", wantErr: "invalid database number"},
		{name: "cluster db in path", url: "redis-cluster://n1:7000/2", wantErr: "only database 0"},
		{name: "cluster db in query", url: "redis-cluster://n1:7000?db=2", wantErr: "only database 0"},
		{name: "cluster bad query", url: "redis-cluster://n1:7000?a=%zz", wantErr: "bad query"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o, err := parseURL(tt.url)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("parseURL(%q) error = %v, want one containing %q", tt.url, err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("parseURL(%q): %v", tt.url, err)
			}
			if !slices.Equal(o.Addrs, tt.addrs) {
				t.Errorf("Addrs = %q, want %q", o.Addrs, tt.addrs)
			}
			if o.DB != tt.db {
				t.Errorf("DB = %d, want %d", o.DB, tt.db)
			}
			if o.Username != tt.user || o.Password != tt.password {
				t.Errorf("credentials = %q/%q, want %q/%q", o.Username, o.Password, tt.user, tt.password)
			}
			if o.MasterName != tt.master {
				t.Errorf("MasterName = %q, want %q", o.MasterName, tt.master)
			}
			if o.SentinelPassword != tt.sentinelPassword {
				t.Errorf("SentinelPassword = %q, want %q", o.SentinelPassword, tt.sentinelPassword)
			}
			if o.IsClusterMode != tt.cluster {
				t.Errorf("IsClusterMode = %v, want %v", o.IsClusterMode, tt.cluster)
			}
			if (o.TLSConfig != nil) != tt.tls {
				t.Errorf("TLS = %v, want %v", o.TLSConfig != nil, tt.tls)
			}
			if o.DialTimeout != tt.dialTimeout {
				t.Errorf("DialTimeout = %v, want %v", o.DialTimeout, tt.dialTimeout)
			}
		})
	}
}

func TestRedact(t *testing.T) {
	tests := []struct{ in, want string }{
		{"redis://:pw@h:1/0", "redis://:xxxxx@h:1/0"},
		{"redis://user:pw@h:1/0", "redis://user:xxxxx@h:1/0"},
		{"redis://pw@h:1/0", "redis://:xxxxx@h:1/0"},
		{"redis://h:1/0?x=a@b", "redis://h:1/0?x=a@b"},
		{"redis-sentinel://:p@w@s1,s2/m", "redis-sentinel://:xxxxx@s1,s2/m"},
		{"no-scheme:pw@host", "(unparseable URL)"},
		{"redis-sentinel://s1/m?db=1&sentinel_password=sp&Password=p2", "redis-sentinel://s1/m?db=1&sentinel_password=xxxxx&Password=xxxxx"},
		{"rediss-cluster://u:pw@n1,n2?password=p2", "rediss-cluster://u:xxxxx@n1,n2?password=xxxxx"},
	}
	for _, tt := range tests {
		if got := redact(tt.in); got != tt.want {
			t.Errorf("redact(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}
