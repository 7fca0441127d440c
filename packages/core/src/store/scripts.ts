/**
 * Lua scripts registered with iovalkey `defineCommand`, which sends EVALSHA and falls back to EVAL on NOSCRIPT.
 * Every script touches one key, so it is cluster-safe. Empty-string TTL arguments mean "no expiry". Lua strings are
 * binary-safe, so Buffer arguments compare byte for byte.
 */
export const SCRIPTS = {
  /**
   * ARGV: by, ttlMs|''. TTL only when this call created the key. Answers the stored text: INCRBY's reply is a
   * double in Lua, and returned as an integer reply it overflows near the int64 bounds.
   */
  ksIncr: {
    numberOfKeys: 1,
    lua: `local existed = redis.call('EXISTS', KEYS[1])
redis.call('INCRBY', KEYS[1], ARGV[1])
if existed == 0 and ARGV[2] ~= '' then redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
return redis.call('GET', KEYS[1])`,
  },
  /** ARGV: expectAbsent('1'|'0'), expected, value, ttlMs|''. */
  ksCas: {
    numberOfKeys: 1,
    lua: `local cur = redis.call('GET', KEYS[1])
if ARGV[1] == '1' then
  if cur then return 0 end
elseif cur ~= ARGV[2] then
  return 0
end
if ARGV[4] ~= '' then redis.call('SET', KEYS[1], ARGV[3], 'PX', ARGV[4]) else redis.call('SET', KEYS[1], ARGV[3]) end
return 1`,
  },
  /** ARGV: expected. */
  ksCad: {
    numberOfKeys: 1,
    lua: `if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0`,
  },
  /** PERSIST that reports existence (PERSIST itself answers 0 for an existing key without TTL). */
  ksPersist: {
    numberOfKeys: 1,
    lua: `if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
redis.call('PERSIST', KEYS[1])
return 1`,
  },
  /**
   * ARGV: ttlMs|'', candidate. Stores the candidate when absent, otherwise extends the TTL without ever shortening
   * it (PTTL check instead of PEXPIRE GT so pre-7.0 servers work too). One key per call, so a call never spans
   * slots; the calls of one read are still written together per node.
   */
  ksEnsure: {
    numberOfKeys: 1,
    lua: `local key = KEYS[1]
local ttl = ARGV[1]
local cur = redis.call('GET', key)
if cur then
  if ttl == '' then
    redis.call('PERSIST', key)
  else
    local left = redis.call('PTTL', key)
    if left >= 0 and left < tonumber(ttl) then redis.call('PEXPIRE', key, ttl) end
  end
  return cur
end
if ttl == '' then redis.call('SET', key, ARGV[2]) else redis.call('SET', key, ARGV[2], 'PX', ttl) end
return ARGV[2]`,
  },
  /**
   * GET through EVALSHA: iovalkey routes scripts to masters even with `scaleReads: 'slave'`, and tag epochs must
   * come from the primary — a lagging replica could hand back an old epoch and resurrect invalidated entries.
   */
  ksGetPrimary: {
    numberOfKeys: 1,
    lua: `return redis.call('GET', KEYS[1])`,
  },
} as const

export type ScriptName = keyof typeof SCRIPTS
