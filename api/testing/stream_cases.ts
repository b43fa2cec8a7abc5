/**
 * Endpoint cases for the admin stream resources: creating a stream and its key, listing and
 * showing streams, rotating the key, enabling/disabling and deleting, with every kind of
 * bad input and refused token. Run by `suite.ts` on each registry backend.
 */
import assert from "node:assert/strict";
import { sha256Hex } from "@cascade/common/secrets";
import { waitFor } from "../../tests/helpers/wait.ts";
import { MAX_BODY_BYTES } from "../src/app.ts";
import { STREAM_KEY_RE } from "../src/stream_keys.ts";
import {
  ADMIN_TOKEN,
  type ApiCase,
  type CallOptions,
  expectError,
  HOOK_TOKEN,
  kickOf,
  NO_ENCODER_FIGURES,
} from "./harness.ts";

export const streamCases: ApiCase[] = [
  ["POST /streams creates a stream whose key is shown once and stored as SHA-256", async (h) => {
    await h.node("origin", "o2", { rtmpUrl: "rtmp://10.0.0.2:1935/live/" });
    await h.node("origin", "o1", { rtmpUrl: "rtmp://10.0.0.1:1935/live" });
    await h.node("origin", "o3");
    h.configure({ RTMP_INGEST_URLS: "rtmp://ingest.test/live" });
    const res = await h.call("/api/v1/streams", { json: { name: "cam1" } });
    assert.equal(res.status, 201);
    assert.equal(res.headers.get("cache-control"), "no-store");
    assert.equal(res.headers.get("location"), "/api/v1/streams/cam1");
    const body = await res.json();
    assert.match(body.streamKey, STREAM_KEY_RE);
    assert.deepEqual(body, {
      name: "cam1",
      streamKey: body.streamKey,
      ingestUrls: [
        `rtmp://ingest.test/live/${body.streamKey}`,
        `rtmp://10.0.0.1:1935/live/${body.streamKey}`,
        `rtmp://10.0.0.2:1935/live/${body.streamKey}`,
      ],
      playbackUrl: "https://api.test/api/v1/streams/cam1/playback",
    });
    const cfg = await h.registry.getStreamConfig("cam1");
    assert.deepEqual(cfg, {
      name: "cam1",
      keyHash: await sha256Hex(body.streamKey),
      createdAt: h.clock,
      disabled: false,
      record: false,
    });
    assert.equal(await h.registry.resolveKeyHash(await sha256Hex(body.streamKey)), "cam1");
    const other = await h.create("cam2", { record: true });
    assert.notEqual(other, body.streamKey);
    assert.equal((await h.registry.getStreamConfig("cam2"))?.record, true);
  }],

  ["POST /streams refuses an existing name with 409 and leaves its key alone", async (h) => {
    const key = await h.create("cam1");
    await expectError(
      await h.call("/api/v1/streams", { json: { name: "cam1" } }),
      409,
      "conflict",
      /cam1/,
    );
    assert.equal((await (await h.hook(key)).json()).name, "cam1");
  }],

  ["POST /streams answers bad bodies with 400 naming the field, 413 and 415", async (h) => {
    const cases: [unknown, RegExp][] = [
      [{}, /"name": required/],
      [{ name: "Cam 1" }, /"name"/],
      [{ name: "" }, /"name"/],
      [{ name: "a".repeat(65) }, /"name"/],
      [{ name: "-cam" }, /"name"/],
      [{ name: 42 }, /"name"/],
      [{ name: "cam1", record: "yes" }, /"record"/],
      [{ name: "cam1", disable: true }, /Unknown body field: "disable"/],
      [[{ name: "cam1" }], /body/],
      ["cam1", /body/],
    ];
    for (const [json, like] of cases) {
      await expectError(await h.call("/api/v1/streams", { json }), 400, "invalid_request", like);
    }
    await expectError(
      await h.call("/api/v1/streams", {
        body: '{"name": "cam1"',
        headers: { "content-type": "application/json" },
      }),
      400,
    );
    await expectError(
      await h.call("/api/v1/streams", {
        body: "name=cam1",
        headers: { "content-type": "text/plain" },
      }),
      415,
    );
    await expectError(
      await h.call("/api/v1/streams", {
        json: { name: "cam1", pad: "x".repeat(MAX_BODY_BYTES) },
      }),
      413,
      "payload_too_large",
    );
    // Without Content-Length the limit is enforced while the body streams in.
    const chunk = new TextEncoder().encode("x".repeat(16 * 1024));
    let sent = 0;
    const stream = new ReadableStream<Uint8Array>({
      pull(controller) {
        if (sent++ < 8) controller.enqueue(chunk);
        else controller.close();
      },
    });
    await expectError(
      await h.call("/api/v1/streams", {
        body: stream,
        headers: { "content-type": "application/json" },
      }),
      413,
    );
    assert.deepEqual(await h.registry.listStreamConfigs(), []);
  }],

  ["admin routes answer 401 without the right bearer token", async (h) => {
    const key = await h.create("cam1");
    const routes: [string, CallOptions][] = [
      ["/api/v1/streams", { method: "GET" }],
      ["/api/v1/streams", { json: { name: "cam2" } }],
      ["/api/v1/streams/cam1", { method: "GET" }],
      ["/api/v1/streams/cam1/rotate-key", { method: "POST" }],
      ["/api/v1/streams/cam1/recordings", {}],
      ["/api/v1/streams/cam1", { method: "PATCH", json: { disabled: true } }],
      ["/api/v1/streams/cam1", { method: "DELETE" }],
    ];
    let n = 0;
    for (const [path, o] of routes) {
      for (const token of [null, "wrong-token-0123456789", HOOK_TOKEN]) {
        // A new address each time, so that the rate limit does not kick in here.
        const res = await h.call(path, { ...o, token, ip: `203.0.113.${++n}` });
        await expectError(res, 401, "unauthorized");
        assert.match(res.headers.get("www-authenticate") ?? "", /^Bearer realm="admin"/);
      }
    }
    const basic = await h.call("/api/v1/streams", {
      token: null,
      headers: { authorization: `Basic ${btoa(`admin:${ADMIN_TOKEN}`)}` },
      ip: "203.0.113.99",
    });
    await expectError(basic, 401);
    assert.equal((await h.registry.getStreamConfig("cam1"))?.disabled, false);
    assert.equal((await (await h.hook(key)).json()).name, "cam1");
    assert.equal(await h.registry.getStreamConfig("cam2"), null);
  }],

  ["admin routes refuse with 503 naming API_ADMIN_TOKEN when it is not set", async (h) => {
    h.configure({ API_ADMIN_TOKEN: "" });
    for (const token of [null, ADMIN_TOKEN]) {
      await expectError(
        await h.call("/api/v1/streams", { json: { name: "cam1" }, token }),
        503,
        "not_configured",
        /API_ADMIN_TOKEN/,
      );
    }
    assert.equal(await h.registry.getStreamConfig("cam1"), null);
  }],

  [
    "repeated failed admin auth from one address is answered 429 until the window passes",
    async (h) => {
      h.configure({ AUTH_FAILURE_LIMIT: "3", AUTH_FAILURE_WINDOW_SECONDS: "60" });
      const attacker = "203.0.113.50";
      for (let i = 0; i < 3; i++) {
        await expectError(
          await h.call("/api/v1/streams", { token: `guess-${i}`, ip: attacker }),
          401,
        );
      }
      const blocked = await h.call("/api/v1/streams", { ip: attacker });
      await expectError(blocked, 429, "too_many_requests");
      assert.equal(blocked.headers.get("retry-after"), "60");
      assert.equal((await h.call("/api/v1/streams", { ip: "203.0.113.51" })).status, 200);
      h.clock += 59_000;
      await expectError(await h.call("/api/v1/streams", { ip: attacker }), 429);
      h.clock += 1_000;
      assert.equal((await h.call("/api/v1/streams", { ip: attacker })).status, 200);
    },
  ],

  [
    "failed admin logins from an origin's address never throttle its publish hooks",
    async (h) => {
      h.configure({ AUTH_FAILURE_LIMIT: "3", AUTH_FAILURE_WINDOW_SECONDS: "60" });
      const key = await h.create("cam1");
      const origin = "10.0.0.5";
      for (let i = 0; i < 10; i++) {
        const res = await h.call("/api/v1/streams", { token: `guess-${i}`, ip: origin });
        assert.ok(res.status === 401 || res.status === 429, `admin guess ${i}: ${res.status}`);
        await res.body?.cancel();
      }
      await expectError(await h.call("/api/v1/streams", { ip: origin }), 429);
      const hook = await h.call("/api/v1/hooks/publish", {
        token: HOOK_TOKEN,
        ip: origin,
        json: { app: "live", key, clientIp: "198.51.100.7", originId: "o1" },
      });
      assert.equal(hook.status, 200);
      assert.equal((await hook.json()).name, "cam1");
    },
  ],

  ["GET /streams and /streams/{name} show state and liveness, never a key", async (h) => {
    const k1 = await h.create("cam1");
    h.clock += 1000;
    const k2 = await h.create("cam0", { record: true });
    await h.live("cam1", "o7");
    const res = await h.call("/api/v1/streams");
    assert.equal(res.status, 200);
    const text = await res.text();
    for (const secret of [k1, k2, await sha256Hex(k1), await sha256Hex(k2)]) {
      assert.ok(!text.includes(secret), "a key or its hash leaked into the list");
    }
    assert.deepEqual(JSON.parse(text), {
      streams: [
        {
          name: "cam0",
          createdAt: new Date(h.clock).toISOString(),
          disabled: false,
          record: true,
          transcode: null,
          live: false,
          originId: null,
          startedAt: null,
          playbackUrl: "https://api.test/api/v1/streams/cam0/playback",
          standby: [],
          ...NO_ENCODER_FIGURES,
        },
        {
          name: "cam1",
          createdAt: new Date(h.clock - 1000).toISOString(),
          disabled: false,
          record: false,
          transcode: null,
          live: true,
          originId: "o7",
          startedAt: new Date(h.clock - 1000 - 60_000).toISOString(),
          playbackUrl: "https://api.test/api/v1/streams/cam1/playback",
          standby: [],
          ...NO_ENCODER_FIGURES,
        },
      ],
    });
    const one = await h.call("/api/v1/streams/cam1");
    assert.equal(one.status, 200);
    const oneText = await one.text();
    assert.ok(!oneText.includes(k1));
    assert.equal(JSON.parse(oneText).live, true);
    await expectError(await h.call("/api/v1/streams/nope"), 404, "not_found", /nope/);
    await expectError(
      await h.call("/api/v1/streams/Bad.Name"),
      400,
      "invalid_request",
      /path parameter "name"/,
    );
  }],

  ["GET /streams/{name} shows the encoder's figures and warnings while live", async (h) => {
    await h.create("cam1");
    const idle = await (await h.call("/api/v1/streams/cam1")).json();
    assert.deepEqual({ ...idle, createdAt: undefined, playbackUrl: undefined }, {
      name: "cam1",
      createdAt: undefined,
      disabled: false,
      record: false,
      transcode: null,
      live: false,
      originId: null,
      startedAt: null,
      playbackUrl: undefined,
      standby: [],
      ...NO_ENCODER_FIGURES,
    });
    await h.live("cam1", "o1", {
      codecs: "avc1.64001f",
      media: {
        keyframeInterval: 5,
        frameRate: 30,
        width: 320,
        height: 240,
        bitrate: 600_000,
        segmentSeconds: 2,
      },
    });
    const live = await (await h.call("/api/v1/streams/cam1")).json();
    assert.equal(live.live, true);
    assert.deepEqual(
      [live.keyframeInterval, live.frameRate, live.codecs, live.width, live.height, live.bitrate],
      [5, 30, "avc1.64001f", 320, 240, 600_000],
    );
    assert.deepEqual(live.warnings, [{
      code: "keyframe_interval",
      message: "Keyframe interval 5 s — set 2 s in OBS → Settings → Output (ffmpeg: -g 60)",
    }]);
    const listed = await (await h.call("/api/v1/streams")).json();
    assert.deepEqual(listed.streams[0].warnings, live.warnings, "the list shows the same");
  }],

  ["POST /streams/{name}/rotate-key replaces the key: the old one is refused", async (h) => {
    await h.node("origin", "o1", { rtmpUrl: "rtmp://10.0.0.1:1935/live" });
    const old = await h.create("cam1", { record: true });
    const res = await h.call("/api/v1/streams/cam1/rotate-key", { method: "POST" });
    assert.equal(res.status, 200);
    assert.equal(res.headers.get("cache-control"), "no-store");
    const body = await res.json();
    assert.match(body.streamKey, STREAM_KEY_RE);
    assert.notEqual(body.streamKey, old);
    assert.deepEqual(body.ingestUrls, [`rtmp://10.0.0.1:1935/live/${body.streamKey}`]);
    await expectError(await h.hook(old), 403, "unknown_key");
    assert.deepEqual(await (await h.hook(body.streamKey)).json(), { name: "cam1", record: true });
    const cfg = await h.registry.getStreamConfig("cam1");
    assert.equal(cfg?.record, true);
    assert.equal(await h.registry.resolveKeyHash(await sha256Hex(old)), null);
    await expectError(
      await h.call("/api/v1/streams/nope/rotate-key", { method: "POST" }),
      404,
    );
    await expectError(
      await h.call("/api/v1/streams/NOPE/rotate-key", { method: "POST" }),
      400,
    );
  }],

  [
    "PATCH /streams/{name} disabling kicks the stream and refuses its key until enabled",
    async (h) => {
      const key = await h.create("cam1");
      await h.live("cam1", "o1");
      const events = await h.events();
      const res = await h.call("/api/v1/streams/cam1", {
        method: "PATCH",
        json: { disabled: true },
      });
      assert.equal(res.status, 200);
      const body = await res.json();
      assert.equal(body.disabled, true);
      assert.equal(body.live, true);
      const kick = await waitFor("stream.kick", () => events.find(kickOf("cam1")));
      assert.equal(kick.originId, "o1");
      await expectError(await h.hook(key), 403, "stream_disabled");
      const enable = await h.call("/api/v1/streams/cam1", {
        method: "PATCH",
        json: { disabled: false, record: true },
      });
      assert.equal(enable.status, 200);
      assert.deepEqual(await (await h.hook(key)).json(), { name: "cam1", record: true });
      assert.equal(events.filter(kickOf("cam1")).length, 1, "enabling must not kick");
    },
  ],

  [
    "transcode: a stream's own profile is set at creation, changed, reset and validated",
    async (h) => {
      const created = await h.call("/api/v1/streams", {
        method: "POST",
        json: { name: "cam1", transcode: "480p,240p" },
      });
      assert.equal(created.status, 201);
      await created.body?.cancel();
      assert.equal((await h.registry.getStreamConfig("cam1"))?.transcode, "480p,240p");
      const patch = (transcode: unknown) =>
        h.call("/api/v1/streams/cam1", { method: "PATCH", json: { transcode } });
      const none = await patch("none");
      assert.equal((await none.json()).transcode, "none");
      const reset = await patch(null);
      assert.equal((await reset.json()).transcode, null);
      assert.equal((await h.registry.getStreamConfig("cam1"))?.transcode, undefined);
      await expectError(await patch("500p"), 400);
      await expectError(
        await h.call("/api/v1/streams", { method: "POST", json: { name: "cam_480p" } }),
        400,
      );
    },
  ],

  ["PATCH /streams/{name} validates its body and the name", async (h) => {
    await h.create("cam1");
    const bad: [unknown, RegExp][] = [
      [{}, /at least one/],
      [{ disabled: "true" }, /"disabled"/],
      [{ record: 1 }, /"record"/],
      [{ disabled: true, name: "x" }, /Unknown body field: "name"/],
    ];
    for (const [json, like] of bad) {
      await expectError(
        await h.call("/api/v1/streams/cam1", { method: "PATCH", json }),
        400,
        "invalid_request",
        like,
      );
    }
    assert.equal((await h.registry.getStreamConfig("cam1"))?.disabled, false);
    await expectError(
      await h.call("/api/v1/streams/nope", { method: "PATCH", json: { disabled: true } }),
      404,
    );
    await expectError(
      await h.call("/api/v1/streams/x%2Fy", { method: "PATCH", json: { disabled: true } }),
      400,
    );
  }],

  ["DELETE /streams/{name} deletes the stream and its key and kicks it", async (h) => {
    const key = await h.create("cam1");
    await h.live("cam1", "o1");
    const events = await h.events();
    const res = await h.call("/api/v1/streams/cam1", { method: "DELETE" });
    assert.equal(res.status, 204);
    assert.equal(await res.text(), "");
    await waitFor("stream.kick", () => events.find(kickOf("cam1")));
    assert.equal(await h.registry.getStreamConfig("cam1"), null);
    assert.equal(await h.registry.resolveKeyHash(await sha256Hex(key)), null);
    await expectError(await h.hook(key), 403, "unknown_key");
    await expectError(await h.call("/api/v1/streams/cam1"), 404);
    await expectError(await h.call("/api/v1/streams/cam1", { method: "DELETE" }), 404);
  }],
];
