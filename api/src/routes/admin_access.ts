/**
 * What the admin resources (streams, their keys, their recordings) share: the bearer guard
 * on `API_ADMIN_TOKEN`, built once so that all of them count failures in one limiter, the
 * route fields that document it, and the lookup of a stream that must exist.
 */
import { HttpError } from "@cascade/common/http_errors";
import type { StreamConfig } from "@cascade/registry/types";
import { authFailures, tokenGuard } from "../auth.ts";
import type { ApiContext } from "../context.ts";
import { errorResponse } from "./responses.ts";

/** Fields every admin route definition spreads in: its guard, security and tag. */
export type AdminRoute = ReturnType<typeof adminRoute>;

/** Builds the admin guard and the route fields that carry it. */
export function adminRoute(ctx: ApiContext) {
  const guard = tokenGuard({
    token: ctx.config.API_ADMIN_TOKEN,
    variable: "API_ADMIN_TOKEN",
    source: "bearer",
    realm: "admin",
    limiter: ctx.tokenLimiter,
    clientIp: ctx.clientIp,
    failures: authFailures(ctx.metrics),
  });
  return {
    middleware: guard,
    security: [{ adminToken: [] as string[] }],
    tags: ["admin"],
  };
}

/** The answers the admin guard itself may give. */
export const AUTH_ERRORS = {
  401: errorResponse("Missing or wrong admin token"),
  429: errorResponse("Too many failed attempts from this address"),
  503: errorResponse("API_ADMIN_TOKEN not set, or the registry is unreachable"),
} as const;

/** The answers every admin route on one stream (`/{name}…`) may give besides its own. */
export const STREAM_ERRORS = {
  400: errorResponse("Invalid name"),
  404: errorResponse("Unknown stream"),
  ...AUTH_ERRORS,
} as const;

export function unknownStream(name: string): HttpError {
  return new HttpError(404, "not_found", `Unknown stream: ${name}`);
}

/** The configuration of `name`, or a 404. */
export async function existingStream(ctx: ApiContext, name: string): Promise<StreamConfig> {
  const cfg = await ctx.registry.getStreamConfig(name);
  if (cfg === null) throw unknownStream(name);
  return cfg;
}
