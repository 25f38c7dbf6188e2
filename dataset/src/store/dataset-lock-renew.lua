--[[
  Extends the dataset load lock if this load still holds it.

  KEYS[1] dataset:lock
  ARGV[1] the holder's token, ARGV[2] the new TTL in ms

  Reply: 1 renewed, 0 not held (the load lost its lock)
]]
local LOCK = KEYS[1]

if redis.call('GET', LOCK) == ARGV[1] then return redis.call('PEXPIRE', LOCK, ARGV[2]) else return 0 end
