import assert from "node:assert/strict";
import { ConfigError, loadConfig } from "@cascade/common/config";
import { apiConfigSchema } from "./config.ts";
import { originPrefix, trustsOrigin } from "./trusted_origins.ts";

Deno.test("API_TRUSTED_ORIGINS is unset by default and parsed into normalised prefixes", () => {
  assert.equal(loadConfig(apiConfigSchema, {}).API_TRUSTED_ORIGINS, undefined);
  const config = loadConfig(apiConfigSchema, {
    API_TRUSTED_ORIGINS: " https://Origin-1.example.com:443/ ,http://10.0.0.5:8081/base/,",
  });
  assert.deepEqual(config.API_TRUSTED_ORIGINS, [
    "https://origin-1.example.com",
    "http://10.0.0.5:8081/base",
  ]);
  for (const bad of ["file:///srv", "http://user:pw@10.0.0.5", "http://a.test/?x=1", "nope"]) {
    assert.throws(
      () => loadConfig(apiConfigSchema, { API_TRUSTED_ORIGINS: `http://ok.test,${bad}` }),
      (err: unknown) =>
        err instanceof ConfigError &&
        /^Invalid API_TRUSTED_ORIGINS: entry 2 must be an http\(s\) URL/.test(err.message),
      bad,
    );
  }
});

Deno.test("trustsOrigin() matches scheme, host, port and whole path segments only", () => {
  const prefixes = [originPrefix("http://10.0.0.5:8081")!, originPrefix("https://o.test/edge/")!];
  const cases: [string, boolean][] = [
    ["http://10.0.0.5:8081", true],
    ["http://10.0.0.5:8081/", true],
    ["http://10.0.0.5:8081/any/path", true],
    ["https://10.0.0.5:8081", false], // another scheme
    ["http://10.0.0.5:80810", false], // a port that merely starts alike
    ["http://10.0.0.50:8081", false],
    ["http://10.0.0.5.evil.test:8081", false],
    ["http://user:pw@10.0.0.5:8081", false],
    ["https://o.test/edge", true],
    ["https://o.test/edge/o1", true],
    ["https://o.test/edgewise", false],
    ["https://o.test/", false],
    ["file:///etc/passwd", false],
    ["not a url", false],
  ];
  for (const [url, trusted] of cases) assert.equal(trustsOrigin(prefixes, url), trusted, url);
  assert.equal(trustsOrigin(undefined, "http://anything.test:1"), true);
  assert.equal(trustsOrigin([], "http://10.0.0.5:8081"), false);
});
