--[[
  Claims: starting queued jobs for the calling worker (PROC). Each started job's claim record is
  appended to the reply in the layout of the constants include (CLAIM_*), which claim.ts decodes.
  Needs JOB, QUEUE, LEASES, ST_QUEUED, PROC, DATASET.
]]
--- @include "settings"
--- @include "clock"
--- @include "batch"
--- @include "constants"

-- The claim token: the caller's, unique to the call (set by the script body). A token is only
-- compared with its own job's, and a call claims a job once, so its jobs share it.
local tokenBase = ''

-- Set by a claim for a worker that may hold the jobs ahead: they get no started_at until the
-- worker tells a slot took them (a settle's 'started' item, or the settle of the run), so that
-- recovery can give back the attempt of a job that never started.
local HOLD = false

-- The dataset as this call found it, in every claim record (`<version> <state> <generation>`,
-- CLAIM_DATASET): the worker runs the job on that load without asking Redis again, and a settle
-- still refuses a result on a load that is no longer current. A job started here (not held) also
-- gets it as its dataset_version, which it would otherwise write when its run begins; none while
-- a load is on its way (the run is deferred). Read once per call, at its first claim.
local datasetRecord, datasetVersion
-- A call's jobs share one lease deadline, and attempts are small numbers: their text is made once.
local leaseText
local ATTEMPTS_TEXT = { '1', '2', '3', '4', '5', '6', '7', '8', '9', '10' }
local function readDataset()
  local d = redis.call('HMGET', DATASET, 'version', 'state', 'generation')
  local version, state = d[1] or '0', d[2] or 'empty'
  datasetRecord = version .. ' ' .. state .. ' ' .. (d[3] or '')
  datasetVersion = state ~= 'loading' and version
end

-- Starts a job whose id has left the queue and appends its claim record to reply; false (and the
-- id forgotten) when it is no longer queued: cancelled while it sat in the queue, expired, or
-- already taken back by recovery. Run once per claimed job: no tables of its own.
local function begin(id, worker, leaseMs, reply)
  local k = JOB .. id
  local f = redis.call('HMGET', k, 'status', 'attempts', 'analysis', 'params')
  if f[1] ~= 'queued' then return false end
  local attempts = tonumber(f[2]) + 1
  local attemptsText = ATTEMPTS_TEXT[attempts] or tostring(attempts)
  local token = tokenBase
  if not datasetRecord then readDataset() end
  -- progress is already 0: enqueue and requeue leave it so.
  if HOLD then
    redis.call('HSET', k, 'status', 'running', 'worker', worker, 'attempts', attemptsText, 'token', token)
  elseif datasetVersion then
    redis.call('HSET', k, 'status', 'running', 'started_at', NOW_ISO, 'worker', worker,
      'attempts', attemptsText, 'token', token, 'dataset_version', datasetVersion)
  else
    redis.call('HSET', k, 'status', 'running', 'started_at', NOW_ISO, 'worker', worker,
      'attempts', attemptsText, 'token', token)
  end
  zrem(ST_QUEUED, id)
  leaseText = leaseText or tostring(now() + leaseMs)
  zadd(LEASES, leaseText, id)
  emit('started', id, f[3], attemptsText)
  local r = #reply
  reply[r + CLAIM_ID], reply[r + CLAIM_TOKEN], reply[r + CLAIM_ATTEMPTS] = id, token, attempts
  reply[r + CLAIM_ANALYSIS], reply[r + CLAIM_PARAMS], reply[r + CLAIM_DATASET] = f[3], f[4], datasetRecord
  return true
end

-- Starts an id a blocking move already put into PROC.
local function start(id, worker, leaseMs, reply)
  if begin(id, worker, leaseMs, reply) then return true end
  unlist(PROC, id)
  return false
end

-- Takes up to `wanted` queued jobs from the front of the line (the queue's right end) into PROC and
-- starts them; stale ids met on the way are dropped. One job is a single LMOVE; more are one
-- LRANGE and one LTRIM, and join PROC when the step ends.
local function takeOne(worker, leaseMs, reply)
  for _ = 1, 100 do
    local id = redis.call('LMOVE', QUEUE, PROC, 'RIGHT', 'LEFT')
    if not id then return 0 end
    if start(id, worker, leaseMs, reply) then return 1 end
  end
  return 0
end

local function take(worker, leaseMs, wanted, reply)
  if wanted == 1 then return takeOne(worker, leaseMs, reply) end
  local taken = 0
  for _ = 1, 100 do
    local want = wanted - taken
    if want <= 0 then break end
    local ids = redis.call('LRANGE', QUEUE, -want, -1)
    if #ids == 0 then break end
    redis.call('LTRIM', QUEUE, 0, -#ids - 1)
    for i = #ids, 1, -1 do
      if begin(ids[i], worker, leaseMs, reply) then
        procAdds[#procAdds + 1] = ids[i]
        taken = taken + 1
      end
    end
  end
  return taken
end
