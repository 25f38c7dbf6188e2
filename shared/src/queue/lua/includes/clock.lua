--[[
  The Redis server's clock in ms, read once per script: deadlines (leases, heartbeats, backoff)
  use it, so workers on machines with skewed clocks agree on when a lease has expired.
]]
local now_ms
local function now()
  if not now_ms then
    local t = redis.call('TIME')
    now_ms = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
  end
  return now_ms
end
