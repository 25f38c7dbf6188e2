--[[
  Settles jobs the worker holds and claims up to k next ones, in one step (several slots that
  end together share one round trip). A job asked to cancel ends `cancelled` even when its result
  arrives. A result computed on a load that is no longer the current one (`dataset.generation`
  moved on: a new load, or writes lost since) is refused: the job goes back to the front of the
  queue, its attempt refunded. Retention prunes what aged out since the last step.

  KEYS[1]  jobs:processing:<worker>   the calling worker's processing list
  KEYS[2]  jobs:queue
  KEYS[3]  jobs:leases
  KEYS[4]  jobs:delayed
  KEYS[5]  jobs:all
  KEYS[6]  jobs:dedup
  KEYS[7]  jobs:ended:log
  KEYS[8]  dataset
  KEYS[9]  jobs:status:queued
  KEYS[10] jobs:status:finished
  KEYS[11] jobs:status:failed
  KEYS[12] jobs:status:cancelled
  KEYS[13] metrics:jobs
  KEYS[14] metrics:job_duration
  KEYS[15] jobs:events                 (channel)
  KEYS[16] job:                        key prefixes: job:<id>, result:<id>, chart:<id>:<format>
  KEYS[17] result:
  KEYS[18] chart:
  KEYS[19] events                     the event stream (GET /events)

  ARGV[1] retention, ARGV[2] now (ISO)
  ARGV[3] worker id, ARGV[4] lease ms, ARGV[5] n
  then n settle items (includes/constants.lua SETTLE_*): id, token, status finished | failed |
    cancelled, payload (result JSON or error), dataset version, dataset generation ('*' when the
    result depends on none: not checked), the run's length in ms as the worker timed it (for the
    duration histogram); or id, token, 'started', '', dataset version, '', '' for a held job a
    slot took (the version it runs on, as its claim found it; '' for none)
  then k, the call's token (unique to the call), hold ('1': see includes/take.lua HOLD)

  Reply: n outcomes (the status written, 'started', 'stale' when the result was refused, 'lost'
  when the lease was taken), then the claimed jobs' claim records.
]]
local PROC, QUEUE, LEASES, DELAYED, ALL = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5]
local DEDUP, ENDED, DATASET = KEYS[6], KEYS[7], KEYS[8]
local ST_QUEUED, ST_FINISHED, ST_FAILED, ST_CANCELLED = KEYS[9], KEYS[10], KEYS[11], KEYS[12]
local METRICS, DURATIONS, EVENTS, JOB, RESULT, CHART = KEYS[13], KEYS[14], KEYS[15], KEYS[16], KEYS[17], KEYS[18]
local STREAM = KEYS[19]
--- @include "conclude"
--- @include "requeue"
--- @include "prune"
--- @include "take"

-- Runs per analysis and duration bucket (DURATION_BOUNDS, DURATION_LE), and their sum; tallied
-- once per analysis when the jobs are done.
local observed = {}
local function observe(analysis, ms)
  local o = observed[analysis]
  if not o then
    o = { sum = 0 }
    observed[analysis] = o
  end
  local bucket = #DURATION_LE
  for i = 1, #DURATION_BOUNDS do
    if ms <= DURATION_BOUNDS[i] then bucket = i; break end
  end
  o[bucket] = (o[bucket] or 0) + 1
  o.sum = o.sum + ms
end

local function main()
  local n = tonumber(ARGV[5])
  local tail = 6 + n * SETTLE_FIELDS
  tokenBase = ARGV[tail + 1]
  local current
  local reply = {}
  local ended = 0
  local j = {}
  for i = 0, n - 1 do
    local b = 5 + i * SETTLE_FIELDS
    local id, token = ARGV[b + SETTLE_ID], ARGV[b + SETTLE_TOKEN]
    local status, payload = ARGV[b + SETTLE_STATUS], ARGV[b + SETTLE_PAYLOAD]
    local version, generation = ARGV[b + SETTLE_VERSION], ARGV[b + SETTLE_GENERATION]
    local f = redis.call('HMGET', JOB .. id, 'status', 'token', 'cancel', 'worker', 'seq', 'dv', 'dg', 'dk', 'error', 'analysis',
      'started_at', 'dataset_version')
    local started = f[11]
    local outcome = 'lost'
    local owned = f[1] == 'running' and f[2] == token and f[4] == ARGV[3]
    if owned and status == 'started' then
      if not started and version ~= '' then
        redis.call('HSET', JOB .. id, 'started_at', NOW_ISO, 'dataset_version', version)
      elseif not started then
        redis.call('HSET', JOB .. id, 'started_at', NOW_ISO)
      end
      outcome = 'started'
    elseif owned then
      -- One table for every job of the call, refilled: a new table per job cost about 0.2 us more.
      j.id, j.status, j.seq, j.dv, j.dg, j.dk, j.error, j.analysis = id, 'running', f[5], f[6], f[7], f[8], f[9], f[10]
      if f[3] == '1' then status = 'cancelled' end
      if status == 'finished' then
        if generation == '*' then
          -- A result that names no generation (a handler that reads no dataset) is not checked.
          generation = j.dg or ''
        else
          current = current or redis.call('HGET', DATASET, 'generation') or ''
          if generation ~= current then status = 'stale' end
        end
      end
      local fields = {}
      if status == 'stale' then
        requeue(j, PROC, 0, { 'attempts', tonumber(redis.call('HGET', JOB .. id, 'attempts')) - 1 })
      elseif status == 'finished' then
        if TTL > 0 then
          redis.call('SET', RESULT .. j.id, payload, 'EX', TTL)
        else
          redis.call('SET', RESULT .. j.id, payload)
        end
        if j.error then redis.call('HDEL', JOB .. j.id, 'error') end
        -- The load it ran on is written only where it is not the one it was asked on (dv, dg), which
        -- readers take in its place (queue.ts jobFromHash): usually neither is, and the job's hash
        -- takes two fields fewer (3.5 % fewer Redis instructions for a no-op job, callgrind).
        local ran = f[12]
        if ran ~= version and (ran or version ~= j.dv) then fields[1], fields[2] = 'dataset_version', version end
        if generation ~= j.dg then
          fields[#fields + 1] = 'dataset_generation'
          fields[#fields + 1] = generation
        end
        observe(j.analysis, tonumber(ARGV[b + SETTLE_MS]) or 0)
      elseif status == 'failed' then
        fields = { 'error', payload }
        if version ~= '' then fields = { 'error', payload, 'dataset_version', version } end
      end
      if status ~= 'stale' then
        if not started then
          fields[#fields + 1] = 'started_at'
          fields[#fields + 1] = NOW_ISO
        end
        conclude(j, status, PROC, fields, version .. ':' .. generation)
        ended = ended + 1
      end
      outcome = status
    end
    reply[#reply + 1] = outcome
  end
  for analysis, o in pairs(observed) do
    for bucket, runs in pairs(o) do
      if bucket ~= 'sum' then tally(DURATIONS, analysis .. ':' .. DURATION_LE[bucket], runs) end
    end
    tally(DURATIONS, analysis .. ':sum_ms', o.sum)
  end
  -- Retention keeps pace with the jobs ending: a step prunes what aged out since the last one.
  prune(PRUNE_BATCH, ended)
  HOLD = ARGV[tail + 2] == '1'
  take(ARGV[3], tonumber(ARGV[4]), tonumber(ARGV[tail]), reply)
  return reply
end

local reply = main()
flush()
return reply
