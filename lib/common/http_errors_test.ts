import assert from "node:assert/strict";
import { Hono } from "hono";
import { HTTPException } from "hono/http-exception";
import { errorCodeFor, HttpError, jsonErrorHandler, jsonNotFound } from "./http_errors.ts";
import { configureLogging } from "./log.ts";

function app(): Hono {
  const a = new Hono();
  a.get("/teapot", () => {
    throw new HttpError(418, "teapot", "Short and stout", { headers: { "X-Extra": "1" } });
  });
  a.get("/hono", () => {
    throw new HTTPException(401, {
      res: new Response("Unauthorized", { headers: { "WWW-Authenticate": "Bearer" } }),
      message: "Token required",
    });
  });
  a.get("/bug", () => {
    throw new Error("secret internals at /srv/x");
  });
  a.onError(jsonErrorHandler);
  a.notFound(jsonNotFound);
  return a;
}

Deno.test("jsonErrorHandler() answers HttpError with its status, code, message and headers", async () => {
  const res = await app().request("/teapot");
  assert.equal(res.status, 418);
  assert.equal(res.headers.get("content-type"), "application/json");
  assert.equal(res.headers.get("x-extra"), "1");
  assert.deepEqual(await res.json(), { error: { code: "teapot", message: "Short and stout" } });
});

Deno.test("jsonErrorHandler() gives Hono's HTTPException the same shape and keeps its headers", async () => {
  const res = await app().request("/hono");
  assert.equal(res.status, 401);
  assert.equal(res.headers.get("www-authenticate"), "Bearer");
  assert.deepEqual(await res.json(), {
    error: { code: "unauthorized", message: "Token required" },
  });
});

Deno.test("jsonErrorHandler() hides unknown errors behind a generic 500", async () => {
  configureLogging({ level: "error" });
  const lines: string[] = [];
  const original = console.error;
  console.error = (line: string) => lines.push(line);
  try {
    const res = await app().request("/bug");
    assert.equal(res.status, 500);
    const text = await res.text();
    assert.deepEqual(JSON.parse(text), {
      error: { code: "internal", message: "Internal server error" },
    });
    assert.ok(!text.includes("secret internals"));
    assert.equal(lines.length, 1);
    assert.match(lines[0]!, /http\.unhandled_error/);
  } finally {
    console.error = original;
    configureLogging({ level: "info" });
  }
});

Deno.test("jsonNotFound() answers 404 not_found", async () => {
  const res = await app().request("/nowhere");
  assert.equal(res.status, 404);
  assert.deepEqual(await res.json(), {
    error: { code: "not_found", message: "Not found: GET /nowhere" },
  });
});

Deno.test("HttpError rejects statuses outside 4xx and 5xx", () => {
  assert.throws(() => new HttpError(200 as 400, "ok", "Fine"), RangeError);
  const err = new HttpError(404, "not_found", "Gone", { cause: new Error("inner") });
  assert.equal(err.name, "HttpError");
  assert.ok(err instanceof Error);
  assert.equal((err.cause as Error).message, "inner");
});

Deno.test("errorCodeFor() maps common statuses and falls back by class", () => {
  assert.equal(errorCodeFor(404), "not_found");
  assert.equal(errorCodeFor(416), "range_not_satisfiable");
  assert.equal(errorCodeFor(499), "bad_request");
  assert.equal(errorCodeFor(599), "internal");
});
