/**
 * Environment configuration: each service declares one zod schema of the variables it
 * reads, and `loadConfig` parses `Deno.env` once at start. An invalid value is a
 * `ConfigError` naming the variable; composition roots turn it into exit code 2 with
 * that one line (`exitOnConfigError`).
 */
import { z } from "zod";

export class ConfigError extends TypeError {
  override name = "ConfigError";
}

/** Parses `env` (default: the process environment) with `schema`; throws `ConfigError`. */
export function loadConfig<S extends z.ZodType>(
  schema: S,
  env: Record<string, string | undefined> = Deno.env.toObject(),
): z.infer<S> {
  const cleaned: Record<string, string> = {};
  for (const [k, v] of Object.entries(env)) if (v !== undefined && v !== "") cleaned[k] = v;
  const result = schema.safeParse(cleaned);
  if (result.success) return result.data;
  const issue = result.error.issues[0]!;
  const name = issue.path.join(".") || "environment";
  const value = cleaned[String(issue.path[0])];
  const shown = value === undefined ? "" : ` (got ${JSON.stringify(value.slice(0, 80))})`;
  throw new ConfigError(`Invalid ${name}: ${issue.message}${shown}`);
}

/** Runs `fn`; on `ConfigError` prints its one line and exits with code 2. */
export function exitOnConfigError<T>(fn: () => T): T {
  try {
    return fn();
  } catch (err) {
    if (err instanceof ConfigError) {
      console.error(err.message);
      Deno.exit(2);
    }
    throw err;
  }
}

/** Reusable field schemas shared by the services' config schemas. */
export const fields = {
  port: (fallback: number) => z.coerce.number().int().min(0).max(65535).default(fallback),
  bool: (fallback: boolean) =>
    z.enum(["true", "false", "1", "0", "yes", "no"]).default(fallback ? "true" : "false")
      .transform((v) => v === "true" || v === "1" || v === "yes"),
  url: (fallback: string) => z.string().url().default(fallback),
  positive: (fallback: number) => z.coerce.number().positive().default(fallback),
  logLevel: z.enum(["debug", "info", "warn", "error"]).default("info"),
  logFormat: z.enum(["json", "pretty"]).default("pretty"),
};

/** The stream name rule from ARCHITECTURE.md. */
export const STREAM_NAME_RE = /^[a-z0-9][a-z0-9_-]{0,63}$/;
