--[[
  Index and lease changes, the caller's processing list and the job events are gathered and
  written when the script ends (flush), one variadic command each: a settle of 20 jobs that
  claims 20 more then costs a handful of such calls instead of 140. Removals go before
  additions, so a member removed and added again in one script ends up present.
  Needs PROC (the caller's processing list, or false when the script has none), EVENTS, STREAM,
  METRICS, and MAXLEN (settings).

  Each state change is also an entry of the event stream (STREAM, read by GET /events), written
  by the same script, so a client never sees an event whose change did not happen, nor misses one.
]]
--- @include "tally"

local zrems, zadds, rpushes = {}, {}, {}
local procDrops, procDropCount, procAdds = {}, 0, {}
local function zrem(key, id)
  local b = zrems[key]
  if not b then
    b = {}
    zrems[key] = b
  end
  b[#b + 1] = id
end
local function zadd(key, score, id)
  local b = zadds[key]
  if not b then
    b = {}
    zadds[key] = b
  end
  b[#b + 1] = score
  b[#b + 1] = id
end
local function rpush(key, value)
  local b = rpushes[key]
  if not b then
    b = {}
    rpushes[key] = b
  end
  b[#b + 1] = value
end

-- The jobs that ended in this step, for the long-polls of GET /jobs/{id}?wait (PUBLISH on EVENTS):
-- a line `<id> <status>` each.
local announced = {}
local function announce(id, status)
  announced[#announced + 1] = id .. ' ' .. status
end

-- The step's job events, in the order they happened. They go into ONE entry of the event stream
-- at flush, as one field `jobs` of a line per event, `<event> <job id> <analysis>[ <attempts>]`
-- (see ../../../events.ts eventsFromEntry). An XADD per event cost a no-op job about 3 us of
-- Redis' time, as every job makes three; a field per event, 1.4 % more Redis instructions than one
-- field; every byte written is also an AOF byte. The reader derives the status from the event and
-- the time from the entry id. attempts is text (Lua makes text of a number with sprintf).
local streamed = {}
-- Events per entry at most: a reader's batch stays bounded.
local STREAMED_PER_ENTRY = 200
local function flushStream()
  if #streamed == 0 then return end
  redis.call('XADD', STREAM, 'MAXLEN', '~', MAXLEN, '*', 'jobs', table.concat(streamed, '\n'))
  streamed = {}
end
local function emit(event, id, analysis, attempts)
  local n = #streamed + 1
  if attempts then
    streamed[n] = event .. ' ' .. id .. ' ' .. (analysis or '') .. ' ' .. attempts
  else
    streamed[n] = event .. ' ' .. id .. ' ' .. (analysis or '')
  end
  if n >= STREAMED_PER_ENTRY then flushStream() end
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
  procDrops, procDropCount, procAdds = {}, 0, {}
end

local function flush()
  for key, ids in pairs(zrems) do redis.call('ZREM', key, unpack(ids)) end
  for key, members in pairs(zadds) do redis.call('ZADD', key, unpack(members)) end
  for key, values in pairs(rpushes) do redis.call('RPUSH', key, unpack(values)) end
  flushProc()
  if #announced > 0 then redis.call('PUBLISH', EVENTS, table.concat(announced, '\n')) end
  announced = {}
  flushStream()
  flushTallies()
end
