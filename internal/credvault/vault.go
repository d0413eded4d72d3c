// Package credvault keeps the STS credentials of a workload's grant until
// the workload fetches them over the workload API. A person's credentials
// go once to a Slack DM and are never stored; a workload has no DM, so its
// credentials must wait somewhere for its next poll. They wait in Redis,
// sealed, and only as long as they are good for.
package credvault

import (
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/jitbot/jitbot/internal/grants"
	"github.com/jitbot/jitbot/internal/grants/redisstore"
)

// keyInfo binds the derived key to this one use, so the signing key's
// other uses (record MACs, the audit chain) never share a key with it.
const keyInfo = "jitbot workload credentials v1"

// opTimeout bounds one Redis call made from Notify, which must not hang
// the service's event fan-out.
const opTimeout = 5 * time.Second

// ErrTampered is returned by Credentials when the stored blob does not
// open: it was written or altered without the key, or moved from another
// request.
var ErrTampered = errors.New("credvault: sealed credentials do not open (tampered, moved, or sealed under another key)")

// Vault is a grants.Notifier that stores a workload grant's credentials
// and a workloadapi.Credentials that hands them back.
type Vault struct {
	client redis.UniversalClient
	tag    string
	aead   cipher.AEAD
	log    *slog.Logger
	now    func() time.Time
}

// New returns a vault in client under prefix (JIT_REDIS_PREFIX), sealing
// with a key derived from signingKey (JIT_SIGNING_KEY).
func New(client redis.UniversalClient, prefix string, signingKey []byte, log *slog.Logger) (*Vault, error) {
	if len(signingKey) == 0 {
		return nil, errors.New("credvault: empty signing key")
	}
	key, err := hkdf.Key(sha256.New, signingKey, nil, keyInfo, 32)
	if err != nil {
		return nil, fmt.Errorf("credvault: deriving the key: %w", err)
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, fmt.Errorf("credvault: %w", err)
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, fmt.Errorf("credvault: %w", err)
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Vault{client: client, tag: redisstore.KeyTag(prefix), aead: aead, log: log, now: time.Now}, nil
}

func (v *Vault) key(id grants.RequestID) string { return v.tag + ":creds:" + string(id) }

// Notify stores a workload grant's credentials when it is granted and
// deletes them when it ends. It writes synchronously: the workload's
// next poll must find them, and one SET is quick.
func (v *Vault) Notify(ctx context.Context, e grants.Event) {
	r := &e.Request
	if !r.ByWorkload() || r.ID == "" {
		return
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), opTimeout)
	defer cancel()
	switch {
	case e.Type == grants.EventGranted && e.Credentials != nil:
		if err := v.put(ctx, r.ID, *e.Credentials); err != nil {
			v.log.Error("workload credentials not stored: the workload cannot fetch them", "request", r.ID, "err", err)
		}
	case r.State.Terminal() || e.Type == grants.EventRevoked:
		if err := v.client.Del(ctx, v.key(r.ID)).Err(); err != nil {
			v.log.Error("workload credentials not deleted (they expire with their TTL)", "request", r.ID, "err", err)
		}
	}
}

// stored is what is sealed. grants.Credentials leaves its secrets out of
// JSON on purpose, so they are copied here.
type stored struct {
	AccessKeyID     string    `json:"access_key_id"`
	SecretAccessKey string    `json:"secret_access_key"`
	SessionToken    string    `json:"session_token"`
	Expiration      time.Time `json:"expiration"`
}

func (v *Vault) put(ctx context.Context, id grants.RequestID, c grants.Credentials) error {
	ttl := c.Expiration.Sub(v.now())
	if ttl <= 0 {
		return fmt.Errorf("credentials expired at %s", c.Expiration.Format(time.RFC3339))
	}
	plain, err := json.Marshal(stored{c.AccessKeyID, c.SecretAccessKey, c.SessionToken, c.Expiration})
	if err != nil {
		return err
	}
	nonce := make([]byte, v.aead.NonceSize())
	rand.Read(nonce) // never fails (crypto/rand)
	// The request ID is the additional data: a blob copied under another
	// request's key does not open.
	blob := v.aead.Seal(nonce, nonce, plain, []byte(id))
	return v.client.Set(ctx, v.key(id), blob, ttl).Err()
}

// Credentials returns request id's credentials; ok is false when there
// are none (never granted, expired, revoked). A blob that does not open
// is logged as tampering and returned as ErrTampered, never as data.
func (v *Vault) Credentials(ctx context.Context, id grants.RequestID) (grants.Credentials, bool, error) {
	blob, err := v.client.Get(ctx, v.key(id)).Bytes()
	if errors.Is(err, redis.Nil) {
		return grants.Credentials{}, false, nil
	}
	if err != nil {
		return grants.Credentials{}, false, fmt.Errorf("credvault: reading credentials of %s: %w", id, err)
	}
	n := v.aead.NonceSize()
	var plain []byte
	if len(blob) > n {
		plain, err = v.aead.Open(nil, blob[:n], blob[n:], []byte(id))
	}
	if len(blob) <= n || err != nil {
		v.log.Error("TAMPERING: stored workload credentials do not open; refused", "request", id, "key", v.key(id))
		return grants.Credentials{}, false, ErrTampered
	}
	var s stored
	if err := json.Unmarshal(plain, &s); err != nil {
		return grants.Credentials{}, false, fmt.Errorf("credvault: credentials of %s: %w", id, err)
	}
	return grants.Credentials{AccessKeyID: s.AccessKeyID, SecretAccessKey: s.SecretAccessKey, SessionToken: s.SessionToken, Expiration: s.Expiration}, true, nil
}
