--[[
  Retention: ended jobs older than AGE seconds, and the oldest beyond the KEEP newest, go with
  everything that names them (job, result, charts, index entries, their dedup entry), at most
  limit of them, oldest first. ENDED is a list in the order jobs ended (appended when a step
  ends), each entry <ms ended>:<36-character id>:<dedup digest>; what goes is always a prefix of
  it. pending: jobs this step ended that join ENDED when it flushes, counted now so that a step
  never leaves more than KEEP.
  Needs ENDED, DEDUP, ALL, ST_FINISHED, ST_FAILED, ST_CANCELLED and the prefixes JOB, RESULT, CHART.
]]
--- @include "settings"
--- @include "clock"
--- @include "constants"

local function endedAt(entry)
  return tonumber(string.match(entry, '^(%d+):'))
end

local function prune(limit, pending)
  local doomed = {}
  local cutoff = AGE > 0 and now() - AGE * 1000
  local oldest = cutoff and redis.call('LINDEX', ENDED, 0)
  if oldest and endedAt(oldest) <= cutoff then
    -- Read in growing chunks from the oldest: a step usually finds as many due as it ended.
    local from, chunk = 0, math.min(limit, math.max(8, 2 * pending))
    while chunk > 0 do
      local entries = redis.call('LRANGE', ENDED, from, from + chunk - 1)
      local due = 0
      for _, e in ipairs(entries) do
        if endedAt(e) > cutoff then break end
        doomed[#doomed + 1] = e
        due = due + 1
      end
      if due < chunk then break end
      from = from + chunk
      chunk = math.min(limit - #doomed, chunk * 2)
    end
  end
  if KEEP > 0 and #doomed < limit then
    local excess = redis.call('LLEN', ENDED) + pending - KEEP - #doomed
    if excess > 0 then
      local from = #doomed
      for _, e in ipairs(redis.call('LRANGE', ENDED, from, from + math.min(excess, limit - from) - 1)) do doomed[#doomed + 1] = e end
    end
  end
  if #doomed == 0 then return 0 end
  local ids, gone = {}, {}
  for i, e in ipairs(doomed) do
    local at = string.find(e, ':', 1, true)
    local id, dk = string.sub(e, at + 1, at + 36), string.sub(e, at + 38)
    ids[i] = id
    if dk ~= '' then
      local entry = redis.call('HGET', DEDUP, dk)
      if entry and string.sub(entry, -36) == id then redis.call('HDEL', DEDUP, dk) end
    end
    gone[#gone + 1] = JOB .. id
    gone[#gone + 1] = RESULT .. id
    for _, suffix in ipairs(CHART_SUFFIXES) do gone[#gone + 1] = CHART .. id .. suffix end
  end
  redis.call('LTRIM', ENDED, #doomed, -1)
  for _, key in ipairs({ ALL, ST_FINISHED, ST_FAILED, ST_CANCELLED }) do redis.call('ZREM', key, unpack(ids)) end
  redis.call('UNLINK', unpack(gone))
  return #doomed
end
