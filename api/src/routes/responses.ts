/**
 * Pieces of OpenAPI route definitions that every route module repeats: a JSON or form
 * content entry, an error response documented with the shared `{error: {code, message}}`
 * body, and the header that keeps per-client answers out of caches.
 */
import { ErrorBody } from "../schemas.ts";

export const json = <T>(schema: T) => ({ "application/json": { schema } });

export const form = <T>(schema: T) => ({ "application/x-www-form-urlencoded": { schema } });

/** A documented error answer. */
export const errorResponse = (description: string) => ({ description, content: json(ErrorBody) });

/** For answers carrying a key, a fresh token or a per-client choice. */
export const NO_STORE = { "Cache-Control": "no-store" };
