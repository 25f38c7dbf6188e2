--[[
  Stores a chart with the remaining lifetime of its result, read in the same atomic step, so both
  expire in the same millisecond; writes nothing once the result is gone.

  KEYS[1] result:<id>
  KEYS[2] chart:<id>:<format>
  ARGV[1] the chart's bytes

  Reply: the PTTL copied (-1: none, -2: the result is gone)
]]
local RESULT, CHART = KEYS[1], KEYS[2]

local ttl = redis.call('PTTL', RESULT)
if ttl == -2 or ttl == 0 then return -2 end
if ttl == -1 then redis.call('SET', CHART, ARGV[1]) else redis.call('SET', CHART, ARGV[1], 'PX', ttl) end
return ttl
