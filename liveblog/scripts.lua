-- Lua scripts of the store, one section per script, split on the "--!" lines.
-- Every write appends its event to the blog's stream and changes the current
-- state in the same step, so the log and the state never disagree.

--! common
local function next_id(stream)
  -- The ID XADD '*' would choose, computed first so the update's JSON can carry it.
  local now = redis.call('TIME')
  local ms = tonumber(now[1]) * 1000 + math.floor(tonumber(now[2]) / 1000)
  local seq = 0
  if redis.call('EXISTS', stream) == 1 then
    local info = redis.call('XINFO', 'STREAM', stream)
    for i = 1, #info, 2 do
      if info[i] == 'last-generated-id' then
        local lms, lseq = string.match(info[i + 1], '^(%d+)-(%d+)$')
        lms = tonumber(lms)
        if lms >= ms then
          ms = lms
          seq = tonumber(lseq) + 1
        end
      end
    end
  end
  return string.format('%d-%d', ms, seq)
end

local function score(id)
  local ms, seq = string.match(id, '^(%d+)-(%d+)$')
  return tonumber(ms) * 1000 + tonumber(seq)
end

--! publish
-- KEYS: events, updates, order, meta, idempotency
-- ARGV: url prefix, update JSON without id and url, maxlen, fingerprint ('' = no key), ttl, now
if redis.call('EXISTS', KEYS[4]) == 0 then return {'missing'} end
if ARGV[4] ~= '' then
  local prior = redis.call('HMGET', KEYS[5], 'fp', 'response')
  if prior[1] then return {'duplicate', prior[1], prior[2]} end
end
local id = next_id(KEYS[1])
local json = '{"id":"' .. id .. '","url":"' .. ARGV[1] .. id .. '",' .. string.sub(ARGV[2], 2)
redis.call('XADD', KEYS[1], 'MAXLEN', '~', ARGV[3], id, 'type', 'update.published', 'data', json)
redis.call('HSET', KEYS[2], id, json)
redis.call('ZADD', KEYS[3], score(id), id)
redis.call('HSET', KEYS[4], 'last_event_id', id, 'updated_at', ARGV[6])
if ARGV[4] ~= '' then
  redis.call('HSET', KEYS[5], 'fp', ARGV[4], 'response', json)
  redis.call('EXPIRE', KEYS[5], ARGV[5])
end
return {'ok', id, json}

--! edit
-- KEYS: events, updates, meta; ARGV: update id, new JSON, maxlen, now
if redis.call('HEXISTS', KEYS[2], ARGV[1]) == 0 then return false end
redis.call('HSET', KEYS[2], ARGV[1], ARGV[2])
local eid = redis.call('XADD', KEYS[1], 'MAXLEN', '~', ARGV[3], '*', 'type', 'update.edited', 'data', ARGV[2])
redis.call('HSET', KEYS[3], 'last_event_id', eid, 'updated_at', ARGV[4])
return eid

--! delete
-- KEYS: events, updates, order, meta; ARGV: update id, maxlen, now
if redis.call('HDEL', KEYS[2], ARGV[1]) == 0 then return false end
redis.call('ZREM', KEYS[3], ARGV[1])
local data = '{"id":"' .. ARGV[1] .. '"}'
local eid = redis.call('XADD', KEYS[1], 'MAXLEN', '~', ARGV[2], '*', 'type', 'update.deleted', 'data', data)
redis.call('HSET', KEYS[4], 'last_event_id', eid, 'updated_at', ARGV[3])
return eid

--! create_blog
-- KEYS: meta; ARGV: field, value, ...
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
redis.call('HSET', KEYS[1], unpack(ARGV))
return 1

--! patch_blog
-- KEYS: events, meta; ARGV: maxlen, now, field, value, ...
if redis.call('EXISTS', KEYS[2]) == 0 then return false end
for i = 3, #ARGV, 2 do redis.call('HSET', KEYS[2], ARGV[i], ARGV[i + 1]) end
redis.call('HSET', KEYS[2], 'updated_at', ARGV[2])
local flat = redis.call('HGETALL', KEYS[2])
local meta = {}
for i = 1, #flat, 2 do
  if flat[i] ~= 'last_event_id' then meta[flat[i]] = flat[i + 1] end
end
local data = cjson.encode(meta)
local eid = redis.call('XADD', KEYS[1], 'MAXLEN', '~', ARGV[1], '*', 'type', 'blog.updated', 'data', data)
redis.call('HSET', KEYS[2], 'last_event_id', eid)
return {eid, data}

--! list_updates
-- KEYS: updates, order, meta; ARGV: before score ('+inf' or '(N'), limit
local ids = redis.call('ZREVRANGEBYSCORE', KEYS[2], ARGV[1], '-inf', 'LIMIT', 0, tonumber(ARGV[2]))
local docs = {}
if #ids > 0 then docs = redis.call('HMGET', KEYS[1], unpack(ids)) end
return {redis.call('HGET', KEYS[3], 'last_event_id') or '', docs}
