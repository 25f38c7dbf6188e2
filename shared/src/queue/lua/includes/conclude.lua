--[[
  Ends a job (loaded with status, seq, dv, analysis): status and index, processing list, lease,
  dedup, retention, the counter and the event. stamp: the load a finished job ran on.
  Needs JOB, LEASES, ENDED and what index and dedup need.
]]
--- @include "settings"
--- @include "clock"
--- @include "index"
--- @include "dedup"

local function conclude(j, status, proc, fields, stamp)
  local k = JOB .. j.id
  redis.call('HSET', k, 'status', status, 'finished_at', NOW_ISO, unpack(fields))
  index(j, status)
  -- A finished job is counted by its duration bucket (metrics.ts sums them): one HINCRBY less.
  if status ~= 'finished' then count(j.analysis, status) end
  if proc then unlist(proc, j.id) end
  if j.status == 'running' then zrem(LEASES, j.id) end
  dedup(j, status, stamp)
  if TTL > 0 then redis.call('EXPIRE', k, TTL) end
  -- Retention prunes from here, oldest first; the dedup digest rides along, as the hash may have
  -- expired by then. An append to a list: a zset insert cost a no-op job about 3 us of Redis' time.
  rpush(ENDED, nowText() .. ':' .. j.id .. ':' .. (j.dk or ''))
  announce(j.id, status)
  emit(status, j.id, j.analysis)
end
