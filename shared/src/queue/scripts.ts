/**
 * The queue's state transitions, each one Lua script: Redis runs a script atomically, so a job
 * is never half-moved between the queue, a processing list, the lease set and the indexes.
 *
 * Key names come from keys.ts and are compiled into the scripts (see KEY_NAMES), as are the key
 * prefixes that ids read from lists and sets are joined to. ARGV[1] is the retention (`<ttl>
 * <age> <keep> <maxlen>`: the TTL ended jobs' keys get, the age in seconds and the count of ended
 * jobs past which they are pruned, 0 for none; the event stream's approximate length), ARGV[2]
 * the caller's clock (ISO) for the `*_at` fields, then the script's own arguments. Deadlines (leases, heartbeats, backoff) use the Redis
 * server's clock, so workers on machines with skewed clocks agree on when a lease has expired.
 *
 * A running job carries a fencing `token`, new on every claim, and the claiming `worker`; each
 * owner-only script checks the token (settle and renew the worker too), so a worker whose lease
 * was taken can no longer write anything. Tokens are made by the claiming process (a random
 * nonce, a call counter, the job's place in the call), never by a counter in Redis: Redis can
 * lose its last writes (a lost AOF tail, a failover) and would then hand the same number out
 * again, to two workers at once.
 *
 * Results are tied to the dataset load they were computed on (`dataset.generation`, a random id
 * per load, for the same reason): a result computed on a load that is no longer current is
 * refused and its job runs again.
 *
 * The scripts also count what they do for GET /metrics (`metrics:jobs`, `metrics:job_duration`;
 * see ../metrics.ts): new and deduplicated jobs, every other end by its status, finished jobs by
 * their run time (a histogram bucket and the sum), which also gives their count.
 *
 * Each state change is also an entry of the event stream (keys.events, read by GET /events): the
 * same step writes it, so a client never sees an event whose change did not happen, nor misses one.
 *
 * Every redis.call costs a few microseconds of marshalling, and a no-op job's cost is nearly all
 * here: a transition reads the job once (HMGET of the fields it needs) and writes as little as it can.
 */
import { createHash } from 'node:crypto';
import { CHART_FORMATS, keyPrefixes, keys } from '../keys.ts';
import { JOB_DURATION_BUCKETS } from '../metrics.ts';
import { DEFAULT_EVENTS_MAXLEN } from '../events.ts';
import type { Redis } from '../redis.ts';

/**
 * The fixed keys the scripts use, by their Lua name, compiled into every script as constants
 * rather than passed as KEYS: a no-op job's cost is mostly per-argument work on both ends. Only
 * the calling worker's processing list (`PROC`) varies, and it is the one KEYS entry.
 */
const KEY_NAMES = {
  QUEUE: keys.jobsQueue,
  LEASES: keys.jobsLeases,
  DELAYED: keys.jobsDelayed,
  ALL: keys.jobsAll,
  DEDUP: keys.jobsDedup,
  ENDED: keys.jobsEnded,
  WORKERS: keys.jobsWorkers,
  SEQ: keys.jobsSeq,
  DATASET: keys.dataset,
  ST_QUEUED: keys.jobsByStatus('queued'),
  ST_FINISHED: keys.jobsByStatus('finished'),
  ST_FAILED: keys.jobsByStatus('failed'),
  ST_CANCELLED: keys.jobsByStatus('cancelled'),
  METRICS: keys.jobsMetrics,
  DURATIONS: keys.jobDurations,
} as const;
type ScriptKey = keyof typeof KEY_NAMES;

const lua = (s: string) => JSON.stringify(s);

/**
 * Ended jobs retention prunes per call at most: each is 4 keys (UNLINK), an entry in 5 zsets and
 * maybe a dedup entry, so a full batch is a few milliseconds of Redis' time.
 */
export const PRUNE_BATCH = 1000;

const COMMON = `
local JOB, RESULT, CHART, PROCP, EVENTS = ${lua(keyPrefixes.job)}, ${lua(keyPrefixes.result)}, ${lua(keyPrefixes.chart)}, ${lua(keyPrefixes.processing)}, ${lua(keys.jobEvents)}
local STREAM = ${lua(keys.events)}
local CHART_SUFFIXES = { ${CHART_FORMATS.map((f) => lua(`:${f}`)).join(', ')} }
local TTL, AGE, KEEP, MAXLEN = string.match(ARGV[1], '^(%d+) (%d+) (%d+) ?(%d*)$')
TTL, AGE, KEEP, MAXLEN = tonumber(TTL), tonumber(AGE), tonumber(KEEP), tonumber(MAXLEN) or ${DEFAULT_EVENTS_MAXLEN}
local NOW_ISO = ARGV[2]
-- Running jobs are indexed by their lease (LEASES), the other statuses by these sets.
local STATUS = { queued = ST_QUEUED, finished = ST_FINISHED, failed = ST_FAILED, cancelled = ST_CANCELLED }

local now_ms
local function now()
  if not now_ms then
    local t = redis.call('TIME')
    now_ms = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
  end
  return now_ms
end

-- The named fields of a job (missing ones are false) in one read.
local function load(id, ...)
  local names = { ... }
  local v = redis.call('HMGET', JOB .. id, ...)
  local j = { id = id }
  for i, name in ipairs(names) do j[name] = v[i] end
  return j
end

-- Counters GET /metrics reads (see metrics.ts): counted in the transition's own step, they stay
-- exact however many workers there are. Increments are summed per field and written once when
-- the script ends (flush), so a settle of 20 jobs costs a few HINCRBYs, not 80.
local tallies = {}
local function tally(key, field, n)
  local t = tallies[key]
  if not t then
    t = {}
    tallies[key] = t
  end
  t[field] = (t[field] or 0) + n
end

local function count(analysis, event)
  tally(METRICS, analysis .. ':' .. event, 1)
end

-- Index and lease changes, the caller's processing list and the job events are gathered too and
-- written at the end, one variadic command each: a settle of 20 jobs that claims 20 more then
-- costs a handful of such calls instead of 140. Removals go before additions, so a member
-- removed and added again in one script ends up present.
local zrems, zadds, events = {}, {}, {}
local procDrops, procDropCount, procAdds = {}, 0, {}
local function batched(t, key)
  local b = t[key]
  if not b then
    b = {}
    t[key] = b
  end
  return b
end
local function zrem(key, id)
  local b = batched(zrems, key)
  b[#b + 1] = id
end
local function zadd(key, score, id)
  local b = batched(zadds, key)
  b[#b + 1] = score
  b[#b + 1] = id
end
local function announce(id, status)
  events[#events + 1] = id .. ' ' .. status
end
-- Entries of the event stream (GET /events), XADDed at flush in the order they happened: the
-- event, the job's id and analysis, extra fields. The reader derives the status from the event
-- and the time from the entry id, so each entry stays small: every job writes several.
local streamed = {}
local function emit(event, id, analysis, ...)
  streamed[#streamed + 1] = { 'event', event, 'id', id, 'analysis', analysis or '', ... }
end
-- Ids leaving a processing list: the caller's own list (PROC) is edited at the end, another
-- worker's (recovery) at once.
local function unlist(proc, id)
  if proc ~= PROC then
    redis.call('LREM', proc, 1, id)
  elseif not procDrops[id] then
    procDrops[id] = true
    procDropCount = procDropCount + 1
  end
end

-- New ids join at the left, as LMOVE puts them, so the oldest claims sit at the right end.
local function flushProc()
  if procDropCount > 0 then
    -- Jobs mostly end in the order they were claimed: then they are the right end, and one LTRIM
    -- drops them (a small write for the AOF too). A few others are LREMs; more rewrite the list
    -- (it holds what the worker runs and holds ahead).
    local tail = redis.call('LRANGE', PROC, -procDropCount, -1)
    local oldest = #tail == procDropCount
    for _, id in ipairs(tail) do
      if not procDrops[id] then
        oldest = false
        break
      end
    end
    if oldest then
      redis.call('LTRIM', PROC, 0, -procDropCount - 1)
    elseif procDropCount <= 2 then
      for id in pairs(procDrops) do redis.call('LREM', PROC, 1, id) end
    else
      local keep = {}
      for _, id in ipairs(redis.call('LRANGE', PROC, 0, -1)) do
        if not procDrops[id] then keep[#keep + 1] = id end
      end
      redis.call('DEL', PROC)
      if #keep > 0 then redis.call('RPUSH', PROC, unpack(keep)) end
    end
  end
  if #procAdds > 0 then redis.call('LPUSH', PROC, unpack(procAdds)) end
end

local function flush()
  for key, ids in pairs(zrems) do redis.call('ZREM', key, unpack(ids)) end
  for key, members in pairs(zadds) do redis.call('ZADD', key, unpack(members)) end
  flushProc()
  if #events > 0 then redis.call('PUBLISH', EVENTS, table.concat(events, '\\n')) end
  for _, fields in ipairs(streamed) do redis.call('XADD', STREAM, 'MAXLEN', '~', MAXLEN, '*', unpack(fields)) end
  for key, t in pairs(tallies) do
    for field, n in pairs(t) do redis.call('HINCRBY', key, field, n) end
  end
end

local function index(j, to)
  if j.status ~= 'running' then zrem(STATUS[j.status], j.id) end
  if to ~= 'running' then zadd(STATUS[to], j.seq, j.id) end
end

-- The dedup entry (field: the request's digest dk; value <version>:<generation>:<id>, written at
-- enqueue for the load then current: dv, dg) follows the job: pointed at the load it ran on
-- (stamp, <version>:<generation>) when it finished, dropped when it failed or was cancelled so that
-- asking again computes afresh. Left alone when another job took it over. Loads dk and dg into j.
local function dedup(j, status, stamp)
  if j.dk == nil or j.dg == nil then
    local f = redis.call('HMGET', JOB .. j.id, 'dk', 'dg')
    j.dk, j.dg = f[1], f[2]
  end
  if not j.dv or not j.dk or (status == 'finished' and j.dg and stamp == j.dv .. ':' .. j.dg) then return end
  if redis.call('HGET', DEDUP, j.dk) ~= j.dv .. ':' .. (j.dg or '') .. ':' .. j.id then return end
  if status == 'finished' then
    redis.call('HSET', DEDUP, j.dk, stamp .. ':' .. j.id)
  else
    redis.call('HDEL', DEDUP, j.dk)
  end
end

-- Ends a job (loaded with status, seq, dv, analysis): status and index, processing list, lease,
-- dedup, retention, the counter and the event. stamp: the load a finished job ran on.
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
  -- Retention prunes from here; the dedup digest rides along, as the hash may have expired by then.
  zadd(ENDED, now(), j.id .. ':' .. (j.dk or ''))
  announce(j.id, status)
  emit(status, j.id, j.analysis)
end

-- Retention: ended jobs older than AGE seconds, and the oldest beyond the KEEP newest, go with
-- everything that names them (job, result, charts, index entries, their dedup entry), at most
-- limit of them, oldest first. Ids are UUIDs: a member is <36-character id>:<dedup digest>.
local function prune(limit)
  local doomed = {}
  if AGE > 0 then doomed = redis.call('ZRANGEBYSCORE', ENDED, '-inf', now() - AGE * 1000, 'LIMIT', 0, limit) end
  if KEEP > 0 and #doomed < limit then
    -- Jobs this step ended join at flush; counted now, so that a step never leaves more than KEEP.
    local pending = zadds[ENDED] and #zadds[ENDED] / 2 or 0
    local excess = redis.call('ZCARD', ENDED) + pending - KEEP - #doomed
    if excess > 0 then
      local from = #doomed
      for _, m in ipairs(redis.call('ZRANGE', ENDED, from, from + math.min(excess, limit - from) - 1)) do doomed[#doomed + 1] = m end
    end
  end
  if #doomed == 0 then return 0 end
  local ids, gone = {}, {}
  for i, m in ipairs(doomed) do
    local id, dk = string.sub(m, 1, 36), string.sub(m, 38)
    ids[i] = id
    if dk ~= '' then
      local entry = redis.call('HGET', DEDUP, dk)
      if entry and string.sub(entry, -36) == id then redis.call('HDEL', DEDUP, dk) end
    end
    gone[#gone + 1] = JOB .. id
    gone[#gone + 1] = RESULT .. id
    for _, suffix in ipairs(CHART_SUFFIXES) do gone[#gone + 1] = CHART .. id .. suffix end
  end
  redis.call('ZREM', ENDED, unpack(doomed))
  for _, key in ipairs({ ALL, ST_FINISHED, ST_FAILED, ST_CANCELLED }) do redis.call('ZREM', key, unpack(ids)) end
  redis.call('UNLINK', unpack(gone))
  return #doomed
end

-- Back to the queue (a running job loaded with status, seq): no longer running, whoever held it is
-- fenced off, and its next claim draws a new token; the front of the line, since it already
-- waited its turn once.
local function requeue(j, proc, delay, fields)
  local k = JOB .. j.id
  redis.call('HSET', k, 'status', 'queued', 'progress', '0', unpack(fields))
  redis.call('HDEL', k, 'worker', 'started_at', 'started_ms', 'token')
  index(j, 'queued')
  if proc then unlist(proc, j.id) end
  zrem(LEASES, j.id)
  if delay > 0 then
    redis.call('ZADD', DELAYED, now() + delay, j.id)
  else
    redis.call('RPUSH', QUEUE, j.id)
  end
  emit('retrying', j.id, j.analysis)
end

-- Claim tokens: the caller's unique prefix (set by the script body) and the job's place in the call.
local tokenBase, tokensIssued = '', 0
local function newToken()
  tokensIssued = tokensIssued + 1
  return tokenBase .. tokensIssued
end

-- Set by a claim for a worker that may hold the jobs ahead: they get no started_at until the
-- worker tells a slot took them (a settle's 'started' item, or the settle of the run), so that
-- recovery can give back the attempt of a job that never started.
local HOLD = false

-- Starts a job whose id has left the queue and appends its 5 fields to reply; false (and the id
-- forgotten) when it is no longer queued: cancelled while it sat in the queue, expired, or
-- already taken back by recovery. Run once per claimed job: no tables of its own.
local function begin(id, worker, leaseMs, reply)
  local f = redis.call('HMGET', JOB .. id, 'status', 'attempts', 'analysis', 'params')
  if f[1] ~= 'queued' then return false end
  local attempts = tonumber(f[2]) + 1
  local token = newToken()
  -- started_ms (server clock) times the run for the duration histogram, as leases are timed.
  -- progress is already 0: enqueue and requeue leave it so.
  if HOLD then
    redis.call('HSET', JOB .. id, 'status', 'running', 'started_ms', now(), 'worker', worker, 'attempts', attempts, 'token', token)
  else
    redis.call('HSET', JOB .. id, 'status', 'running', 'started_at', NOW_ISO, 'started_ms', now(), 'worker', worker,
      'attempts', attempts, 'token', token)
  end
  zrem(ST_QUEUED, id)
  zadd(LEASES, now() + leaseMs, id)
  emit('started', id, f[3], 'attempts', attempts)
  local r = #reply
  reply[r + 1], reply[r + 2], reply[r + 3], reply[r + 4], reply[r + 5] = id, token, attempts, f[3], f[4]
  return true
end

-- Starts an id a blocking move already put into PROC.
local function start(id, worker, leaseMs, reply)
  if begin(id, worker, leaseMs, reply) then return true end
  unlist(PROC, id)
  return false
end

-- Takes up to k queued jobs from the front of the line (the queue's right end) into PROC and
-- starts them; stale ids met on the way are dropped. Appends each job's 5 fields to reply.
-- One job is a single LMOVE; more are one LRANGE and one LTRIM, and join PROC when the step ends.
local function takeOne(worker, leaseMs, reply)
  for _ = 1, 100 do
    local id = redis.call('LMOVE', QUEUE, PROC, 'RIGHT', 'LEFT')
    if not id then return 0 end
    if start(id, worker, leaseMs, reply) then return 1 end
  end
  return 0
end

local function take(worker, leaseMs, k, reply)
  if k == 1 then return takeOne(worker, leaseMs, reply) end
  local taken = 0
  for _ = 1, 100 do
    local want = k - taken
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
`;

/** ARGV[3..]: id, analysis, canonical params JSON. Reply: {'new'|'dup', id}. */
const ENQUEUE = `
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
redis.call('HSET', JOB .. id, 'id', id, 'analysis', analysis, 'params', params, 'status', 'queued', 'progress', '0',
  'attempts', '0', 'created_at', NOW_ISO, 'seq', seq, 'dv', version, 'dg', generation, 'dk', dk)
redis.call('LPUSH', QUEUE, id)
redis.call('ZADD', ALL, seq, id)
redis.call('ZADD', ST_QUEUED, seq, id)
redis.call('HSET', DEDUP, dk, stamp .. ':' .. id)
count(analysis, 'submitted')
emit('queued', id, analysis)
return { 'new', id }
`;

/**
 * ARGV[3..]: worker id, lease ms, then an id (already moved into PROC by BLMOVE) or '' and how
 * many jobs to take from the queue, then the call's unique token prefix, then hold ('1': see
 * HOLD). Reply: the started jobs, 5 fields each.
 */
const CLAIM = `
tokenBase = ARGV[7]
HOLD = ARGV[8] == '1'
local reply = {}
if ARGV[5] ~= '' then
  start(ARGV[5], ARGV[3], tonumber(ARGV[4]), reply)
else
  take(ARGV[3], tonumber(ARGV[4]), tonumber(ARGV[6]), reply)
end
return reply
`;

/**
 * Settles jobs the worker holds and claims up to k next ones, in one step (several slots that end
 * together share one round trip). ARGV[3..]: worker id, lease ms, n, then n times (id, token,
 * status finished|failed|cancelled, payload: result JSON or error, dataset version, dataset
 * generation, '*' when the result depends on none: not checked), or (id, token, 'started', '',
 * '', '') for a held job a slot took; then k, the call's unique token prefix and hold ('1': see HOLD).
 * A job asked to cancel ends `cancelled` even when its result arrives. A result computed on a
 * load that is no longer the current one (`dataset.generation` moved on: a new load, or writes
 * lost since) is refused: the job goes back to the front of the queue, its attempt refunded.
 * Reply: n outcomes (the status written, 'stale' when the result was refused so, or 'lost' when
 * the lease was taken), then the claimed jobs.
 */
const SETTLE = `
-- The duration histogram's bounds in ms and their le names (one field per bucket, not cumulative).
local BOUNDS = { ${JOB_DURATION_BUCKETS.map((b) => Math.round(b * 1000)).join(', ')} }
local LE = { ${JOB_DURATION_BUCKETS.map((b) => lua(String(b))).join(', ')}, '+Inf' }
-- Runs per analysis and bucket, and their sum; tallied once per analysis when the jobs are done.
local observed = {}
local function observe(analysis, ms)
  local o = observed[analysis]
  if not o then
    o = { sum = 0 }
    observed[analysis] = o
  end
  local bucket = #LE
  for i = 1, #BOUNDS do
    if ms <= BOUNDS[i] then bucket = i; break end
  end
  o[bucket] = (o[bucket] or 0) + 1
  o.sum = o.sum + ms
end

local n = tonumber(ARGV[5])
tokenBase = ARGV[7 + n * 6]
local current
local reply = {}
for i = 0, n - 1 do
  local b = 6 + i * 6
  local id = ARGV[b]
  local f = redis.call('HMGET', JOB .. id, 'status', 'token', 'cancel', 'seq', 'dv', 'error', 'analysis', 'started_ms', 'worker', 'dg', 'attempts', 'dk', 'started_at')
  local status, payload, version, generation = ARGV[b + 2], ARGV[b + 3], ARGV[b + 4], ARGV[b + 5]
  local outcome = 'lost'
  local owned = f[1] == 'running' and f[2] == ARGV[b + 1] and f[9] == ARGV[3]
  if owned and status == 'started' then
    if not f[13] then redis.call('HSET', JOB .. id, 'started_at', NOW_ISO) end
    outcome = 'started'
  elseif owned then
    local j = { id = id, status = 'running', seq = f[4], dv = f[5], error = f[6], analysis = f[7], started_ms = f[8], dg = f[10], dk = f[12] }
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
      requeue(j, PROC, 0, { 'attempts', tonumber(f[11]) - 1 })
    elseif status == 'finished' then
      if TTL > 0 then
        redis.call('SET', RESULT .. j.id, payload, 'EX', TTL)
      else
        redis.call('SET', RESULT .. j.id, payload)
      end
      if j.error then redis.call('HDEL', JOB .. j.id, 'error') end
      fields = { 'progress', '1', 'dataset_version', version, 'dataset_generation', generation }
      observe(j.analysis, j.started_ms and math.max(0, now() - tonumber(j.started_ms)) or 0)
    elseif status == 'failed' then
      fields = { 'error', payload }
      if version ~= '' then fields = { 'error', payload, 'dataset_version', version } end
    end
    if status ~= 'stale' then
      if not f[13] then
        fields[#fields + 1] = 'started_at'
        fields[#fields + 1] = NOW_ISO
      end
      conclude(j, status, PROC, fields, version .. ':' .. generation)
    end
    outcome = status
  end
  reply[#reply + 1] = outcome
end
for analysis, o in pairs(observed) do
  for bucket, runs in pairs(o) do
    if bucket ~= 'sum' then tally(DURATIONS, analysis .. ':' .. LE[bucket], runs) end
  end
  tally(DURATIONS, analysis .. ':sum_ms', o.sum)
end
-- Retention keeps pace with the jobs ending: a step prunes what aged out since the last one.
prune(${PRUNE_BATCH})
HOLD = ARGV[8 + n * 6] == '1'
take(ARGV[3], tonumber(ARGV[4]), tonumber(ARGV[6 + n * 6]), reply)
return reply
`;

/**
 * ARGV[3..]: id, token, delay ms, refund ('1': the run does not count as an attempt), error note.
 * Reply: 'released' | 'cancelled' | 'lost'.
 */
const RELEASE = `
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
`;

/** ARGV[3..]: id, token, progress, dataset version (''). Reply: 'ok' | 'cancel' | 'lost'. */
const PROGRESS = `
local k = JOB .. ARGV[3]
local f = redis.call('HMGET', k, 'status', 'token', 'cancel', 'analysis')
if f[1] ~= 'running' or f[2] ~= ARGV[4] then return 'lost' end
if ARGV[6] ~= '' then
  redis.call('HSET', k, 'progress', ARGV[5], 'dataset_version', ARGV[6])
else
  redis.call('HSET', k, 'progress', ARGV[5])
end
-- A run's first report (0, with the dataset version) says nothing 'started' did not.
if ARGV[5] ~= '0' then emit('progress', ARGV[3], f[4], 'progress', ARGV[5]) end
if f[3] == '1' then return 'cancel' end
return 'ok'
`;

/**
 * The worker's heartbeat and the lease renewal of all its running jobs in one step.
 * ARGV[3..]: worker id, lease ms, then id/token pairs. Reply: 'ok' | 'cancel' | 'lost' per job.
 */
const RENEW = `
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
`;

/**
 * ARGV[3]: id. A queued job ends at once (and leaves the queue); a running one is flagged for its
 * worker. Reply: {outcome, job hash as a flat list}, outcome 'cancelled' | 'requested' | 'ended' | 'missing'.
 */
const CANCEL = `
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
`;

/**
 * Housekeeping any worker may run: jobs whose lease expired go back to the queue (or fail with
 * "worker lost" after max attempts); ids left in the processing list of a worker whose heartbeat
 * stopped go back to the queue; delayed jobs whose time has come join the queue.
 * ARGV[3..]: max attempts, batch limit. Reply: {requeued, lost, promoted, dead workers}.
 */
const RECOVER = `
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
`;

/**
 * What the worker's processing list holds, read-only: the first half of a sweep. The worker
 * compares it with what it knows once every reply sent before this one has been handled.
 * ARGV[3..]: none. Reply: id, status, token, worker for each id in PROC (false fields as '').
 */
const HELD = `
local reply = {}
for _, id in ipairs(redis.call('LRANGE', PROC, 0, -1)) do
  local f = redis.call('HMGET', JOB .. id, 'status', 'token', 'worker')
  local r = #reply
  reply[r + 1], reply[r + 2], reply[r + 3], reply[r + 4] = id, f[1] or '', f[2] or '', f[3] or ''
end
return reply
`;

/**
 * The second half of a sweep of the worker's own processing list. ARGV[3..]: worker id, retire
 * ('1': also drop the list and the heartbeat), then id, status, token, refund ('1'/'0') for each
 * id the worker does not know, as HELD saw it. An id whose job changed since is left alone (a
 * claim or recovery moved it on). A job still running under this worker with that token goes back
 * to the front of the queue (attempt refunded unless the worker ran it); a queued one (moved in by
 * BLMOVE, never started) goes back to the queue; any other leaves the list.
 * Reply: how many jobs went back to the queue.
 */
const SWEEP = `
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
  procDropCount, procAdds = 0, {}
  redis.call('DEL', PROC)
  redis.call('ZREM', WORKERS, worker)
end
return n
`;

/**
 * Recovery of one processing list found by a scan, whose worker has no live heartbeat: a worker
 * that died between a BLMOVE and the start of what it moved, after recovery had already dropped
 * its heartbeat, leaves ids nothing else looks at. KEYS[1]: the list. ARGV[3..]: its worker id.
 * Queued ids go back to the queue and ended ones leave; running ones wait for their lease. The
 * list goes once it holds nothing running. Reply: ids put back, or -1 when the worker is alive.
 */
const RECOVER_LIST = `
local alive = redis.call('ZSCORE', WORKERS, ARGV[3])
if alive and tonumber(alive) > now() then return -1 end
local n = 0
for _, id in ipairs(redis.call('LRANGE', PROC, 0, -1)) do
  local status = redis.call('HGET', JOB .. id, 'status')
  if status ~= 'running' then
    unlist(PROC, id)
    if status == 'queued' and not redis.call('ZSCORE', DELAYED, id) then
      redis.call('RPUSH', QUEUE, id)
      n = n + 1
    end
  end
end
return n
`;

/** Retention on its own (recovery passes run it): ARGV[3] how many at most. Reply: how many went. */
const PRUNE = `
return prune(tonumber(ARGV[3]))
`;

export class LuaScript {
  readonly sha: string;
  readonly source: string;
  readonly #loading = new WeakMap<Redis, Promise<unknown>>();

  constructor(
    readonly name: string,
    body: string,
    /** Whether the script acts on the calling worker's processing list (its one KEYS entry). */
    readonly usesProc = false,
  ) {
    const names = Object.keys(KEY_NAMES) as ScriptKey[];
    const header = `local ${names.join(', ')} = ${names.map((n) => lua(KEY_NAMES[n])).join(', ')}\nlocal PROC = KEYS[1]`;
    // The body runs as a function so that every way out of it flushes the counters.
    this.source = `${header}\n${COMMON}\nlocal function main()\n${body}\nend\nlocal reply = main()\nflush()\nreturn reply\n`;
    this.sha = createHash('sha1').update(this.source).digest('hex');
  }

  /** The KEYS for a call: the calling worker's processing list, for the scripts that use one. */
  keys(proc?: string): string[] {
    return this.usesProc ? [proc!] : [];
  }

  /**
   * EVALSHA; on NOSCRIPT (first use, or Redis restarted and forgot its scripts) one SCRIPT LOAD
   * per connection, shared by every call waiting on it, then EVALSHA again.
   */
  async run(redis: Redis, keys: string[], args: string[]): Promise<unknown> {
    // sendCommand, not evalSha: the command builder's per-call work shows in a no-op job's cost.
    const command = ['EVALSHA', this.sha, String(keys.length), ...keys, ...args];
    try {
      return await redis.sendCommand(command);
    } catch (err) {
      if (!(err instanceof Error) || !err.message.startsWith('NOSCRIPT')) throw err;
      let loading = this.#loading.get(redis);
      if (!loading) {
        loading = redis.scriptLoad(this.source).finally(() => this.#loading.delete(redis));
        this.#loading.set(redis, loading);
      }
      await loading;
      return redis.sendCommand(command);
    }
  }
}

export const scripts = {
  enqueue: new LuaScript('enqueue', ENQUEUE),
  claim: new LuaScript('claim', CLAIM, true),
  settle: new LuaScript('settle', SETTLE, true),
  release: new LuaScript('release', RELEASE, true),
  progress: new LuaScript('progress', PROGRESS),
  renew: new LuaScript('renew', RENEW),
  cancel: new LuaScript('cancel', CANCEL),
  recover: new LuaScript('recover', RECOVER),
  held: new LuaScript('held', HELD, true),
  sweep: new LuaScript('sweep', SWEEP, true),
  prune: new LuaScript('prune', PRUNE),
  recoverList: new LuaScript('recoverList', RECOVER_LIST, true),
} as const;
