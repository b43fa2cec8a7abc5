/**
 * HTTP errors as JSON: handlers throw `HttpError(status, code, message)` and one
 * `app.onError(jsonErrorHandler)` turns it into `{error: {code, message}}` with that status.
 * Hono's own `HTTPException` (thrown by its middleware) gets the same shape; anything else is
 * a bug, logged once and answered 500 with a generic message so no internals leak.
 */
import type { Context } from "hono";
import { HTTPException } from "hono/http-exception";
import type { ContentfulStatusCode } from "hono/utils/http-status";
import { log } from "./log.ts";

/** The body of every error answer. */
export interface ErrorBody {
  error: { code: string; message: string };
}

export interface HttpErrorOptions extends ErrorOptions {
  /** Extra response headers, e.g. `Content-Range` on a 416 or `Allow` on a 405. */
  headers?: Record<string, string>;
}

/** An error meant for the client: its status, a stable machine code and a readable message. */
export class HttpError extends Error {
  override name = "HttpError";
  readonly status: ContentfulStatusCode;
  readonly code: string;
  readonly headers: Record<string, string> | undefined;

  constructor(
    status: ContentfulStatusCode,
    code: string,
    message: string,
    options?: HttpErrorOptions,
  ) {
    super(message, options);
    if (!Number.isInteger(status) || status < 400 || status > 599) {
      throw new RangeError(`Cannot create HttpError: status ${status} is not 4xx or 5xx`);
    }
    this.status = status;
    this.code = code;
    this.headers = options?.headers;
  }
}

const CODES: Record<number, string> = {
  400: "bad_request",
  401: "unauthorized",
  403: "forbidden",
  404: "not_found",
  405: "method_not_allowed",
  408: "request_timeout",
  409: "conflict",
  413: "payload_too_large",
  415: "unsupported_media_type",
  416: "range_not_satisfiable",
  422: "unprocessable_entity",
  429: "too_many_requests",
  500: "internal",
  501: "not_implemented",
  502: "bad_gateway",
  503: "unavailable",
  504: "gateway_timeout",
};

/** The default error code for a status: `not_found` for 404, `internal` for 500, … */
export function errorCodeFor(status: number): string {
  return CODES[status] ?? (status >= 500 ? "internal" : "bad_request");
}

/** The JSON error body for `code` and `message`. */
export function errorBody(code: string, message: string): ErrorBody {
  return { error: { code, message } };
}

/** Hono `onError` handler answering `{error: {code, message}}`. */
export function jsonErrorHandler(err: Error, c: Context): Response {
  if (err instanceof HttpError) {
    if (err.status >= 500) {
      log.warn("http.error", {
        method: c.req.method,
        path: c.req.path,
        status: err.status,
        error: err,
      });
    }
    return c.json(errorBody(err.code, err.message), err.status, err.headers);
  }
  if (err instanceof HTTPException) {
    const headers: Record<string, string> = {};
    err.res?.headers.forEach((value, name) => {
      if (name !== "content-type" && name !== "content-length") headers[name] = value;
    });
    const message = err.message || err.res?.statusText || `HTTP ${err.status}`;
    return c.json(errorBody(errorCodeFor(err.status), message), err.status, headers);
  }
  log.error("http.unhandled_error", {
    method: c.req.method,
    path: c.req.path,
    error: err,
    stack: err.stack,
  });
  return c.json(errorBody("internal", "Internal server error"), 500);
}

/** Hono `notFound` handler answering 404 `{error: {code: "not_found", message}}`. */
export function jsonNotFound(c: Context): Response {
  return c.json(errorBody("not_found", `Not found: ${c.req.method} ${c.req.path}`), 404);
}
