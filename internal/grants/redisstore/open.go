package redisstore

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"net"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/redis/go-redis/v9"
)

// pingTimeout bounds the connection check in Open when ctx has no earlier
// deadline, so a wrong address fails start-up quickly instead of hanging.
const pingTimeout = 5 * time.Second

// Open connects to the Redis that rawURL names and checks that it answers.
// Accepted forms:
//
//	redis://[[user]:password@]host[:port][/db][?option=value…]
//	rediss://…                                       (the same, over TLS)
//	redis-sentinel://[[user]:password@]host:port[,host:port…]/master[?db=N&sentinel_password=…]
//	redis-cluster://[[user]:password@]host:port[,host:port…][?option=value…]
//	rediss-sentinel://…, rediss-cluster://…          (the same, over TLS)
//
// The options are go-redis's (dial_timeout, pool_size, skip_verify, …; see
// redis.ParseURL). For Sentinel the user and password are the master's;
// sentinel_username and sentinel_password authenticate to the sentinels.
// Over TLS, rediss-sentinel:// speaks TLS to the sentinels and to the
// master they name, and rediss-cluster:// to every node; each certificate
// is checked against the host it was dialled at (the system's roots, or
// SSL_CERT_FILE). Errors never include a password.
func Open(ctx context.Context, rawURL string, opts Options) (*Store, error) {
	if err := checkOptions(opts); err != nil {
		return nil, err
	}
	uo, err := parseURL(rawURL)
	if err != nil {
		return nil, scrub(rawURL, err)
	}
	client := redis.NewUniversalClient(uo)
	s := New(client, opts)
	s.sentinel = uo.MasterName != ""
	pingCtx, cancel := context.WithTimeout(ctx, pingTimeout)
	defer cancel()
	if err := s.Ping(pingCtx); err != nil {
		client.Close()
		return nil, scrub(rawURL, fmt.Errorf("redis URL %q: no answer from %s: %w", redact(rawURL), strings.Join(uo.Addrs, ","), err))
	}
	if err := s.reindexOnce(ctx); err != nil {
		client.Close()
		return nil, scrub(rawURL, err)
	}
	return s, nil
}

// embeddedClock is how often the embedded server's clock is advanced.
// miniredis only expires keys when told that time has passed.
const embeddedClock = time.Minute

// NewEmbedded starts an in-process miniredis on a loopback port and returns
// a Store on it, through the same go-redis code path as New. State is lost
// when the process ends. The returned func closes the client and the server
// (and tolerates the Store having been closed already).
func NewEmbedded(opts Options) (*Store, func() error, error) {
	if err := checkOptions(opts); err != nil {
		return nil, nil, err
	}
	srv, err := miniredis.Run()
	if err != nil {
		return nil, nil, fmt.Errorf("start embedded redis: %w", err)
	}
	// The server listens on a loopback port that any local process can
	// reach, a sidecar included: a random password keeps them out.
	password := rand.Text()
	srv.RequireAuth(password)
	client := redis.NewClient(&redis.Options{Addr: srv.Addr(), Password: password})
	s := New(client, opts)
	s.embedded = true

	// Without this, finished records would never expire and an embedded
	// bot that runs for months would keep every record in memory.
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		t := time.NewTicker(embeddedClock)
		defer t.Stop()
		last := time.Now()
		for {
			select {
			case <-stop:
				return
			case now := <-t.C:
				srv.FastForward(now.Sub(last))
				last = now
			}
		}
	})

	var once sync.Once
	var closeErr error
	closeAll := func() error {
		once.Do(func() {
			close(stop)
			wg.Wait()
			if err := client.Close(); err != nil && !errors.Is(err, redis.ErrClosed) {
				closeErr = fmt.Errorf("close embedded redis client: %w", err)
			}
			srv.Close()
		})
		return closeErr
	}
	return s, closeAll, nil
}

// parseURL turns a REDIS_URL into client options; see Open for the forms.
func parseURL(raw string) (*redis.UniversalOptions, error) {
	scheme, rest, ok := strings.Cut(raw, "://")
	if !ok {
		return nil, fmt.Errorf("redis URL %q: want redis://, rediss://, redis-sentinel://, rediss-sentinel://, redis-cluster:// or rediss-cluster://", redact(raw))
	}
	switch scheme {
	case "redis", "rediss":
		o, err := redis.ParseURL(raw)
		if err != nil {
			return nil, fmt.Errorf("redis URL %q: %w", redact(raw), redactErr(err))
		}
		return universal(o), nil
	case "redis-sentinel", "redis-cluster", "rediss-sentinel", "rediss-cluster":
		return parseMultiHost(scheme, rest)
	default:
		return nil, fmt.Errorf("redis URL %q: unsupported scheme %q; want redis, rediss, redis-sentinel, rediss-sentinel, redis-cluster or rediss-cluster", redact(raw), scheme)
	}
}

// parseMultiHost parses the Sentinel and Cluster forms, whose host lists
// net/url cannot parse. The first host and the query go through
// redis.ParseURL so that all three forms accept the same options.
func parseMultiHost(scheme, rest string) (*redis.UniversalOptions, error) {
	shown := redact(scheme + "://" + rest)
	fail := func(format string, args ...any) error {
		return fmt.Errorf("redis URL %q: "+format, append([]any{shown}, args...)...)
	}
	tls := strings.HasPrefix(scheme, "rediss-")
	if tls {
		scheme = "redis-" + strings.TrimPrefix(scheme, "rediss-")
	}

	authority, tail := rest, ""
	if i := strings.IndexAny(rest, "/?"); i >= 0 {
		authority, tail = rest[:i], rest[i:]
	}
	userinfo, hostList := "", authority
	if i := strings.LastIndex(authority, "@"); i >= 0 {
		userinfo, hostList = authority[:i+1], authority[i+1:]
	}
	path, rawQuery, _ := strings.Cut(tail, "?")

	defaultPort := "6379"
	if scheme == "redis-sentinel" {
		defaultPort = "26379"
	}
	addrs, err := hostPorts(hostList, defaultPort)
	if err != nil {
		return nil, fail("%v", err)
	}

	query, err := url.ParseQuery(rawQuery)
	if err != nil {
		return nil, fail("bad query: %v", err)
	}
	var master, sentinelUser, sentinelPassword string
	switch scheme {
	case "redis-sentinel":
		master = strings.Trim(path, "/")
		if master == "" || strings.Contains(master, "/") {
			return nil, fail("want the master name as the path, as in redis-sentinel://host:26379/mymaster")
		}
		sentinelUser, sentinelPassword = query.Get("sentinel_username"), query.Get("sentinel_password")
		query.Del("sentinel_username")
		query.Del("sentinel_password")
	case "redis-cluster":
		if p := strings.Trim(path, "/"); p != "" && p != "0" {
			return nil, fail("a cluster has only database 0, not %q", p)
		}
	}

	// Reuse go-redis's parsing of credentials and options (skip_verify
	// among them, over TLS).
	single := "redis://" + userinfo + addrs[0] + "/"
	if tls {
		single = "rediss://" + userinfo + addrs[0] + "/"
	}
	if len(query) > 0 {
		single += "?" + query.Encode()
	}
	o, err := redis.ParseURL(single)
	if err != nil {
		return nil, fail("%w", redactErr(err))
	}
	uo := universal(o)
	uo.Addrs = addrs
	if uo.TLSConfig != nil {
		// ParseURL named the first host; each connection must check the
		// certificate against the host it dials instead: the other
		// sentinels and nodes, and the master the sentinels name.
		// (tls.DialWithDialer takes it from the address when empty).
		uo.TLSConfig.ServerName = ""
	}
	switch scheme {
	case "redis-sentinel":
		uo.MasterName = master
		uo.SentinelUsername, uo.SentinelPassword = sentinelUser, sentinelPassword
	case "redis-cluster":
		if uo.DB != 0 {
			return nil, fail("a cluster has only database 0, not %d", uo.DB)
		}
		// With a single seed address NewUniversalClient would otherwise
		// make a plain client.
		uo.IsClusterMode = true
	}
	return uo, nil
}

// hostPorts splits a comma-separated host list into host:port addresses,
// with defaultPort where a host has none.
func hostPorts(hostList, defaultPort string) ([]string, error) {
	var addrs []string
	for h := range strings.SplitSeq(hostList, ",") {
		if h == "" {
			return nil, errors.New("empty host in the host list")
		}
		if !strings.Contains(h, ":") || strings.HasSuffix(h, "]") {
			h = net.JoinHostPort(strings.Trim(h, "[]"), defaultPort)
		}
		host, port, err := net.SplitHostPort(h)
		if err != nil || host == "" || port == "" {
			return nil, fmt.Errorf("bad host %q: want host:port", h)
		}
		addrs = append(addrs, h)
	}
	return addrs, nil
}

// universal copies what redis.ParseURL can set into UniversalOptions.
func universal(o *redis.Options) *redis.UniversalOptions {
	return &redis.UniversalOptions{
		Addrs:                 []string{o.Addr},
		ClientName:            o.ClientName,
		DB:                    o.DB,
		Protocol:              o.Protocol,
		Username:              o.Username,
		Password:              o.Password,
		MaxRetries:            o.MaxRetries,
		MinRetryBackoff:       o.MinRetryBackoff,
		MaxRetryBackoff:       o.MaxRetryBackoff,
		DialTimeout:           o.DialTimeout,
		ReadTimeout:           o.ReadTimeout,
		WriteTimeout:          o.WriteTimeout,
		PoolFIFO:              o.PoolFIFO,
		PoolSize:              o.PoolSize,
		MaxConcurrentDials:    o.MaxConcurrentDials,
		PoolTimeout:           o.PoolTimeout,
		MinIdleConns:          o.MinIdleConns,
		MaxIdleConns:          o.MaxIdleConns,
		MaxActiveConns:        o.MaxActiveConns,
		ConnMaxIdleTime:       o.ConnMaxIdleTime,
		ConnMaxLifetime:       o.ConnMaxLifetime,
		ConnMaxLifetimeJitter: o.ConnMaxLifetimeJitter,
		TLSConfig:             o.TLSConfig,
	}
}
