--[[
  The named fields of a job (missing ones are false) in one read. Needs JOB (the job key prefix).
]]
local function load(id, ...)
  local names = { ... }
  local v = redis.call('HMGET', JOB .. id, ...)
  local j = { id = id }
  for i, name in ipairs(names) do j[name] = v[i] end
  return j
end
