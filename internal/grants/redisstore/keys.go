package redisstore

// KeyTag is the hash tag every jitbot key under prefix (JIT_REDIS_PREFIX)
// starts with: the records, the audit stream, the usage queue and the S3
// export cursor. Redis Cluster puts keys with the same tag in one slot,
// which the store's scripts and transactions across those keys need.
func KeyTag(prefix string) string { return "{" + prefix + "}" }
