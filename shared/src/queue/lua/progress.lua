--[[
  A running job's progress, written by its worker while the token is still its own.

  KEYS[1] job:    the job key prefix
  KEYS[2] events  the event stream (GET /events)

  ARGV[1] retention (only the event stream's length is used), ARGV[2] now (unused)
  ARGV[3] id, ARGV[4] token, ARGV[5] progress (0..1), ARGV[6] dataset version ('' for none)

  Reply: 'ok' | 'cancel' (asked to cancel) | 'lost' (the lease was taken)
]]
local JOB, STREAM = KEYS[1], KEYS[2]
--- @include "settings"

local k = JOB .. ARGV[3]
local f = redis.call('HMGET', k, 'status', 'token', 'cancel', 'analysis')
if f[1] ~= 'running' or f[2] ~= ARGV[4] then return 'lost' end
if ARGV[6] ~= '' then
  redis.call('HSET', k, 'progress', ARGV[5], 'dataset_version', ARGV[6])
else
  redis.call('HSET', k, 'progress', ARGV[5])
end
-- A run's first report (0) adds nothing to its `started` event.
if ARGV[5] ~= '0' then
  redis.call('XADD', STREAM, 'MAXLEN', '~', MAXLEN, '*', 'event', 'progress', 'id', ARGV[3], 'analysis', f[4], 'progress', ARGV[5])
end
if f[3] == '1' then return 'cancel' end
return 'ok'
