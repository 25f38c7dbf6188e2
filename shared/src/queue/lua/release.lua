--[[
  Hands a held job back to the queue, at once or after a delay (via jobs:delayed). A job asked
  to cancel ends cancelled instead.

  KEYS[1]  jobs:processing:<worker>   the calling worker's processing list
  KEYS[2]  jobs:queue
  KEYS[3]  jobs:leases
  KEYS[4]  jobs:delayed
  KEYS[5]  jobs:dedup
  KEYS[6]  jobs:ended:log
  KEYS[7]  jobs:status:queued
  KEYS[8]  jobs:status:finished
  KEYS[9]  jobs:status:failed
  KEYS[10] jobs:status:cancelled
  KEYS[11] metrics:jobs
  KEYS[12] jobs:events                 (channel)
  KEYS[13] job:                        the job key prefix
  KEYS[14] events                     the event stream (GET /events)

  ARGV[1] retention, ARGV[2] now (ISO)
  ARGV[3] id, ARGV[4] token, ARGV[5] delay ms, ARGV[6] refund ('1': the run does not count as an
  attempt), ARGV[7] error note ('' for none)

  Reply: 'released' | 'cancelled' | 'lost'
]]
local PROC, QUEUE, LEASES, DELAYED, DEDUP, ENDED = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5], KEYS[6]
local ST_QUEUED, ST_FINISHED, ST_FAILED, ST_CANCELLED, METRICS = KEYS[7], KEYS[8], KEYS[9], KEYS[10], KEYS[11]
local EVENTS, JOB = KEYS[12], KEYS[13]
local STREAM = KEYS[14]
--- @include "load"
--- @include "conclude"
--- @include "requeue"

local function main()
  local j = load(ARGV[3], 'status', 'token', 'cancel', 'seq', 'dv', 'attempts', 'analysis')
  if j.status ~= 'running' or j.token ~= ARGV[4] then return 'lost' end
  if j.cancel == '1' then
    conclude(j, 'cancelled', PROC, {})
    return 'cancelled'
  end
  local fields = {}
  if ARGV[6] == '1' then fields = { 'attempts', tonumber(j.attempts) - 1 } end
  if ARGV[7] ~= '' then table.insert(fields, 'error'); table.insert(fields, ARGV[7]) end
  requeue(j, PROC, tonumber(ARGV[5]), fields)
  return 'released'
end

local reply = main()
flush()
return reply
