--[[
  Moves a job between the status indexes. Running jobs are indexed by their lease (LEASES), the
  other statuses by a zset each. Needs ST_QUEUED, ST_FINISHED, ST_FAILED, ST_CANCELLED.
]]
--- @include "batch"

local STATUS = { queued = ST_QUEUED, finished = ST_FINISHED, failed = ST_FAILED, cancelled = ST_CANCELLED }

local function index(j, to)
  if j.status ~= 'running' then zrem(STATUS[j.status], j.id) end
  if to ~= 'running' then zadd(STATUS[to], j.seq, j.id) end
end
