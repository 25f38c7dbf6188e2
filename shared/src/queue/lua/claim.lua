--[[
  Claims for a worker: starts the id a blocking move put into its processing list, or takes up
  to k jobs from the queue.

  KEYS[1] jobs:processing:<worker>   the calling worker's processing list
  KEYS[2] jobs:queue
  KEYS[3] jobs:leases
  KEYS[4] jobs:status:queued
  KEYS[5] job:                        the job key prefix
  KEYS[6] jobs:events                 (channel)
  KEYS[7] metrics:jobs
  KEYS[8] events                      the event stream (GET /events)
  KEYS[9] dataset                     (read: the claim records carry it)

  ARGV[1] retention, ARGV[2] now (ISO)
  ARGV[3] worker id, ARGV[4] lease ms, ARGV[5] an id already in the list, or ''
  ARGV[6] k (when ARGV[5] is ''), ARGV[7] the call's token (unique to the call; its jobs share it)
  ARGV[8] hold ('1': the jobs may wait in the worker for a slot; see includes/take.lua HOLD)

  Reply: the started jobs' claim records (includes/constants.lua CLAIM_*, decoded by claim.ts)
]]
local PROC, QUEUE, LEASES, ST_QUEUED, JOB = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5]
local EVENTS, METRICS = KEYS[6], KEYS[7]
local STREAM, DATASET = KEYS[8], KEYS[9]
--- @include "take"

local function main()
  tokenBase = ARGV[7]
  HOLD = ARGV[8] == '1'
  local reply = {}
  if ARGV[5] ~= '' then
    start(ARGV[5], ARGV[3], tonumber(ARGV[4]), reply)
  else
    take(ARGV[3], tonumber(ARGV[4]), tonumber(ARGV[6]), reply)
  end
  return reply
end

local reply = main()
flush()
return reply
