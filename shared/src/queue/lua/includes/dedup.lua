--[[
  The dedup entry (field: the request's digest dk; value <version>:<generation>:<id>, written at
  enqueue for the load then current: dv, dg) follows the job: pointed at the load it ran on
  (stamp, <version>:<generation>) when it finished, dropped when it failed or was cancelled so
  that asking again computes afresh. Left alone when another job took it over. Loads dk and dg
  into j. Needs JOB, DEDUP.
]]
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
