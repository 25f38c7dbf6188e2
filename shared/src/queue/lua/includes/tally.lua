--[[
  Counters GET /metrics reads (see metrics.ts): counted in the transition's own step, they stay
  exact however many workers there are. Increments are summed per field and written once when
  the script ends (flushTallies), so a settle of 20 jobs costs a few HINCRBYs, not 80.
  Needs METRICS.
]]
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

local function flushTallies()
  for key, t in pairs(tallies) do
    for field, n in pairs(t) do redis.call('HINCRBY', key, field, n) end
  end
end
