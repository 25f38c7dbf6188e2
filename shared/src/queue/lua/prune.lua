--[[
  Retention on its own (recovery passes run it, so that what expired does not linger while no
  job settles).

  KEYS[1] jobs:ended
  KEYS[2] jobs:dedup
  KEYS[3] jobs:all
  KEYS[4] jobs:status:finished
  KEYS[5] jobs:status:failed
  KEYS[6] jobs:status:cancelled
  KEYS[7] job:         key prefixes: job:<id>, result:<id>, chart:<id>:<format>
  KEYS[8] result:
  KEYS[9] chart:

  ARGV[1] retention, ARGV[2] now (unused), ARGV[3] how many at most

  Reply: how many went
]]
local ENDED, DEDUP, ALL, ST_FINISHED, ST_FAILED, ST_CANCELLED, JOB, RESULT, CHART = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5], KEYS[6], KEYS[7], KEYS[8], KEYS[9]
--- @include "prune"

return prune(tonumber(ARGV[3]), 0)
