/**
 * A `Logger` that keeps every line in memory (and forwards to the real logger when
 * `LOG_TESTS=1`), so tests can assert on events such as "recording paused exactly once".
 */
import { log as rootLog, type LogFields, type Logger } from "@cascade/common/log";

export interface LogLine {
  level: "debug" | "info" | "warn" | "error";
  event: string;
  fields: LogFields;
}

export interface CapturedLog extends Logger {
  lines: LogLine[];
  /** Lines of one event. */
  events(event: string): LogLine[];
}

export function captureLog(): CapturedLog {
  const lines: LogLine[] = [];
  const echo = Deno.env.get("LOG_TESTS") === "1";
  const make = (base: LogFields): Logger => {
    const at = (level: LogLine["level"]) => (event: string, fields?: LogFields) => {
      lines.push({ level, event, fields: { ...base, ...fields } });
      if (echo) rootLog[level](event, { ...base, ...fields });
    };
    return {
      debug: at("debug"),
      info: at("info"),
      warn: at("warn"),
      error: at("error"),
      child: (f) => make({ ...base, ...f }),
    };
  };
  return Object.assign(make({}), {
    lines,
    events: (event: string) => lines.filter((l) => l.event === event),
  });
}
