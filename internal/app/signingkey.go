package app

import (
	"crypto/rand"

	"github.com/jitbot/jitbot/internal/config"
)

// WithSigningKey returns cfg with a SigningKey: its own, or, when it has
// none (only the embedded store of a trial runs without JIT_SIGNING_KEY),
// 32 random bytes that live as long as this process, like the store.
// Everything that MACs or chains with the key reads it from the result,
// so one process uses one key.
func WithSigningKey(cfg config.Config) config.Config {
	if cfg.SigningKey == "" {
		key := make([]byte, 32)
		rand.Read(key) // never fails (crypto/rand)
		cfg.SigningKey = config.Secret(key)
	}
	return cfg
}

// signingKeys are the keys that MAC the store's records: the current one
// signs, and both verify, so a rotation (JIT_SIGNING_KEY_PREVIOUS) keeps
// the records written before it.
func signingKeys(cfg config.Config) [][]byte {
	keys := [][]byte{cfg.SigningKey.Bytes()}
	if cfg.SigningKeyPrevious != "" {
		keys = append(keys, cfg.SigningKeyPrevious.Bytes())
	}
	return keys
}
