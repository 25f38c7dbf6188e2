--[[
  Cancels a job: a queued job ends at once (and leaves the queue); a running one is flagged for
  its worker, which ends it.

  KEYS[1]  jobs:queue
  KEYS[2]  jobs:delayed
  KEYS[3]  jobs:leases
  KEYS[4]  jobs:dedup
  KEYS[5]  jobs:ended:log
  KEYS[6]  jobs:status:queued
  KEYS[7]  jobs:status:finished
  KEYS[8]  jobs:status:failed
  KEYS[9]  jobs:status:cancelled
  KEYS[10] metrics:jobs
  KEYS[11] jobs:events                 (channel)
  KEYS[12] job:                        the job key prefix
  KEYS[13] events                     the event stream (GET /events)

  ARGV[1] retention, ARGV[2] now (ISO), ARGV[3] id

  Reply: { outcome, the job hash as a flat list }, outcome 'cancelled' | 'requested' | 'ended' |
  'missing' (then alone)
]]
local QUEUE, DELAYED, LEASES, DEDUP, ENDED = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5]
local ST_QUEUED, ST_FINISHED, ST_FAILED, ST_CANCELLED, METRICS = KEYS[6], KEYS[7], KEYS[8], KEYS[9], KEYS[10]
local EVENTS, JOB = KEYS[11], KEYS[12]
local STREAM = KEYS[13]
-- No processing list of its own: a queued job is in none.
local PROC = false
--- @include "load"
--- @include "conclude"

local function main()
  local j = load(ARGV[3], 'status', 'seq', 'dv', 'analysis')
  local k = JOB .. j.id
  local outcome = 'ended'
  if not j.status then
    return { 'missing' }
  elseif j.status == 'queued' then
    redis.call('LREM', QUEUE, 1, j.id)
    redis.call('ZREM', DELAYED, j.id)
    conclude(j, 'cancelled', nil, {})
    outcome = 'cancelled'
  elseif j.status == 'running' then
    redis.call('HSET', k, 'cancel', '1')
    outcome = 'requested'
  end
  local reply = redis.call('HGETALL', k)
  table.insert(reply, 1, outcome)
  return reply
end

local reply = main()
flush()
return reply
