-- write.lua stores one request record and re-indexes it, atomically, if the
-- record is still at the version the caller read (compare-and-swap).
--
-- KEYS[1] the record hash {p}:req:<id>  (fields v = version, d = JSON)
-- KEYS[2] the open set    {p}:open
-- KEYS[3] the queue       {p}:deadlines
-- KEYS[4] the queue       {p}:expiries
-- KEYS[5] the holders of what the record gives in AWS, {p}:holds:<hold>
--         (an IAM group membership several grants can share), or KEYS[2]
--         when it gives nothing shared
-- ARGV[1] expected version; 0 means the record must not exist yet (Create)
-- ARGV[2] the record JSON
-- ARGV[3] the request ID (member of the set and queues)
-- ARGV[4] the queue to put it in: "deadlines", "expiries" or "" for none
-- ARGV[5] its score in that queue, unix milliseconds
-- ARGV[6] "1" when the record is finished, else "0"
-- ARGV[7] how long a finished record is kept, milliseconds
-- ARGV[8] "1" when the record holds KEYS[5] now, "0" when not, "" for none
-- ARGV[9] the MAC of the record JSON (seal.go)
-- KEYS[6] the requester's index {p}:by-user:<id>, KEYS[7] the filer's (or
--         the requester's again), KEYS[8] the role's {p}:by-role:<role>:
--         an open record is in each, a finished one in none
-- KEYS[9..13]  the gauge sets of the states pending, scheduled, granting,
--              active, revoking; KEYS[14] the retrying set; KEYS[15] the
--              record's role's active set; KEYS[16] the set of roles;
--              KEYS[17], KEYS[18] the expiring and starting sorted sets
-- ARGV[10..16] "1" when the record belongs in KEYS[9..15], else "0";
--              ARGV[17] "1" to add its role to KEYS[16]
-- ARGV[18], ARGV[19] its score in KEYS[17], KEYS[18], or "" for none;
-- ARGV[20] its role
-- KEYS[19] the leases {p}:leases, request ID → the process holding its
--          lease; ARGV[21] that process, or "" when it holds none
--          (liveness.go)
-- (gauges.go)
--
-- Returns the new version, or 0 when the expected version did not match
-- (Create: the ID is taken; Update: someone wrote in between).

local expected = tonumber(ARGV[1])
if expected == 0 then
  if redis.call('EXISTS', KEYS[1]) == 1 then
    return 0
  end
elseif tonumber(redis.call('HGET', KEYS[1], 'v')) ~= expected then
  return 0
end

local version = expected + 1
redis.call('HSET', KEYS[1], 'v', version, 'd', ARGV[2], 'm', ARGV[9])

local id = ARGV[3]
redis.call('ZREM', KEYS[3], id)
redis.call('ZREM', KEYS[4], id)
if ARGV[4] == 'deadlines' then
  redis.call('ZADD', KEYS[3], ARGV[5], id)
elseif ARGV[4] == 'expiries' then
  redis.call('ZADD', KEYS[4], ARGV[5], id)
end

if ARGV[6] == '1' then
  redis.call('SREM', KEYS[2], id)
  redis.call('SREM', KEYS[6], id)
  redis.call('SREM', KEYS[7], id)
  redis.call('SREM', KEYS[8], id)
  -- Count the retention from when the record finished, not from its
  -- latest write: HSET keeps an existing TTL, so set it only once.
  if redis.call('PTTL', KEYS[1]) < 0 then
    redis.call('PEXPIRE', KEYS[1], ARGV[7])
  end
else
  redis.call('SADD', KEYS[2], id)
  redis.call('SADD', KEYS[6], id)
  redis.call('SADD', KEYS[7], id)
  redis.call('SADD', KEYS[8], id)
  redis.call('PERSIST', KEYS[1])
end

if ARGV[8] == '1' then
  redis.call('SADD', KEYS[5], id)
elseif ARGV[8] == '0' then
  redis.call('SREM', KEYS[5], id)
end

for i = 9, 15 do
  if ARGV[i + 1] == '1' then
    redis.call('SADD', KEYS[i], id)
  else
    redis.call('SREM', KEYS[i], id)
  end
end
if ARGV[17] == '1' then
  redis.call('SADD', KEYS[16], ARGV[20])
end
for i = 17, 18 do
  if ARGV[i + 1] == '' then
    redis.call('ZREM', KEYS[i], id)
  else
    redis.call('ZADD', KEYS[i], ARGV[i + 1], id)
  end
end

if ARGV[21] == '' then
  redis.call('HDEL', KEYS[19], id)
else
  redis.call('HSET', KEYS[19], id, ARGV[21])
end

return version
