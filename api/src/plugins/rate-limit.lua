--[[
  Counts a request in a fixed window, atomically with the window's start and remaining time.

  KEYS[1] ratelimit:<limit>:<client>
  ARGV[1] the window in ms

  Reply: { requests counted in the window, its remaining ms }
]]
local COUNTER = KEYS[1]

local n = redis.call('INCR', COUNTER)
if n == 1 then redis.call('PEXPIRE', COUNTER, ARGV[1]) end
return { n, redis.call('PTTL', COUNTER) }
