/**
 * Structured logging: one line per event, `LOG_FORMAT=json` for machines or `pretty` for
 * people, filtered by `LOG_LEVEL`. Callers pass an event name and flat fields; nothing here
 * knows about stream keys, so callers must never pass one.
 */

export type LogLevel = "debug" | "info" | "warn" | "error";
export type LogFormat = "json" | "pretty";
export type LogFields = Record<string, unknown>;

const RANK: Record<LogLevel, number> = { debug: 10, info: 20, warn: 30, error: 40 };

export interface Logger {
  debug(event: string, fields?: LogFields): void;
  info(event: string, fields?: LogFields): void;
  warn(event: string, fields?: LogFields): void;
  error(event: string, fields?: LogFields): void;
  /** A logger that adds `fields` to every line. */
  child(fields: LogFields): Logger;
}

interface Settings {
  level: LogLevel;
  format: LogFormat;
}

const settings: Settings = { level: "info", format: "pretty" };

/** Sets level and format for every logger of this process; called once by a composition root. */
export function configureLogging(next: Partial<Settings>): void {
  Object.assign(settings, next);
}

function render(value: unknown): string {
  if (value instanceof Error) return JSON.stringify(value.message);
  if (typeof value === "string") return /^[\w.:/@-]*$/.test(value) ? value : JSON.stringify(value);
  return JSON.stringify(value) ?? String(value);
}

function write(level: LogLevel, event: string, base: LogFields, fields?: LogFields): void {
  if (RANK[level] < RANK[settings.level]) return;
  const all = fields ? { ...base, ...fields } : base;
  let line: string;
  if (settings.format === "json") {
    const out: LogFields = { ts: new Date().toISOString(), level, event };
    for (const [k, v] of Object.entries(all)) out[k] = v instanceof Error ? v.message : v;
    line = JSON.stringify(out);
  } else {
    const parts = [new Date().toISOString().slice(11, 23), level.toUpperCase().padEnd(5), event];
    for (const [k, v] of Object.entries(all)) if (v !== undefined) parts.push(`${k}=${render(v)}`);
    line = parts.join(" ");
  }
  if (RANK[level] >= RANK.warn) console.error(line);
  else console.log(line);
}

function make(base: LogFields): Logger {
  return {
    debug: (e, f) => write("debug", e, base, f),
    info: (e, f) => write("info", e, base, f),
    warn: (e, f) => write("warn", e, base, f),
    error: (e, f) => write("error", e, base, f),
    child: (f) => make({ ...base, ...f }),
  };
}

/** The root logger. */
export const log: Logger = make({});
