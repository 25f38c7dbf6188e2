--[[
  The two ARGV every queue script starts with. ARGV[1]: the retention, `<ttl> <age> <keep>` (the
  TTL ended jobs' keys get, the age in seconds and the count of ended jobs past which they are
  pruned; 0 for none). ARGV[2]: the caller's clock (ISO) for the `*_at` fields.
]]
local TTL, AGE, KEEP = string.match(ARGV[1], '^(%d+) (%d+) (%d+)$')
TTL, AGE, KEEP = tonumber(TTL), tonumber(AGE), tonumber(KEEP)
local NOW_ISO = ARGV[2]
