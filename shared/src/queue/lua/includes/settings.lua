--[[
  The two ARGV every queue script starts with. ARGV[1]: the retention, `<ttl> <age> <keep>
  <maxlen>` (the TTL ended jobs' keys get, the age in seconds and the count of ended jobs past
  which they are pruned, 0 for none; the event stream's approximate length). ARGV[2]: the
  caller's clock (ISO) for the `*_at` fields.
]]
local TTL, AGE, KEEP, MAXLEN = string.match(ARGV[1], '^(%d+) (%d+) (%d+) (%d+)$')
TTL, AGE, KEEP, MAXLEN = tonumber(TTL), tonumber(AGE), tonumber(KEEP), tonumber(MAXLEN)
local NOW_ISO = ARGV[2]
