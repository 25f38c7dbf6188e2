--[[
  Recovery of one processing list found by a scan, whose worker has no live heartbeat: a worker
  that died between a BLMOVE and the start of what it moved, after recovery had already dropped
  its heartbeat, leaves ids nothing else looks at. Queued ids go back to the queue and ended
  ones leave; running ones wait for their lease. The list goes once it holds nothing running.

  KEYS[1] jobs:processing:<worker>   the list found
  KEYS[2] jobs:workers
  KEYS[3] jobs:queue
  KEYS[4] jobs:delayed
  KEYS[5] job:                        the job key prefix

  ARGV[1] retention (unused), ARGV[2] now (unused), ARGV[3] the list's worker id

  Reply: ids put back, or -1 when the worker is alive
]]
local PROC, WORKERS, QUEUE, DELAYED, JOB = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5]
--- @include "clock"

local alive = redis.call('ZSCORE', WORKERS, ARGV[3])
if alive and tonumber(alive) > now() then return -1 end
local n = 0
for _, id in ipairs(redis.call('LRANGE', PROC, 0, -1)) do
  local status = redis.call('HGET', JOB .. id, 'status')
  if status ~= 'running' then
    redis.call('LREM', PROC, 1, id)
    if status == 'queued' and not redis.call('ZSCORE', DELAYED, id) then
      redis.call('RPUSH', QUEUE, id)
      n = n + 1
    end
  end
end
return n
