--[[
  The second half of a sweep of the worker's own processing list. An id whose job changed since
  held.lua saw it is left alone (a claim or recovery moved it on). A job still running under
  this worker with that token goes back to the front of the queue (attempt refunded unless the
  worker ran it); a queued one (moved in by BLMOVE, never started) goes back to the queue; any
  other leaves the list.

  KEYS[1]  jobs:processing:<worker>   the calling worker's processing list
  KEYS[2]  jobs:queue
  KEYS[3]  jobs:leases
  KEYS[4]  jobs:delayed
  KEYS[5]  jobs:workers
  KEYS[6]  jobs:dedup
  KEYS[7]  jobs:ended:log
  KEYS[8]  jobs:status:queued
  KEYS[9]  jobs:status:finished
  KEYS[10] jobs:status:failed
  KEYS[11] jobs:status:cancelled
  KEYS[12] metrics:jobs
  KEYS[13] jobs:events                 (channel)
  KEYS[14] job:                        the job key prefix
  KEYS[15] events                     the event stream (GET /events)

  ARGV[1] retention, ARGV[2] now (ISO)
  ARGV[3] worker id, ARGV[4] retire ('1': also drop the list and the heartbeat)
  then id, status, token, refund ('1'/'0') for each id the worker does not know, as held.lua saw it

  Reply: how many jobs went back to the queue
]]
local PROC, QUEUE, LEASES, DELAYED, WORKERS = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5]
local DEDUP, ENDED = KEYS[6], KEYS[7]
local ST_QUEUED, ST_FINISHED, ST_FAILED, ST_CANCELLED, METRICS = KEYS[8], KEYS[9], KEYS[10], KEYS[11], KEYS[12]
local EVENTS, JOB = KEYS[13], KEYS[14]
local STREAM = KEYS[15]
--- @include "load"
--- @include "conclude"
--- @include "requeue"

local function main()
  local worker = ARGV[3]
  local n = 0
  for i = 5, #ARGV, 4 do
    local j = load(ARGV[i], 'status', 'token', 'worker', 'attempts', 'seq', 'cancel', 'dv', 'analysis')
    if (j.status or '') == ARGV[i + 1] and (j.token or '') == ARGV[i + 2] then
      if j.status == 'running' then
        if j.worker == worker then
          if j.cancel == '1' then
            conclude(j, 'cancelled', PROC, {})
          else
            local fields = {}
            if ARGV[i + 3] == '1' then fields = { 'attempts', math.max(0, tonumber(j.attempts) - 1) } end
            requeue(j, PROC, 0, fields)
            n = n + 1
          end
        end
      else
        unlist(PROC, j.id)
        if j.status == 'queued' and not redis.call('ZSCORE', DELAYED, j.id) then
          redis.call('RPUSH', QUEUE, j.id)
          n = n + 1
        end
      end
    end
  end
  if ARGV[4] == '1' then
    flushProc()
    redis.call('DEL', PROC)
    redis.call('ZREM', WORKERS, worker)
  end
  return n
end

local reply = main()
flush()
return reply
