--[[
  What the worker's processing list holds, read-only: the first half of a sweep. The worker
  compares it with what it knows once every reply sent before this one has been handled.

  KEYS[1] jobs:processing:<worker>   the calling worker's processing list
  KEYS[2] job:                        the job key prefix

  ARGV[1] retention (unused), ARGV[2] now (unused)

  Reply: id, status, token, worker for each id in the list (false fields as '')
]]
local PROC, JOB = KEYS[1], KEYS[2]

local reply = {}
for _, id in ipairs(redis.call('LRANGE', PROC, 0, -1)) do
  local f = redis.call('HMGET', JOB .. id, 'status', 'token', 'worker')
  local r = #reply
  reply[r + 1], reply[r + 2], reply[r + 3], reply[r + 4] = id, f[1] or '', f[2] or '', f[3] or ''
end
return reply
