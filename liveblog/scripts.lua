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

local function index_flags(pinned, key_events, id, json)
  -- Keep the blog's pinned updates and key events findable without reading every update.
  local doc = cjson.decode(json)
  if doc.pinned == true then redis.call('ZADD', pinned, score(id), id) else redis.call('ZREM', pinned, id) end
  if doc.key_event == true then
    redis.call('ZADD', key_events, score(id), id)
  else
    redis.call('ZREM', key_events, id)
  end
end

local function add_event(events, meta, maxlen, id, kind, data)
  -- Each event carries its number in the blog (n) and the blog's bytes of events up to and with
  -- it (b): how far behind the head a position is can then be told from one entry.
  local n = redis.call('HINCRBY', meta, 'seq', 1)
  local b = redis.call('HINCRBY', meta, 'bytes', #data)
  return redis.call('XADD', events, 'MAXLEN', '~', maxlen, id, 'type', kind, 'data', data, 'n', n, 'b', b)
end

local function erase(events, removed, trail, update_id)
  -- Take out of the stream every event that carried an update's text (its publication, its edits),
  -- so no replay serves it again; their IDs stay known positions in `removed` while the stream
  -- still reaches back to them.
  local ids = {update_id}
  local edits = redis.call('HGET', trail, update_id)
  if edits then
    for eid in string.gmatch(edits, '%S+') do table.insert(ids, eid) end
  end
  for _, eid in ipairs(ids) do
    if redis.call('XDEL', events, eid) == 1 then redis.call('ZADD', removed, score(eid), eid) end
  end
  local first = redis.call('XRANGE', events, '-', '+', 'COUNT', 1)[1]
  if first then redis.call('ZREMRANGEBYSCORE', removed, '-inf', '(' .. score(first[1])) end
end

local function append_update(events, updates, order, meta, pinned, key_events, prefix, rest, maxlen, now)
  -- Publish one update: its ID is the stream ID of its `update.published` event.
  local id = next_id(events)
  local json = '{"id":"' .. id .. '","url":"' .. prefix .. id .. '","published_at":"' .. now ..
    '","updated_at":"' .. now .. '",' .. string.sub(rest, 2)
  add_event(events, meta, maxlen, id, 'update.published', json)
  redis.call('HSET', updates, id, json)
  redis.call('ZADD', order, score(id), id)
  index_flags(pinned, key_events, id, rest)
  redis.call('HSET', meta, 'last_event_id', id, 'updated_at', now)
  return id, json
end

--! publish
-- KEYS: events, updates, order, meta, idempotency, pinned, key events, drafts, published by
-- ARGV: url prefix, update JSON without id, url and times, maxlen, fingerprint ('' = no key), ttl, now,
-- then the draft it publishes ('' = none), that draft's JSON as it was read, the publisher's name
if redis.call('EXISTS', KEYS[4]) == 0 then return {'missing'} end
if ARGV[4] ~= '' then
  local prior = redis.call('HMGET', KEYS[5], 'fp', 'id')
  if prior[1] then
    -- A write (of the same value), so that a WAIT after this retry covers the first attempt's
    -- write too: WAIT waits for the replication offset of its connection's latest write.
    redis.call('HSET', KEYS[5], 'fp', prior[1])
    -- The update as it is now: the key keeps only its ID, so an edit's earlier text or a deleted
    -- update's text is never answered again.
    local current = redis.call('HGET', KEYS[2], prior[2])
    if not current then return {'deleted', prior[1]} end
    return {'duplicate', prior[1], current}
  end
end
-- An ended blog refuses, checked here so no publish slips in after the end; a retry of one
-- published before it (above) still gets its first answer.
if redis.call('HGET', KEYS[4], 'status') == 'ended' then return {'ended'} end
if ARGV[7] ~= '' then
  -- A draft leaves the desk in the step that publishes it: never lost, never published twice.
  local current = redis.call('HGET', KEYS[8], ARGV[7])
  if not current then return {'draft-gone'} end
  if current ~= ARGV[8] then return {'draft-changed'} end
  redis.call('HDEL', KEYS[8], ARGV[7])
end
local id, json = append_update(KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[6], KEYS[7], ARGV[1], ARGV[2], ARGV[3], ARGV[6])
if ARGV[7] ~= '' then redis.call('HSET', KEYS[9], id, ARGV[9]) end
if ARGV[4] ~= '' then
  redis.call('HSET', KEYS[5], 'fp', ARGV[4], 'id', id)
  redis.call('EXPIRE', KEYS[5], ARGV[5])
end
return {'ok', id, json}

--! schedule
-- KEYS: meta, scheduled, pending, idempotency
-- ARGV: schedule id, due (ms), update JSON without id, url and times, fingerprint, ttl, response JSON
if redis.call('EXISTS', KEYS[1]) == 0 then return {'missing'} end
if ARGV[4] ~= '' then
  local prior = redis.call('HMGET', KEYS[4], 'fp', 'response')
  if prior[1] then
    redis.call('HSET', KEYS[4], 'fp', prior[1])  -- for WAIT, as in `publish`
    return {'duplicate', prior[1], prior[2]}
  end
end
if redis.call('HGET', KEYS[1], 'status') == 'ended' then return {'ended'} end
redis.call('ZADD', KEYS[2], ARGV[2], ARGV[1])
redis.call('HSET', KEYS[3], ARGV[1], ARGV[3])
if ARGV[4] ~= '' then
  redis.call('HSET', KEYS[4], 'fp', ARGV[4], 'response', ARGV[6])
  redis.call('EXPIRE', KEYS[4], ARGV[5])
end
return {'ok'}

--! publish_due
-- KEYS: events, updates, order, meta, scheduled, pending, pinned, key events
-- ARGV: now (ms), now (RFC 3339), maxlen, url prefix
-- Each due update is taken off the schedule and published in the same step: once, whoever runs it.
-- An ended blog keeps its due updates scheduled: they are published once it is reopened.
if redis.call('HGET', KEYS[4], 'status') == 'ended' then return {redis.call('ZCARD', KEYS[5]), {}} end
local due = redis.call('ZRANGEBYSCORE', KEYS[5], '-inf', ARGV[1], 'LIMIT', 0, 100)
local published = {}
for _, sid in ipairs(due) do
  local rest = redis.call('HGET', KEYS[6], sid)
  redis.call('ZREM', KEYS[5], sid)
  redis.call('HDEL', KEYS[6], sid)
  if rest and redis.call('EXISTS', KEYS[4]) == 1 then
    local id = append_update(KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[7], KEYS[8], ARGV[4], rest, ARGV[3], ARGV[2])
    table.insert(published, id)
  end
end
return {redis.call('ZCARD', KEYS[5]), published}

--! scheduled
-- KEYS: scheduled, pending; ARGV: how many at most
-- The blog's scheduled updates, soonest first: {id, due (ms), update JSON, id, due, JSON, ...}.
local ids = redis.call('ZRANGE', KEYS[1], 0, tonumber(ARGV[1]) - 1, 'WITHSCORES')
local out = {}
for i = 1, #ids, 2 do
  local rest = redis.call('HGET', KEYS[2], ids[i])
  if rest then
    table.insert(out, ids[i])
    table.insert(out, ids[i + 1])
    table.insert(out, rest)
  end
end
return out

--! next_due
-- KEYS: meta, scheduled
-- When the soonest scheduled update falls due (ms); nil when there is none, or the blog has ended.
if redis.call('HGET', KEYS[1], 'status') == 'ended' then return nil end
local soonest = redis.call('ZRANGE', KEYS[2], 0, 0, 'WITHSCORES')
return soonest[2]

--! cancel_scheduled
-- KEYS: scheduled, pending; ARGV: schedule id
-- Takes the update off the schedule and forgets it in the same step; 0 when it is not (or no
-- longer) scheduled: published meanwhile, or cancelled already.
local removed = redis.call('ZREM', KEYS[1], ARGV[1])
redis.call('HDEL', KEYS[2], ARGV[1])
return removed

--! edit_scheduled
-- KEYS: scheduled, pending; ARGV: schedule id, due (ms), update JSON without id, url and times
-- Changes a scheduled update's text and time; 0 when it is not (or no longer) scheduled.
if not redis.call('ZSCORE', KEYS[1], ARGV[1]) then return 0 end
redis.call('ZADD', KEYS[1], 'XX', ARGV[2], ARGV[1])
redis.call('HSET', KEYS[2], ARGV[1], ARGV[3])
return 1

--! create_draft
-- KEYS: drafts, idempotency; ARGV: draft id, its JSON, the most drafts a desk holds, fingerprint
-- ('' = no key), ttl. {'ok'} saved; {'full'} the desk holds the most already; {'taken'} the ID is;
-- with a key used before: {'duplicate', fingerprint, the draft as it is now}, or {'gone', fingerprint}
-- once that draft was published or deleted (or the key was a publish's).
if ARGV[4] ~= '' then
  local prior = redis.call('HMGET', KEYS[2], 'fp', 'draft')
  if prior[1] then
    redis.call('HSET', KEYS[2], 'fp', prior[1])  -- a write, for WAIT (as in publish)
    local current = prior[2] and redis.call('HGET', KEYS[1], prior[2])
    if not current then return {'gone', prior[1]} end
    return {'duplicate', prior[1], current}
  end
end
if redis.call('HLEN', KEYS[1]) >= tonumber(ARGV[3]) then return {'full'} end
if redis.call('HSETNX', KEYS[1], ARGV[1], ARGV[2]) == 0 then return {'taken'} end
if ARGV[4] ~= '' then
  redis.call('HSET', KEYS[2], 'fp', ARGV[4], 'draft', ARGV[1])
  redis.call('EXPIRE', KEYS[2], ARGV[5])
end
return {'ok'}

--! replace_draft
-- KEYS: drafts; ARGV: draft id, its new JSON. 0 when the draft is gone (published or deleted).
if redis.call('HEXISTS', KEYS[1], ARGV[1]) == 0 then return 0 end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
return 1

--! edit
-- KEYS: events, updates, meta, pinned, key events, trail, removed, history
-- ARGV: update id, new JSON, maxlen, now, the editor ({"name", "kind"} JSON), versions kept
-- The update's earlier versions leave the stream in the same step, and the edit joins its history.
local function image_of(doc)
  local image = doc.image
  if type(image) ~= 'table' then return '' end
  return tostring(image.url) .. '\0' .. tostring(image.alt) .. '\0' .. tostring(image.caption)
end
local function record(history, old_json, new_json, by, now, kept)
  -- The update's edit history, newest first, the last `kept` edits: who, when, which fields
  -- changed, and the title and body they replaced (the fields only editors see: never served on
  -- a public path). Nothing changed, nothing recorded.
  local old, new = cjson.decode(old_json), cjson.decode(new_json)
  local entry, changed = {at = now, by = cjson.decode(by)}, {}
  for _, field in ipairs({'title', 'body', 'image', 'key_event', 'pinned'}) do
    local before, after = old[field], new[field]
    if field == 'image' then before, after = image_of(old), image_of(new) end
    if before ~= after then
      table.insert(changed, field)
      if field == 'title' or field == 'body' then entry[field] = before end
    end
  end
  if #changed == 0 then return end
  entry.changed = changed
  redis.call('LPUSH', history, cjson.encode(entry))
  redis.call('LTRIM', history, 0, tonumber(kept) - 1)
end
local old = redis.call('HGET', KEYS[2], ARGV[1])
if not old then return false end
record(KEYS[8], old, ARGV[2], ARGV[5], ARGV[4], ARGV[6])
redis.call('HSET', KEYS[2], ARGV[1], ARGV[2])
index_flags(KEYS[4], KEYS[5], ARGV[1], ARGV[2])
erase(KEYS[1], KEYS[7], KEYS[6], ARGV[1])
local eid = add_event(KEYS[1], KEYS[3], ARGV[3], '*', 'update.edited', ARGV[2])
redis.call('HSET', KEYS[6], ARGV[1], eid)
redis.call('HSET', KEYS[3], 'last_event_id', eid, 'updated_at', ARGV[4])
return eid

--! delete
-- KEYS: events, updates, order, meta, pinned, key events, trail, removed, history, published by
-- ARGV: update id, maxlen, now
-- Every event that carried the update's text leaves the stream in the same step, and its edit
-- history with the earlier texts.
if redis.call('HDEL', KEYS[2], ARGV[1]) == 0 then return false end
redis.call('DEL', KEYS[9])
redis.call('HDEL', KEYS[10], ARGV[1])
redis.call('ZREM', KEYS[3], ARGV[1])
redis.call('ZREM', KEYS[5], ARGV[1])
redis.call('ZREM', KEYS[6], ARGV[1])
erase(KEYS[1], KEYS[8], KEYS[7], ARGV[1])
redis.call('HDEL', KEYS[7], ARGV[1])
local data = '{"id":"' .. ARGV[1] .. '"}'
local eid = add_event(KEYS[1], KEYS[4], ARGV[2], '*', 'update.deleted', data)
redis.call('HSET', KEYS[4], 'last_event_id', eid, 'updated_at', ARGV[3])
return eid

--! create_blog
-- KEYS: meta; ARGV: field, value, ...
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
redis.call('HSET', KEYS[1], unpack(ARGV))
return 1

--! patch_blog
-- KEYS: events, meta; ARGV: maxlen, now, field, value, ...
-- `ended_at` is the time the blog was ended: set when it ends, kept while it stays ended.
if redis.call('EXISTS', KEYS[2]) == 0 then return false end
local was = redis.call('HGET', KEYS[2], 'status')
for i = 3, #ARGV, 2 do redis.call('HSET', KEYS[2], ARGV[i], ARGV[i + 1]) end
if redis.call('HGET', KEYS[2], 'status') ~= 'ended' then
  redis.call('HDEL', KEYS[2], 'ended_at')
elseif was ~= 'ended' then
  redis.call('HSET', KEYS[2], 'ended_at', ARGV[2])
end
redis.call('HSET', KEYS[2], 'updated_at', ARGV[2])
local flat = redis.call('HGETALL', KEYS[2])
local meta = {}
for i = 1, #flat, 2 do
  local field = flat[i]
  if field == 'cover' then  -- JSON in the hash ('' for none): an object or null in the event
    meta[field] = flat[i + 1] ~= '' and cjson.decode(flat[i + 1]) or cjson.null
  elseif field ~= 'last_event_id' and field ~= 'seq' and field ~= 'bytes' and field ~= 'flags_indexed' then
    meta[field] = flat[i + 1]
  end
end
local data = cjson.encode(meta)
local eid = add_event(KEYS[1], KEYS[2], ARGV[1], '*', 'blog.updated', data)
redis.call('HSET', KEYS[2], 'last_event_id', eid)
return {eid, data}

--! audience
-- KEYS: the blog's audience (sorted set: process id -> when its count expires, in ms), its counts
-- (hash: process id -> readers); ARGV: process id ('' to read only), its readers, lifetime (ms).
-- Records a process's readers of the blog until they expire (0 readers: forgets them), drops the
-- counts that expired (their process stopped reporting), and returns the sum; on Redis's clock.
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
if ARGV[1] ~= '' then
  if tonumber(ARGV[2]) > 0 then
    redis.call('ZADD', KEYS[1], now + tonumber(ARGV[3]), ARGV[1])
    redis.call('HSET', KEYS[2], ARGV[1], ARGV[2])
  else
    redis.call('ZREM', KEYS[1], ARGV[1])
    redis.call('HDEL', KEYS[2], ARGV[1])
  end
end
local expired = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now)
for _, process in ipairs(expired) do redis.call('HDEL', KEYS[2], process) end
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
local total = 0
for _, readers in ipairs(redis.call('HVALS', KEYS[2])) do total = total + tonumber(readers) end
local last = redis.call('ZRANGE', KEYS[1], -1, -1, 'WITHSCORES')
if last[2] then  -- both keys go with the last count: a blog nobody reads leaves nothing behind
  local ttl = math.max(1, tonumber(last[2]) - now)
  redis.call('PEXPIRE', KEYS[1], ttl)
  redis.call('PEXPIRE', KEYS[2], ttl)
end
return total

--! list_updates
-- KEYS: updates, order, meta, pinned, key events
-- ARGV: a score bound ('+inf', '-inf' or '(N'), limit, how many pinned updates and key events
-- (0: none), the direction ('desc': newest first, from the bound down; 'asc': oldest first, from
-- the bound up), '1' for key events only (read from their index, never by scanning the updates),
-- the bound where the page stops ('-inf' / '+inf': none; '(N': a range between two cursors).
-- Returns {last event ID, up to `limit` documents in that direction, pinned, key events, 1 when
-- the index holds updates on the bound's other side (before the page's first), 1 when more follow
-- the page's last (beyond the stop too)}.
local function docs(ids)
  if #ids == 0 then return {} end
  return redis.call('HMGET', KEYS[1], unpack(ids))
end
local index = KEYS[2]
if ARGV[5] == '1' then index = KEYS[5] end
local limit = tonumber(ARGV[2])
local stop = ARGV[6]
local ids, behind, beyond
if ARGV[4] == 'asc' then
  ids = redis.call('ZRANGEBYSCORE', index, ARGV[1], stop, 'LIMIT', 0, limit + 1)
  local edge = nil
  if ARGV[1] ~= '-inf' then edge = string.sub(ARGV[1], 2) end  -- '(N': N itself is behind
  if ids[1] then edge = '(' .. score(ids[1]) end
  behind = edge and redis.call('ZCOUNT', index, '-inf', edge) or 0
  local last = ARGV[1]
  if ids[1] then last = '(' .. score(ids[math.min(#ids, limit)]) end
  beyond = function() return redis.call('ZCOUNT', index, last, '+inf') end
else
  ids = redis.call('ZREVRANGEBYSCORE', index, ARGV[1], stop, 'LIMIT', 0, limit + 1)
  local edge = nil
  if ARGV[1] ~= '+inf' then edge = string.sub(ARGV[1], 2) end
  if ids[1] then edge = '(' .. score(ids[1]) end
  behind = edge and redis.call('ZCOUNT', index, edge, '+inf') or 0
  local last = ARGV[1]
  if ids[1] then last = '(' .. score(ids[math.min(#ids, limit)]) end
  beyond = function() return redis.call('ZCOUNT', index, '-inf', last) end
end
local more = 0
if #ids > limit then
  more = 1
  table.remove(ids)
elseif stop ~= '-inf' and stop ~= '+inf' and beyond() > 0 then
  more = 1
end
local flagged = tonumber(ARGV[3])
local pinned, key_events = {}, {}
if flagged > 0 then
  pinned = docs(redis.call('ZREVRANGE', KEYS[4], 0, flagged - 1))
  key_events = docs(redis.call('ZREVRANGE', KEYS[5], 0, flagged - 1))
end
local behind_flag = 0
if behind > 0 then behind_flag = 1 end
return {redis.call('HGET', KEYS[3], 'last_event_id') or '', docs(ids), pinned, key_events, behind_flag, more}

--! index_flags
-- KEYS: updates, pinned, key events, meta
-- Builds a blog's pinned and key-event indexes from its updates, once: for blogs made before the
-- publishing scripts kept them. `flags_indexed` in meta marks it done (create_blog sets it).
-- Returns 1 when it built them.
if redis.call('EXISTS', KEYS[4]) == 0 then return 0 end
if redis.call('HGET', KEYS[4], 'flags_indexed') == '1' then return 0 end
redis.call('DEL', KEYS[2], KEYS[3])
local cursor = '0'
repeat
  local found = redis.call('HSCAN', KEYS[1], cursor, 'COUNT', 1000)
  cursor = found[1]
  for i = 1, #found[2], 2 do index_flags(KEYS[2], KEYS[3], found[2][i], found[2][i + 1]) end
until cursor == '0'
redis.call('HSET', KEYS[4], 'flags_indexed', '1')
return 1

--! position
-- KEYS: events, removed, meta; ARGV: a stream ID ('' for the start of the stream)
-- Whether the position is a point of the stream (an entry, or one erased while the stream still
-- reaches back to it), and how many events and bytes of events follow it: {known, events, bytes},
-- -1 for the two counts when the events predate these counts. No entry's data leaves Redis.
local function key(id)
  local ms, seq = string.match(id, '^(%d+)-(%d+)$')
  return tonumber(ms), tonumber(seq)
end
local function before(a, b)
  local ams, aseq = key(a)
  local bms, bseq = key(b)
  return ams < bms or (ams == bms and aseq < bseq)
end
local first = redis.call('XRANGE', KEYS[1], '-', '+', 'COUNT', 1)[1]
local known, after = 1, first
if ARGV[1] ~= '' then
  local found = redis.call('XRANGE', KEYS[1], ARGV[1], '+', 'COUNT', 2)
  if found[1] and found[1][1] == ARGV[1] then
    after = found[2]
  else
    after = found[1]
    known = 0
    if first and not before(ARGV[1], first[1]) and redis.call('ZSCORE', KEYS[2], ARGV[1]) then known = 1 end
  end
end
if known == 0 or not after then return {known, 0, 0} end
local fields = {}
for i = 1, #after[2], 2 do fields[after[2][i]] = after[2][i + 1] end
local head = redis.call('HMGET', KEYS[3], 'seq', 'bytes')
if not (fields.n and fields.b and head[1] and head[2]) then return {1, -1, -1} end
return {1, tonumber(head[1]) - tonumber(fields.n) + 1, tonumber(head[2]) - tonumber(fields.b) + #fields.data}

--! patch_user
-- KEYS: users, the user's sessions; ARGV: name, "1" to end every session, patch JSON,
-- the password hash the record must still hold ("" for any).
-- Merges the patch into the user's record; 0 when there is no such user (or its password changed).
local raw = redis.call('HGET', KEYS[1], ARGV[1])
if not raw then return 0 end
local record = cjson.decode(raw)
if ARGV[4] ~= '' and record.password ~= ARGV[4] then return 0 end
for field, value in pairs(cjson.decode(ARGV[3])) do record[field] = value end
redis.call('HSET', KEYS[1], ARGV[1], cjson.encode(record))
if ARGV[2] == '1' then redis.call('DEL', KEYS[2]) end
return 1

--! login_attempt
-- KEYS: failure counters (the username's, the client address's); ARGV: window in seconds,
-- then each counter's limit. Counts this attempt BEFORE the password is checked, so parallel
-- guesses cannot all pass the check; refuses without counting when a counter is at its limit.
-- Returns {0, seconds until the lockout ends} or {1, the username's count, the address's count}.
for i, key in ipairs(KEYS) do
  local count = tonumber(redis.call('GET', key) or '0')
  if count >= tonumber(ARGV[i + 1]) then
    local ttl = redis.call('TTL', key)
    if ttl < 1 then ttl = tonumber(ARGV[1]) end
    return {0, ttl}
  end
end
local counts = {1}
for _, key in ipairs(KEYS) do
  local count = redis.call('INCR', key)
  if count == 1 then redis.call('EXPIRE', key, ARGV[1]) end
  counts[#counts + 1] = count
end
return counts

--! login_succeeded
-- KEYS: the username's and the client address's failure counters.
-- Forgets the username's failures, and takes this attempt back off the address's count.
redis.call('DEL', KEYS[1])
if tonumber(redis.call('GET', KEYS[2]) or '0') > 0 then redis.call('DECR', KEYS[2]) end
return 1

--! rate_limit
-- KEYS: the principal's one key (one key, so any Redis Cluster slot will do); ARGV: the emission
-- interval (microseconds between two writes at the steady rate), the burst (writes allowed at
-- once). GCRA, the token bucket kept as one number: the "theoretical arrival time" of the next
-- write, on Redis's clock, so the nodes' clocks do not matter. Returns 0 when the write may go
-- (and spends it), else the microseconds until it may.
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local interval = tonumber(ARGV[1])
local tat = tonumber(redis.call('GET', KEYS[1]) or '0')
if tat < now then tat = now end
local wait = tat + interval - tonumber(ARGV[2]) * interval - now
if wait > 0 then return wait end
redis.call('SET', KEYS[1], string.format('%d', tat + interval), 'PX', math.max(1, math.ceil((tat + interval - now) / 1000)))
return 0

--! desk_updates
-- KEYS: updates, order, meta
-- ARGV: before (a score bound: '+inf' or '(N'), page size, the folded query ('' for every
-- update), then for a query: most updates to read, most bytes of updates to read, and its fold
-- table (character, its folding, ...: folding.py).
-- The desk's page of a blog, newest first: the updates before `before`, or those of them whose
-- title or body holds the query (case-insensitively), reading at most that many updates and
-- bytes (at least one update). Returns {last event ID, the page's JSON documents, the last ID
-- read or '', 1 when older updates remain, the newer page: the ID it comes before, '+' for the
-- newest page or '' for none, how many updates were read}.
local size, needle = tonumber(ARGV[2]), ARGV[3]
local most, most_bytes = tonumber(ARGV[4]), tonumber(ARGV[5])
-- The characters to fold: those that begin with a lead byte of the table's (so the others, say
-- every Cyrillic letter for a Latin query, cost gsub no lookup).
local fold, leads = {}, {}
for i = 6, #ARGV, 2 do
  fold[ARGV[i]] = ARGV[i + 1]
  leads[string.sub(ARGV[i], 1, 1)] = true
end
local lead = ''
for byte in pairs(leads) do lead = lead .. byte end
local pattern = '[' .. lead .. '][\128-\191]*'
local function holds(text)
  if type(text) ~= 'string' then return false end
  text = string.lower(text)
  if lead ~= '' then text = string.gsub(text, pattern, fold) end
  return string.find(text, needle, 1, true) ~= nil
end
local found, read, bytes, first, last = {}, 0, 0, nil, nil
local bound = ARGV[1]
local searching = needle ~= ''
while #found < size and (not searching or (read < most and bytes < most_bytes)) do
  local want = size - #found
  if searching then want = math.min(100, most - read) end
  local ids = redis.call('ZREVRANGEBYSCORE', KEYS[2], bound, '-inf', 'LIMIT', 0, want)
  if #ids == 0 then break end
  for _, id in ipairs(ids) do
    local doc = redis.call('HGET', KEYS[1], id)  -- one by one: no document read beyond the bounds
    if doc and not searching then
      table.insert(found, doc)
    elseif doc then
      bytes = bytes + #doc
      local update = cjson.decode(doc)
      if holds(update.title) or holds(update.body) then table.insert(found, doc) end
    end
    first, last, read = first or id, id, read + 1
    if #found == size or (searching and bytes >= most_bytes) then break end
  end
  bound = '(' .. score(last)
end
local older = 0
if last and redis.call('ZCOUNT', KEYS[2], '-inf', '(' .. score(last)) > 0 then older = 1 end
local newer = nil
if ARGV[1] ~= '+inf' then
  local above = string.sub(ARGV[1], 2)  -- the updates at or after `before`, or after the first read
  if first then above = '(' .. score(first) end
  if not searching then newer = redis.call('ZRANGEBYSCORE', KEYS[2], above, '+inf', 'LIMIT', size, 1)[1] end
  if not newer and redis.call('ZCOUNT', KEYS[2], above, '+inf') > 0 then newer = '+' end
end
return {redis.call('HGET', KEYS[3], 'last_event_id') or '', found, last or '', older, newer or '', read}
