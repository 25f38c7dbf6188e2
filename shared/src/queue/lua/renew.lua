--[[
  The worker's heartbeat and the lease renewal of all its running jobs in one step.

  KEYS[1] jobs:workers
  KEYS[2] jobs:leases
  KEYS[3] job:           the job key prefix

  ARGV[1] retention (unused), ARGV[2] now (unused)
  ARGV[3] worker id, ARGV[4] lease ms, then id, token pairs

  Reply: 'ok' | 'cancel' | 'lost' per job
]]
local WORKERS, LEASES, JOB = KEYS[1], KEYS[2], KEYS[3]
--- @include "clock"

local deadline = now() + tonumber(ARGV[4])
redis.call('ZADD', WORKERS, deadline, ARGV[3])
local out = {}
for i = 5, #ARGV, 2 do
  local f = redis.call('HMGET', JOB .. ARGV[i], 'status', 'token', 'cancel', 'worker')
  if f[1] == 'running' and f[2] == ARGV[i + 1] and f[4] == ARGV[3] then
    redis.call('ZADD', LEASES, deadline, ARGV[i])
    out[#out + 1] = f[3] == '1' and 'cancel' or 'ok'
  else
    out[#out + 1] = 'lost'
  end
end
return out
