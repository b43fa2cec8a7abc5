/**
 * The Lua scripts that make `RedisRegistry`'s multi-step operations atomic on the server:
 * claim/refresh (compare-and-set on the owner), release (compare-and-delete), VOD
 * announce (latest wins) and withdraw (compare-and-delete), and the
 * stream-config writes that keep `streamcfg:` and `key:` consistent. Each runs by EVALSHA
 * and falls back to EVAL once when the server does not know it yet (e.g. after a restart).
 */
import { digestHex } from "@cascade/common/secrets";
import type { RedisClient } from "./redis_client.ts";

export class LuaScript {
  readonly source: string;
  #sha: Promise<string> | undefined;

  constructor(source: string) {
    this.source = source;
  }

  /** The SHA-1 EVALSHA names the script by, computed on first use. */
  sha(): Promise<string> {
    return this.#sha ??= digestHex("SHA-1", this.source);
  }

  async run(client: RedisClient, keys: string[], args: (string | number)[]): Promise<unknown> {
    try {
      return await client.call("EVALSHA", await this.sha(), keys.length, ...keys, ...args);
    } catch (err) {
      if (!(err instanceof Error && err.message.startsWith("NOSCRIPT"))) throw err;
      return await client.call("EVAL", this.source, keys.length, ...keys, ...args);
    }
  }
}

/** The owner of a stored stream record, or nil when the value is not one of ours. */
const OWNER_OF = `
local function owner_of(value)
  local ok, rec = pcall(cjson.decode, value)
  if ok and type(rec) == 'table' and type(rec.originId) == 'string' then
    return rec.originId
  end
  return nil
end
`;

/**
 * `stream.up`, `stream.down` and `stream.kick` go to every stream's listeners and to the
 * stream's own; `stream.update`, once per playlist, to the stream's own only.
 */
const PUBLISH_BOTH = `
local function publish_both(global_channel, stream_channel, message)
  redis.call('PUBLISH', global_channel, message)
  redis.call('PUBLISH', stream_channel, message)
end
`;

/**
 * KEYS[1] stream key. ARGV: record JSON, originId, ttl ms, events channel, stream.up
 * event JSON, mode ("claim" creates when absent, "refresh" does not), stream.update event
 * JSON, the record's updatedAt (published when it differs from the stored one), the
 * stream's own events channel, and for a takeover the owner and updatedAt of the claim it
 * replaces (both "" otherwise).
 * Returns {1, "created"|"updated"} or {0, current value or ""}.
 */
export const CLAIM = new LuaScript(`${OWNER_OF}${PUBLISH_BOTH}
local current = redis.call('GET', KEYS[1])
if current then
  local owner = owner_of(current)
  if owner ~= nil and owner ~= ARGV[2] then
    local ok, rec = pcall(cjson.decode, current)
    if ARGV[10] ~= '' and owner == ARGV[10] and ok and rec.updatedAt == tonumber(ARGV[11]) then
      redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[3])
      publish_both(ARGV[4], ARGV[9], ARGV[5])
      return {1, 'created'}
    end
    return {0, current}
  end
  -- Owned by us, or an unreadable value that nobody can own: take it.
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[3])
  if owner == nil then
    publish_both(ARGV[4], ARGV[9], ARGV[5])
    return {1, 'created'}
  end
  local ok, rec = pcall(cjson.decode, current)
  if not ok or type(rec) ~= 'table' or rec.updatedAt ~= tonumber(ARGV[8]) then
    redis.call('PUBLISH', ARGV[9], ARGV[7])
  end
  return {1, 'updated'}
end
if ARGV[6] ~= 'claim' then
  return {0, ''}
end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[3])
publish_both(ARGV[4], ARGV[9], ARGV[5])
return {1, 'created'}
`);

/**
 * KEYS[1] stream key. ARGV: originId, events channel, stream.down event JSON, the
 * stream's own events channel.
 * Returns 1 when released, 0 when absent or owned by someone else.
 */
export const RELEASE = new LuaScript(`${OWNER_OF}${PUBLISH_BOTH}
local current = redis.call('GET', KEYS[1])
if not current or owner_of(current) ~= ARGV[1] then
  return 0
end
redis.call('DEL', KEYS[1])
publish_both(ARGV[2], ARGV[4], ARGV[3])
return 1
`);

/**
 * KEYS[1] vod key. ARGV: record JSON, originId, updatedAt, ttl ms.
 * Returns 1 when written, 0 when another origin's record is at least as recent.
 */
export const ANNOUNCE_VOD = new LuaScript(`
local current = redis.call('GET', KEYS[1])
if current then
  local ok, rec = pcall(cjson.decode, current)
  if ok and type(rec) == 'table' and type(rec.originId) == 'string'
    and rec.originId ~= ARGV[2] and type(rec.updatedAt) == 'number'
    and rec.updatedAt >= tonumber(ARGV[3]) then
    return 0
  end
end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[4])
return 1
`);

/**
 * KEYS[1] vod key. ARGV: originId.
 * Returns 1 when deleted, 0 when absent or written by another origin.
 */
export const WITHDRAW_VOD = new LuaScript(`${OWNER_OF}
local current = redis.call('GET', KEYS[1])
if not current or owner_of(current) ~= ARGV[1] then
  return 0
end
redis.call('DEL', KEYS[1])
return 1
`);

/**
 * KEYS[1] streamcfg key, KEYS[2] key lookup for the new hash. ARGV: name, keyHash,
 * createdAt, disabled, record, onlyIfAbsent ("1"), prefix of key lookups, transcode profile
 * ("" → unset). The old
 * lookup's key is derived here because it is only known once the hash is read; that is
 * fine on a single Redis, which is what Cascade uses.
 * Returns "ok", "exists" or "key-in-use".
 */
export const PUT_CONFIG = new LuaScript(`
if ARGV[6] == '1' and redis.call('EXISTS', KEYS[1]) == 1 then
  return 'exists'
end
local holder = redis.call('GET', KEYS[2])
if holder and holder ~= ARGV[1] then
  return 'key-in-use'
end
local old = redis.call('HGET', KEYS[1], 'keyHash')
if old and old ~= ARGV[2] then
  local old_key = ARGV[7] .. old
  if redis.call('GET', old_key) == ARGV[1] then
    redis.call('DEL', old_key)
  end
end
redis.call('HSET', KEYS[1], 'keyHash', ARGV[2], 'createdAt', ARGV[3], 'disabled', ARGV[4], 'record', ARGV[5])
if ARGV[8] == '' then
  redis.call('HDEL', KEYS[1], 'transcode')
else
  redis.call('HSET', KEYS[1], 'transcode', ARGV[8])
end
redis.call('SET', KEYS[2], ARGV[1])
return 'ok'
`);

/**
 * KEYS[1] streamcfg key. ARGV: name, prefix of key lookups.
 * Returns 1 when deleted, 0 when absent.
 */
export const DELETE_CONFIG = new LuaScript(`
local old = redis.call('HGET', KEYS[1], 'keyHash')
if redis.call('DEL', KEYS[1]) == 0 then
  return 0
end
if old then
  local old_key = ARGV[2] .. old
  if redis.call('GET', old_key) == ARGV[1] then
    redis.call('DEL', old_key)
  end
end
return 1
`);
