--[[
  Retention on its own (recovery passes run it, so that what expired does not linger while no
  job settles). Also moves what an older version left in the ended zset into the list, newest
  first, so that the list stays in the order jobs ended.

  KEYS[1]  jobs:ended:log
  KEYS[2]  jobs:dedup
  KEYS[3]  jobs:all
  KEYS[4]  jobs:status:finished
  KEYS[5]  jobs:status:failed
  KEYS[6]  jobs:status:cancelled
  KEYS[7]  job:         key prefixes: job:<id>, result:<id>, chart:<id>:<format>
  KEYS[8]  result:
  KEYS[9]  chart:
  KEYS[10] jobs:ended   the zset older versions kept

  ARGV[1] retention, ARGV[2] now (unused), ARGV[3] how many at most

  Reply: how many went
]]
local ENDED, DEDUP, ALL, ST_FINISHED, ST_FAILED = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5]
local ST_CANCELLED, JOB, RESULT, CHART = KEYS[6], KEYS[7], KEYS[8], KEYS[9]
local ENDED_LEGACY = KEYS[10]
--- @include "prune"

local limit = tonumber(ARGV[3])
local old = redis.call('ZRANGE', ENDED_LEGACY, -limit, -1, 'WITHSCORES')
if #old > 0 then
  local entries, members = {}, {}
  for i = #old - 1, 1, -2 do
    entries[#entries + 1] = old[i + 1] .. ':' .. old[i]
    members[#members + 1] = old[i]
  end
  redis.call('LPUSH', ENDED, unpack(entries))
  redis.call('ZREM', ENDED_LEGACY, unpack(members))
end
return prune(limit, 0)
