--[[
  Retention: ended jobs older than AGE seconds, and the oldest beyond the KEEP newest, go with
  everything that names them (job, result, charts, index entries, their dedup entry), at most
  limit of them, oldest first. Ids are UUIDs: a member of ENDED is <36-character id>:<dedup digest>.
  Needs ENDED, DEDUP, ALL, ST_FINISHED, ST_FAILED, ST_CANCELLED and the prefixes JOB, RESULT, CHART.
]]
--- @include "settings"
--- @include "clock"
--- @include "constants"

local function prune(limit, pending)
  local doomed = {}
  if AGE > 0 then doomed = redis.call('ZRANGEBYSCORE', ENDED, '-inf', now() - AGE * 1000, 'LIMIT', 0, limit) end
  if KEEP > 0 and #doomed < limit then
    -- pending: jobs this step ended that join at flush; counted now, so that a step never leaves more than KEEP.
    local excess = redis.call('ZCARD', ENDED) + (pending or 0) - KEEP - #doomed
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
