/**
 * The names of `RedisRegistry`'s keys and events channel under one prefix, after the Redis
 * schema in docs/architecture.md: `stream:{name}`, `vod:{name}`, `node:{kind}:{id}`,
 * `streamcfg:{name}`, `key:{keyHash}`, and the channels `events` (every stream's lifecycle) and
 * `events:{name}` (everything about one stream).
 */
import type { NodeKind } from "./types.ts";

/** Key names of the Redis schema in docs/architecture.md ("Registry") under one prefix. */
export class RedisKeys {
  readonly prefix: string;
  readonly events: string;

  constructor(prefix: string) {
    this.prefix = prefix;
    this.events = `${prefix}events`;
  }

  /** The channel of one stream's events; names never contain `:`, so it is unambiguous. */
  streamEvents(name: string): string {
    return `${this.events}:${name}`;
  }

  stream(name: string): string {
    return `${this.prefix}stream:${name}`;
  }

  vod(name: string): string {
    return `${this.prefix}vod:${name}`;
  }

  node(kind: NodeKind, id: string): string {
    return `${this.prefix}node:${kind}:${id}`;
  }

  config(name: string): string {
    return `${this.prefix}streamcfg:${name}`;
  }

  key(keyHash: string): string {
    return `${this.prefix}key:${keyHash}`;
  }

  /** A SCAN MATCH pattern for keys starting with `prefix + rest`, the prefix taken literally. */
  match(rest: string): string {
    return `${this.prefix.replace(/[*?[\]\\]/g, "\\$&")}${rest}*`;
  }
}
