--[[
  The Redis server's clock in ms, read once per script: deadlines (leases, heartbeats, backoff)
  use it, so workers on machines with skewed clocks agree on when a lease has expired.
  nowText() is the same as a string, made once: Lua turns a number into text with
  sprintf("%.14g"), about 0.4 us each, and a job used the time as text several times.
]]
local now_ms, now_text
local function now()
  if not now_ms then
    local t = redis.call('TIME')
    now_ms = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
  end
  return now_ms
end
local function nowText()
  now_text = now_text or tostring(now())
  return now_text
end
