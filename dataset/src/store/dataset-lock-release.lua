--[[
  Releases the dataset load lock if this load still holds it.

  KEYS[1] dataset:lock
  ARGV[1] the holder's token

  Reply: 1 released, 0 not held (expired or taken by another load)
]]
local LOCK = KEYS[1]

if redis.call('GET', LOCK) == ARGV[1] then return redis.call('DEL', LOCK) else return 0 end
