/**
 * A captured log as the text the real logger would write: one JSON object a line, an
 * `Error` field as its message (which is how the logger unwraps it). Tests search this text
 * for secrets that must never be logged; serializing an `Error` as `{}` would hide one.
 */
import type { CapturedLog } from "../../tests/helpers/log.ts";

export function logText(log: CapturedLog): string {
  return log.lines
    .map((line) =>
      JSON.stringify(
        { level: line.level, event: line.event, ...line.fields },
        (_key, value) => value instanceof Error ? value.message : value,
      )
    )
    .join("\n");
}
