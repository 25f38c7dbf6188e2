--[[
  Back to the queue (a running job loaded with status, seq): no longer running, whoever held it
  is fenced off, and its next claim draws a new token; the front of the line, since it already
  waited its turn once. Needs JOB, LEASES, QUEUE, DELAYED and what index needs.
]]
--- @include "clock"
--- @include "index"

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
