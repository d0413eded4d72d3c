package redisstore

// OpenBatch is how many records one round trip reads, for the tests.
const OpenBatch = openBatch
