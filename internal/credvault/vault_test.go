package credvault_test

import (
	"bytes"
	"context"
	"errors"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/jitbot/jitbot/internal/credvault"
	"github.com/jitbot/jitbot/internal/grants"
	"github.com/jitbot/jitbot/internal/rules"
	"github.com/jitbot/jitbot/internal/testenv"
)

const (
	prefix = "jit"
	secret = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYSECRETKEY"
	token  = "FwoGZXIvYXdzEXAMPLESESSIONTOKEN"
)

func setup(t *testing.T) (*credvault.Vault, redis.UniversalClient) {
	t.Helper()
	srv := testenv.StartRedis(t)
	client := redis.NewClient(&redis.Options{Addr: srv.Addr()})
	t.Cleanup(func() { client.Close() })
	v, err := credvault.New(client, prefix, []byte("a signing key of thirty-two bytes"), nil)
	if err != nil {
		t.Fatal(err)
	}
	return v, client
}

func creds(valid time.Duration) *grants.Credentials {
	return &grants.Credentials{AccessKeyID: "ASIAEXAMPLE", SecretAccessKey: secret, SessionToken: token,
		Expiration: time.Now().Add(valid).UTC().Truncate(time.Second)}
}

func granted(id grants.RequestID, c *grants.Credentials) grants.Event {
	return grants.Event{Type: grants.EventGranted, Credentials: c, Request: grants.Request{
		ID: id, State: grants.Active, Workload: &rules.Workload{Subject: "repo:acme/infra:ref:refs/heads/main"}}}
}

func TestVaultRoundTripAndTTL(t *testing.T) {
	v, client := setup(t)
	ctx := context.Background()
	want := creds(time.Hour)
	v.Notify(ctx, granted("r1", want))
	got, ok, err := v.Credentials(ctx, "r1")
	if err != nil || !ok {
		t.Fatalf("Credentials: ok %v, err %v; want the stored credentials", ok, err)
	}
	if got.AccessKeyID != want.AccessKeyID || got.SecretAccessKey != secret || got.SessionToken != token || !got.Expiration.Equal(want.Expiration) {
		t.Errorf("round trip changed the credentials")
	}
	ttl := client.TTL(ctx, "{jit}:creds:r1").Val()
	if ttl <= 59*time.Minute || ttl > time.Hour {
		t.Errorf("TTL %v; want about an hour, the credentials' life", ttl)
	}
	if _, ok, err := v.Credentials(ctx, "r2"); ok || err != nil {
		t.Errorf("unknown request: ok %v, err %v; want nothing", ok, err)
	}
}

func TestVaultDeletesWhenTheGrantEnds(t *testing.T) {
	for _, end := range []grants.Event{
		{Type: grants.EventRevoked, Request: grants.Request{State: grants.Revoked}},
		{Type: grants.EventGrantFailed, Request: grants.Request{State: grants.Failed}},
	} {
		t.Run(string(end.Type), func(t *testing.T) {
			v, client := setup(t)
			ctx := context.Background()
			v.Notify(ctx, granted("r1", creds(time.Hour)))
			end.Request.ID, end.Request.Workload = "r1", &rules.Workload{}
			v.Notify(ctx, end)
			if n := client.Exists(ctx, "{jit}:creds:r1").Val(); n != 0 {
				t.Errorf("credentials still in Redis after %s", end.Type)
			}
			if _, ok, err := v.Credentials(ctx, "r1"); ok || err != nil {
				t.Errorf("after %s: ok %v, err %v; want nothing", end.Type, ok, err)
			}
		})
	}
}

func TestVaultRefusesABlobMovedToAnotherRequest(t *testing.T) {
	v, client := setup(t)
	ctx := context.Background()
	v.Notify(ctx, granted("r1", creds(time.Hour)))
	blob := client.Get(ctx, "{jit}:creds:r1").Val()
	client.Set(ctx, "{jit}:creds:r2", blob, time.Hour)
	if c, ok, err := v.Credentials(ctx, "r2"); !errors.Is(err, credvault.ErrTampered) || ok || c.SecretAccessKey != "" {
		t.Errorf("moved blob: ok %v, err %v; want ErrTampered and nothing", ok, err)
	}
}

func TestVaultRefusesAFlippedByte(t *testing.T) {
	v, client := setup(t)
	ctx := context.Background()
	v.Notify(ctx, granted("r1", creds(time.Hour)))
	blob := []byte(client.Get(ctx, "{jit}:creds:r1").Val())
	for _, i := range []int{0, len(blob) / 2, len(blob) - 1} {
		bad := bytes.Clone(blob)
		bad[i] ^= 1
		client.Set(ctx, "{jit}:creds:r1", bad, time.Hour)
		if c, ok, err := v.Credentials(ctx, "r1"); !errors.Is(err, credvault.ErrTampered) || ok || c.SecretAccessKey != "" {
			t.Errorf("byte %d flipped: ok %v, err %v; want ErrTampered and nothing", i, ok, err)
		}
	}
	client.Set(ctx, "{jit}:creds:r1", "short", time.Hour)
	if _, _, err := v.Credentials(ctx, "r1"); !errors.Is(err, credvault.ErrTampered) {
		t.Errorf("truncated blob: err %v; want ErrTampered", err)
	}
}

func TestVaultIgnoresOtherEvents(t *testing.T) {
	v, client := setup(t)
	ctx := context.Background()
	person := granted("p1", creds(time.Hour))
	person.Request.Workload = nil // a person's grant: its credentials go to the DM only
	v.Notify(ctx, person)
	noCreds := granted("w1", nil)
	v.Notify(ctx, noCreds)
	expired := granted("w2", creds(-time.Minute))
	v.Notify(ctx, expired)
	other := granted("w3", creds(time.Hour))
	other.Type = grants.EventApproved
	v.Notify(ctx, other)
	if keys := client.Keys(ctx, "*").Val(); len(keys) != 0 {
		t.Errorf("Redis holds %v; want nothing stored", keys)
	}
}

func TestVaultStoresNothingInTheClear(t *testing.T) {
	v, client := setup(t)
	ctx := context.Background()
	v.Notify(ctx, granted("r1", creds(time.Hour)))
	keys := client.Keys(ctx, "*").Val()
	if len(keys) == 0 {
		t.Fatal("nothing stored; the scan below would prove nothing")
	}
	for _, k := range keys {
		val := client.Get(ctx, k).Val()
		for _, s := range []string{secret, token, "ASIAEXAMPLE"} {
			if bytes.Contains([]byte(val), []byte(s)) {
				t.Errorf("%s holds %q in the clear", k, s)
			}
		}
	}
}

func TestVaultNeedsAKey(t *testing.T) {
	if _, err := credvault.New(redis.NewClient(&redis.Options{}), prefix, nil, nil); err == nil {
		t.Error("New with no signing key: no error")
	}
}
