-- claim.lua takes up to max due IDs from both queues, earliest first, and
-- moves each one to the lease end so no other worker takes it meanwhile. A
-- worker that dies simply lets the lease lapse and the ID is due again.
--
-- KEYS[1] the queue {p}:deadlines
-- KEYS[2] the queue {p}:expiries
-- ARGV[1] now, unix milliseconds: scores at or before it are due
-- ARGV[2] the lease end, unix milliseconds
-- ARGV[3] the most IDs to return
--
-- Returns the claimed IDs.

local now, leaseEnd, max = ARGV[1], ARGV[2], tonumber(ARGV[3])
local a = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now, 'WITHSCORES', 'LIMIT', 0, max)
local b = redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', now, 'WITHSCORES', 'LIMIT', 0, max)

-- Merge the two (each sorted, flat id/score pairs) so that the most overdue
-- work is taken first whichever queue it is in, and neither queue starves
-- the other.
local ids = {}
local i, j = 1, 1
while #ids < max and (i <= #a or j <= #b) do
  if j > #b or (i <= #a and tonumber(a[i + 1]) <= tonumber(b[j + 1])) then
    redis.call('ZADD', KEYS[1], 'XX', leaseEnd, a[i])
    ids[#ids + 1] = a[i]
    i = i + 2
  else
    redis.call('ZADD', KEYS[2], 'XX', leaseEnd, b[j])
    ids[#ids + 1] = b[j]
    j = j + 2
  end
end
return ids
