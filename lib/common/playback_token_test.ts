import assert from "node:assert/strict";
import fc from "../../tests/helpers/fast_check.ts";
import {
  MAX_TOKEN_EXPIRY,
  PLAYBACK_TOKEN_RE,
  signPlaybackToken,
  verifyPlaybackToken,
} from "./playback_token.ts";

const KEY = "playback-signing-key-0123456789abcdef";
const EXPIRES = 1_800_000_000;
const BEFORE = (EXPIRES - 60) * 1000;

Deno.test("signPlaybackToken() produces `${expires}.${43 base64url characters}`", async () => {
  const token = await signPlaybackToken(KEY, "cam1", EXPIRES);
  assert.match(token, PLAYBACK_TOKEN_RE);
  assert.ok(token.startsWith(`${EXPIRES}.`));
});

Deno.test("signPlaybackToken() is HMAC-SHA256 over `${name}.${expires}`, as edges recompute it", async () => {
  const key = await crypto.subtle.importKey(
    "raw",
    new TextEncoder().encode(KEY),
    { name: "HMAC", hash: "SHA-256" },
    false,
    ["sign"],
  );
  const mac = await crypto.subtle.sign("HMAC", key, new TextEncoder().encode(`cam1.${EXPIRES}`));
  const b64 = btoa(String.fromCharCode(...new Uint8Array(mac)))
    .replaceAll("+", "-").replaceAll("/", "_").replace(/=+$/, "");
  assert.equal(await signPlaybackToken(KEY, "cam1", EXPIRES), `${EXPIRES}.${b64}`);
});

Deno.test("verifyPlaybackToken() accepts a token until the end of its expiry second", async () => {
  const token = await signPlaybackToken(KEY, "cam1", EXPIRES);
  assert.deepEqual(await verifyPlaybackToken(KEY, "cam1", token, BEFORE), {
    valid: true,
    expiresAt: EXPIRES,
  });
  assert.equal((await verifyPlaybackToken(KEY, "cam1", token, EXPIRES * 1000 + 999)).valid, true);
  assert.deepEqual(await verifyPlaybackToken(KEY, "cam1", token, EXPIRES * 1000 + 1000), {
    valid: false,
    reason: "expired",
  });
});

Deno.test("verifyPlaybackToken() refuses another name, another key, a changed expiry or MAC", async () => {
  const token = await signPlaybackToken(KEY, "cam1", EXPIRES);
  const [, macPart] = token.split(".") as [string, string];
  const flipped = macPart[0] === "A" ? `B${macPart.slice(1)}` : `A${macPart.slice(1)}`;
  const cases: [string, string, string][] = [
    [KEY, "cam2", token],
    [`${KEY}x`, "cam1", token],
    [KEY, "cam1", `${EXPIRES + 3600}.${macPart}`],
    [KEY, "cam1", `${EXPIRES}.${flipped}`],
  ];
  for (const [key, name, candidate] of cases) {
    assert.deepEqual(await verifyPlaybackToken(key, name, candidate, BEFORE), {
      valid: false,
      reason: "signature",
    });
  }
});

Deno.test("verifyPlaybackToken() calls malformed tokens malformed", async () => {
  const token = await signPlaybackToken(KEY, "cam1", EXPIRES);
  for (const bad of ["", "abc", `${token}=`, `${token}A`, ` ${token}`, token.replace(".", ":")]) {
    assert.deepEqual(await verifyPlaybackToken(KEY, "cam1", bad, BEFORE), {
      valid: false,
      reason: "malformed",
    });
  }
  assert.equal((await verifyPlaybackToken(KEY, "Not.A.Name", token, BEFORE)).valid, false);
});

Deno.test("signPlaybackToken() rejects invalid names, expiries and keys", async () => {
  await assert.rejects(signPlaybackToken(KEY, "Bad Name", EXPIRES), TypeError);
  await assert.rejects(signPlaybackToken(KEY, "cam1", 1.5), RangeError);
  await assert.rejects(signPlaybackToken(KEY, "cam1", -1), RangeError);
  await assert.rejects(signPlaybackToken(KEY, "cam1", MAX_TOKEN_EXPIRY + 1), RangeError);
  await assert.rejects(signPlaybackToken("", "cam1", EXPIRES), TypeError);
});

Deno.test("verifyPlaybackToken() never throws on arbitrary tokens and accepts only its own", async () => {
  await fc.assert(
    fc.asyncProperty(fc.string({ maxLength: 80 }), async (candidate) => {
      const check = await verifyPlaybackToken(KEY, "cam1", candidate, BEFORE);
      assert.equal(check.valid, false);
    }),
    { numRuns: 300 },
  );
  await fc.assert(
    fc.asyncProperty(
      fc.stringMatching(/^[a-z0-9][a-z0-9_-]{0,20}$/),
      fc.integer({ min: 0, max: MAX_TOKEN_EXPIRY }),
      async (name, expires) => {
        const token = await signPlaybackToken(KEY, name, expires);
        assert.equal((await verifyPlaybackToken(KEY, name, token, expires * 1000)).valid, true);
      },
    ),
    { numRuns: 100 },
  );
});
