--[[
  Records a job and queues it, unless the same analysis with the same canonical params already
  has a live or finished job on the current dataset load: then that job is answered.

  KEYS[1] dataset        hash: the dataset's version and generation
  KEYS[2] jobs:dedup     hash: request digest -> <version>:<generation>:<job id>
  KEYS[3] job:           the job key prefix (job:<id>)
  KEYS[4] jobs:seq       the enqueue sequence counter
  KEYS[5] jobs:queue
  KEYS[6] jobs:all
  KEYS[7] jobs:status:queued
  KEYS[8] metrics:jobs
  KEYS[9] events         the event stream (GET /events)

  ARGV[1] retention (see includes/settings.lua; only the event stream's length is used here), ARGV[2] now (ISO)
  ARGV[3] job id, ARGV[4] analysis, ARGV[5] canonical params JSON

  Reply: { 'new' | 'dup', job id }
]]
local DATASET, DEDUP, JOB, SEQ, QUEUE = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5]
local ALL, ST_QUEUED, METRICS = KEYS[6], KEYS[7], KEYS[8]
local STREAM = KEYS[9]
--- @include "settings"
--- @include "tally"

local function main()
  local id, analysis, params = ARGV[3], ARGV[4], ARGV[5]
  local ds = redis.call('HMGET', DATASET, 'version', 'generation')
  local version, generation = ds[1] or '0', ds[2] or ''
  -- The load a job is asked on: the version alone may name another load after lost writes.
  local stamp = version .. ':' .. generation
  local dk = redis.sha1hex(analysis .. ' ' .. params)
  local entry = redis.call('HGET', DEDUP, dk)
  if entry then
    -- <stamp>:<job id>, and job ids are UUIDs (36 characters).
    local other = string.sub(entry, -36)
    if string.sub(entry, 1, -38) == stamp then
      local status = redis.call('HGET', JOB .. other, 'status')
      if status and status ~= 'failed' and status ~= 'cancelled' then
        count(analysis, 'deduplicated')
        return { 'dup', other }
      end
    end
  end
  local seq = redis.call('INCR', SEQ)
  -- The fields the queue's scripts read on every run first: Redis finds a field of a small hash by
  -- walking its fields from the start.
  redis.call('HSET', JOB .. id, 'status', 'queued', 'attempts', '0', 'analysis', analysis, 'seq', seq, 'dv', version,
    'dg', generation, 'dk', dk, 'params', params, 'id', id, 'progress', '0', 'created_at', NOW_ISO)
  redis.call('LPUSH', QUEUE, id)
  redis.call('ZADD', ALL, seq, id)
  redis.call('ZADD', ST_QUEUED, seq, id)
  redis.call('HSET', DEDUP, dk, stamp .. ':' .. id)
  count(analysis, 'submitted')
  redis.call('XADD', STREAM, 'MAXLEN', '~', MAXLEN, '*', 'event', 'queued', 'id', id, 'analysis', analysis)
  return { 'new', id }
end

local reply = main()
flushTallies()
return reply
