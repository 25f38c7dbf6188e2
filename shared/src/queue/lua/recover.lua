--[[
  Housekeeping any worker may run: jobs whose lease expired go back to the queue (or fail with
  "worker lost" after max attempts; a job held ahead and never started gets its attempt back);
  ids left in the processing list of a worker whose heartbeat stopped go back to the queue;
  delayed jobs whose time has come join the queue.

  KEYS[1]  jobs:queue
  KEYS[2]  jobs:leases
  KEYS[3]  jobs:delayed
  KEYS[4]  jobs:workers
  KEYS[5]  jobs:dedup
  KEYS[6]  jobs:ended:log
  KEYS[7]  jobs:status:queued
  KEYS[8]  jobs:status:finished
  KEYS[9]  jobs:status:failed
  KEYS[10] jobs:status:cancelled
  KEYS[11] metrics:jobs
  KEYS[12] jobs:events                 (channel)
  KEYS[13] job:                        the job key prefix
  KEYS[14] jobs:processing:            the processing list prefix (jobs:processing:<worker>)
  KEYS[15] events                     the event stream (GET /events)

  ARGV[1] retention, ARGV[2] now (ISO), ARGV[3] max attempts, ARGV[4] batch limit

  Reply: { requeued, lost, promoted, dead workers }
]]
local QUEUE, LEASES, DELAYED, WORKERS, DEDUP, ENDED = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5], KEYS[6]
local ST_QUEUED, ST_FINISHED, ST_FAILED, ST_CANCELLED, METRICS = KEYS[7], KEYS[8], KEYS[9], KEYS[10], KEYS[11]
local EVENTS = KEYS[12]
local JOB, PROCP = KEYS[13], KEYS[14]
local STREAM = KEYS[15]
-- Recovery edits other workers' lists, at once.
local PROC = false
--- @include "load"
--- @include "conclude"
--- @include "requeue"

local function main()
  local maxAttempts, limit = tonumber(ARGV[3]), tonumber(ARGV[4])
  local requeued, lost, promoted = 0, 0, 0
  for _, id in ipairs(redis.call('ZRANGEBYSCORE', LEASES, '-inf', now(), 'LIMIT', 0, limit)) do
    local j = load(id, 'status', 'worker', 'attempts', 'cancel', 'seq', 'dv', 'token', 'analysis', 'started_at', 'unstarted_losses')
    if j.status == 'running' then
      local proc = j.worker and (PROCP .. j.worker) or nil
      local unstarted = tonumber(j.unstarted_losses or '0')
      if j.cancel == '1' then
        conclude(j, 'cancelled', proc, {})
      elseif not j.started_at and unstarted < maxAttempts then
        -- Held ahead and never started: back without the attempt its claim counted. A run that
        -- killed its worker before the start was written looks the same; the count of such losses
        -- bounds how often a job can do that uncharged.
        requeue(j, proc, 0, { 'attempts', math.max(0, tonumber(j.attempts) - 1), 'unstarted_losses', unstarted + 1 })
        requeued = requeued + 1
      elseif tonumber(j.attempts) >= maxAttempts then
        conclude(j, 'failed', proc, { 'error', 'worker lost' })
        lost = lost + 1
      else
        requeue(j, proc, 0, {})
        requeued = requeued + 1
      end
    else
      redis.call('ZREM', LEASES, id)
    end
  end
  local dead = redis.call('ZRANGEBYSCORE', WORKERS, '-inf', now(), 'LIMIT', 0, limit)
  for _, worker in ipairs(dead) do
    local proc = PROCP .. worker
    for _, id in ipairs(redis.call('LRANGE', proc, 0, -1)) do
      if redis.call('HGET', JOB .. id, 'status') == 'queued' and not redis.call('ZSCORE', DELAYED, id) then
        redis.call('RPUSH', QUEUE, id)
        requeued = requeued + 1
      end
    end
    redis.call('DEL', proc)
    redis.call('ZREM', WORKERS, worker)
  end
  for _, id in ipairs(redis.call('ZRANGEBYSCORE', DELAYED, '-inf', now(), 'LIMIT', 0, limit)) do
    redis.call('ZREM', DELAYED, id)
    if redis.call('HGET', JOB .. id, 'status') == 'queued' then
      redis.call('RPUSH', QUEUE, id)
      promoted = promoted + 1
    end
  end
  return { requeued, lost, promoted, #dead }
end

local reply = main()
flush()
return reply
