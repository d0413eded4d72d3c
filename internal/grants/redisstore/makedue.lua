-- makedue.lua moves each of the IDs to a due time in whichever queue holds
-- it, unless it is due earlier already. Records in neither queue stay out.
--
-- A dead process's records are made due by every live process, every few
-- hundred milliseconds, until one of them takes the lease over. Moving a
-- record to "now" each time kept it behind every record that came due
-- meanwhile: with a backlog of overdue work, it was never claimed until
-- the backlog was gone (minutes, in the bench's 100,000-grant phase).
--
-- KEYS[1] the queue {p}:deadlines
-- KEYS[2] the queue {p}:expiries
-- ARGV[1] the due time, unix milliseconds
-- ARGV[2..] the IDs

local at = tonumber(ARGV[1])
for i = 2, #ARGV do
  for _, q in ipairs(KEYS) do
    local score = redis.call('ZSCORE', q, ARGV[i])
    if score and tonumber(score) > at then
      redis.call('ZADD', q, at, ARGV[i])
    end
  end
end
return 0
