package greylist

import "github.com/redis/go-redis/v9"

// redisCheckScript is the whole check, atomic and in one round trip.
//
// KEYS[1] is the triplet hash: first (first seen), pass (first passed,
// absent until then), exp (when it expires). KEYS[2] is the client key's
// auto-whitelist hash: n (triplets passed), exp. Both share a hash slot.
// ARGV: now, delay, window, pass TTL, AWL TTL (milliseconds), AWL count.
// now 0 takes the server's TIME, so that MX hosts need no synchronized
// clocks; with an effect-replicated script (Redis >= 5) TIME is allowed
// before writes.
//
// The exp fields repeat the key TTLs so that expiry follows the clock the
// script was given: the same decisions as the memory store under a test
// clock, and no resurrection of an entry whose key TTL is still running.
//
// The reply is {allowed 0/1, wait ms, reason}.
const redisCheckScript = `
local now = tonumber(ARGV[1])
if now == 0 then
  local t = redis.call('TIME')
  now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end
local delay, window, passttl = tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4])
local awlttl, awlafter = tonumber(ARGV[5]), tonumber(ARGV[6])
local function ms(x) return string.format('%d', x) end

local a = redis.call('HMGET', KEYS[2], 'n', 'exp')
local n, aexp = tonumber(a[1]) or 0, tonumber(a[2]) or 0
if now >= aexp then n = 0 end
if n >= awlafter then
  redis.call('HSET', KEYS[2], 'exp', ms(now + awlttl))
  redis.call('PEXPIRE', KEYS[2], awlttl)
  return {1, 0, 'awl'}
end

local t = redis.call('HMGET', KEYS[1], 'first', 'pass', 'exp')
local first, pass, texp = tonumber(t[1]), tonumber(t[2]), tonumber(t[3]) or 0
if now >= texp then first = nil; pass = nil end
if not first then
  redis.call('DEL', KEYS[1])
  redis.call('HSET', KEYS[1], 'first', ms(now), 'exp', ms(now + window))
  redis.call('PEXPIRE', KEYS[1], window)
  return {0, delay, 'new'}
end
if not pass then
  local age = math.max(now - first, 0)
  if age < delay then return {0, delay - age, 'early'} end
  redis.call('HSET', KEYS[1], 'pass', ms(now))
  redis.call('HSET', KEYS[2], 'n', n + 1, 'exp', ms(now + awlttl))
  redis.call('PEXPIRE', KEYS[2], awlttl)
end
redis.call('HSET', KEYS[1], 'exp', ms(now + passttl))
redis.call('PEXPIRE', KEYS[1], passttl)
return {1, 0, 'pass'}
`

// redisReleaseScript marks a triplet passed (KEYS[1]); ARGV: now (0 =
// server TIME), pass TTL. The first-seen time is kept when there is one.
const redisReleaseScript = `
local now = tonumber(ARGV[1])
if now == 0 then
  local t = redis.call('TIME')
  now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end
local passttl = tonumber(ARGV[2])
local fmt = function(x) return string.format('%d', x) end
local t = redis.call('HMGET', KEYS[1], 'first', 'pass', 'exp')
local first, pass, texp = tonumber(t[1]), tonumber(t[2]), tonumber(t[3]) or 0
if now >= texp then first = nil; pass = nil end
redis.call('DEL', KEYS[1])
redis.call('HSET', KEYS[1], 'first', fmt(first or now), 'pass', fmt(pass or now), 'exp', fmt(now + passttl))
redis.call('PEXPIRE', KEYS[1], passttl)
return 1
`

// Scripts are immutable and safe for concurrent use; NewScript only
// computes the SHA1 that EVALSHA sends.
func newScripts() (check, release *redis.Script) {
	return redis.NewScript(redisCheckScript), redis.NewScript(redisReleaseScript)
}
