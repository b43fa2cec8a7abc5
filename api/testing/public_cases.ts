/**
 * Endpoint cases for the public routes: the live directory and per-viewer playback (region
 * by query, header, address or default; load and rendezvous spreading; signed URLs issued
 * only to a caller with a token, with a lifetime it may choose). Run by `suite.ts`.
 */
import assert from "node:assert/strict";
import { verifyPlaybackToken } from "@cascade/common/playback_token";
import {
  ADMIN_TOKEN,
  type ApiCase,
  type CallOptions,
  expectError,
  NO_ENCODER_FIGURES,
  PLAYBACK_TOKEN,
  SIGNING_KEY,
} from "./harness.ts";

/** The encoder fields of a stream in an answer. */
function pick(stream: unknown): Record<string, unknown> {
  const s = stream as Record<string, unknown>;
  const fields = ["keyframeInterval", "frameRate", "codecs", "width", "height", "bitrate"];
  return Object.fromEntries([...fields, "warnings"].map((f) => [f, s[f]]));
}

/** The token of an HLS URL, asserting there is one. */
function tokenOf(url: string): string {
  const token = new URL(url).searchParams.get("token");
  assert.ok(token, `no token in ${url}`);
  return token;
}

export const publicCases: ApiCase[] = [
  ["GET /live lists live streams with origin, start time and playback URLs", async (h) => {
    const empty = await h.call("/api/v1/live", { token: null });
    assert.equal(empty.status, 200);
    assert.deepEqual(await empty.json(), { streams: [] });
    await h.live("cam2", "o2");
    await h.live("cam1", "o1");
    await h.node("edge", "e1", { region: "eu" });
    const res = await h.call("/api/v1/live", { token: null });
    assert.equal(res.headers.get("cache-control"), "no-store");
    assert.deepEqual(await res.json(), {
      streams: ["cam1", "cam2"].map((name, i) => ({
        name,
        originId: `o${i + 1}`,
        startedAt: new Date(h.clock - 60_000).toISOString(),
        playbackUrl: `https://api.test/api/v1/streams/${name}/playback`,
        hls: `http://e1.test:8000/live/${name}/index.m3u8`,
        llhls: null,
        master: null,
        llmaster: null,
        renditions: [],
        standby: [],
        ...NO_ENCODER_FIGURES,
      })),
    });
    await expectError(await h.call("/api/v1/live?region=a%20b", { token: null }), 400);
  }],

  ["GET /live lists renditions on their source's entry, not as streams", async (h) => {
    await h.live("cam1", "o1");
    await h.live("cam1_240p", "o1");
    await h.live("cam1_480p", "o1");
    await h.live("lone_360p", "o1");
    await h.node("edge", "e1", { region: "eu" });
    const res = await h.call("/api/v1/live", { token: null });
    const streams = (await res.json()).streams as Record<string, unknown>[];
    assert.deepEqual(
      streams.map((s) => [s.name, s.renditions, s.master]),
      [["cam1", ["480p", "240p"], "http://e1.test:8000/live/cam1/master.m3u8"]],
    );
  }],

  ["GET /live names the origins standing by for each stream", async (h) => {
    await h.live("cam1", "o1");
    await h.live("cam2", "o1");
    await h.node("origin", "o3", { standby: ["cam1"] });
    await h.node("origin", "o2", { standby: ["cam1", "gone"] });
    const res = await h.call("/api/v1/live", { token: null });
    const streams = (await res.json()).streams as { name: string; standby: string[] }[];
    assert.deepEqual(streams.map((s) => [s.name, s.standby]), [["cam1", ["o2", "o3"]], [
      "cam2",
      [],
    ]]);
  }],

  [
    "GET /live reports each stream's encoder figures and warns of long keyframe intervals",
    async (h) => {
      const media = {
        keyframeInterval: 2,
        frameRate: 30,
        width: 1280,
        height: 720,
        bitrate: 2_500_000,
        segmentSeconds: 2,
      };
      await h.live("good", "o1", { codecs: "avc1.64001f,mp4a.40.2", media });
      await h.live("obs", "o1", {
        codecs: "avc1.4d401f",
        media: { ...media, keyframeInterval: 8.333, frameRate: 29.97, bitrate: null },
      });
      const res = await h.call("/api/v1/live", { token: null });
      assert.equal(res.status, 200);
      const byName = new Map(
        (await res.json()).streams.map((s: { name: string }) => [s.name, s]),
      );
      assert.deepEqual(pick(byName.get("good")), {
        keyframeInterval: 2,
        frameRate: 30,
        codecs: "avc1.64001f,mp4a.40.2",
        width: 1280,
        height: 720,
        bitrate: 2_500_000,
        warnings: [],
      });
      assert.deepEqual(pick(byName.get("obs")), {
        keyframeInterval: 8.333,
        frameRate: 29.97,
        codecs: "avc1.4d401f",
        width: 1280,
        height: 720,
        bitrate: null,
        warnings: [{
          code: "keyframe_interval",
          message: "Keyframe interval 8.3 s — set 2 s in OBS → Settings → Output (ffmpeg: -g 60)",
        }],
      });
    },
  ],

  [
    "GET /streams/{name}/playback is 404 when not live and the origin only without edges",
    async (h) => {
      await h.create("cam1");
      await expectError(
        await h.call("/api/v1/streams/cam1/playback", { token: null }),
        404,
        "not_live",
      );
      await expectError(await h.call("/api/v1/streams/Cam1/playback", { token: null }), 400);
      const record = await h.live("cam1", "o1");
      const res = await h.call("/api/v1/streams/cam1/playback", { token: null });
      assert.equal(res.status, 200);
      assert.deepEqual(await res.json(), {
        name: "cam1",
        live: true,
        region: null,
        hls: record.manifest,
        llhls: null,
        master: null,
        llmaster: null,
        edges: [],
        expiresAt: null,
      });
    },
  ],

  [
    "GET /streams/{name}/playback picks an edge by region: query, header, CIDR, default",
    async (h) => {
      h.configure({
        REGION_CIDRS: "10.0.0.0/8=eu,10.9.0.0/16=us,2001:db8::/32=us",
        DEFAULT_REGION: "ap",
      });
      await h.live("cam1");
      await h.node("edge", "eu1", { region: "eu" });
      await h.node("edge", "us1", { region: "us" });
      await h.node("edge", "ap1", { region: "ap" });
      const regionOf = async (path: string, o: CallOptions = {}) => {
        const res = await h.call(`/api/v1/streams/cam1/playback${path}`, { token: null, ...o });
        assert.equal(res.status, 200);
        const body = await res.json();
        assert.equal(body.hls, body.edges[0].hls);
        return [body.region, body.edges[0].id];
      };
      assert.deepEqual(await regionOf("?region=us"), ["us", "us1"]);
      assert.deepEqual(
        await regionOf("?region=us", { headers: { "x-viewer-region": "eu" } }),
        ["us", "us1"],
      );
      assert.deepEqual(await regionOf("", { headers: { "X-Viewer-Region": "eu" } }), ["eu", "eu1"]);
      assert.deepEqual(await regionOf("", { ip: "10.1.2.3" }), ["eu", "eu1"]);
      assert.deepEqual(await regionOf("", { ip: "10.9.2.3" }), ["us", "us1"]);
      assert.deepEqual(await regionOf("", { ip: "::ffff:10.9.2.3" }), ["us", "us1"]);
      assert.deepEqual(await regionOf("", { ip: "2001:db8::5" }), ["us", "us1"]);
      assert.deepEqual(await regionOf("", { ip: "192.0.2.1" }), ["ap", "ap1"]);
      await expectError(
        await h.call("/api/v1/streams/cam1/playback", {
          token: null,
          headers: { "x-viewer-region": "no way" },
        }),
        400,
        "invalid_request",
        /header "x-viewer-region"/,
      );
    },
  ],

  ["GET /streams/{name}/playback falls back to other regions and skips loaded edges", async (h) => {
    h.configure({ EDGE_LOAD_THRESHOLD: "100" });
    await h.live("cam1");
    await h.node("edge", "eu1", { region: "eu", load: 500 });
    await h.node("edge", "us1", { region: "us", load: 10 });
    const body = await (await h.call("/api/v1/streams/cam1/playback?region=eu", { token: null }))
      .json();
    assert.deepEqual(body.edges.map((e: { id: string }) => e.id), ["us1", "eu1"]);
    assert.equal(body.hls, "http://us1.test:8000/live/cam1/index.m3u8");
    const nowhere = await (await h.call("/api/v1/streams/cam1/playback?region=sa", { token: null }))
      .json();
    assert.equal(nowhere.edges[0].id, "us1");
  }],

  [
    "GET /streams/{name}/playback spreads streams over edges but keeps each stream on one",
    async (h) => {
      for (const id of ["e1", "e2", "e3", "e4"]) await h.node("edge", id, { region: "eu" });
      const chosen = new Map<string, string>();
      for (let i = 0; i < 24; i++) {
        const name = `cam${i}`;
        await h.live(name);
        const first = await (await h.call(`/api/v1/streams/${name}/playback?region=eu`, {
          token: null,
        })).json();
        const again = await (await h.call(`/api/v1/streams/${name}/playback?region=eu`, {
          token: null,
          ip: "192.0.2.200",
        })).json();
        assert.equal(again.hls, first.hls, "one stream's viewers must land on one edge");
        assert.equal(first.edges.length, 3);
        chosen.set(name, first.edges[0].id);
      }
      assert.ok(new Set(chosen.values()).size >= 3, "streams should spread over the edges");
    },
  ],

  [
    "master: the multivariant playlist beside hls, only while a rendition is live",
    async (h) => {
      await h.live("cam1", "o1");
      const plain = await (await h.call("/api/v1/streams/cam1/playback", { token: null })).json();
      assert.equal(plain.master, null);
      await h.live("cam1_240p", "o1");
      await h.node("edge", "e1", { region: "eu" });
      const abr = await (await h.call("/api/v1/streams/cam1/playback", { token: null })).json();
      assert.equal(abr.hls, "http://e1.test:8000/live/cam1/index.m3u8");
      assert.equal(abr.master, "http://e1.test:8000/live/cam1/master.m3u8");
      const rendition = await (await h.call("/api/v1/streams/cam1_240p/playback", {
        token: null,
      })).json();
      assert.equal(rendition.master, null, "a rendition has no renditions");
      assert.equal(abr.llmaster, null, "the origin serves no LL-HLS");
    },
  ],

  [
    "llmaster: the LL multivariant playlist beside hls, only for LL streams with a live rendition",
    async (h) => {
      await h.live("cam1", "o1", { ll: true });
      const plain = await (await h.call("/api/v1/streams/cam1/playback", { token: null })).json();
      assert.equal(plain.llmaster, null);
      await h.live("cam1_240p", "o1", { ll: true });
      const origin = await (await h.call("/api/v1/streams/cam1/playback", { token: null })).json();
      assert.equal(origin.llmaster, "http://o1.test:8081/live/cam1/ll_master.m3u8");
      await h.node("edge", "e1", { region: "eu" });
      const abr = await (await h.call("/api/v1/streams/cam1/playback", { token: null })).json();
      assert.equal(abr.llmaster, "http://e1.test:8000/live/cam1/ll_master.m3u8");
      assert.equal(abr.master, "http://e1.test:8000/live/cam1/master.m3u8");
    },
  ],

  [
    "llhls: the LL playlist beside hls on each edge and on the origin, only for LL streams",
    async (h) => {
      await h.create("cam1");
      await expectError(
        await h.call("/api/v1/streams/cam1/playback", { token: null }),
        404,
        "not_live",
      );
      await h.live("cam1", "o1", { ll: true });
      const alone = await (await h.call("/api/v1/streams/cam1/playback", { token: null })).json();
      assert.equal(alone.hls, "http://o1.test:8081/live/cam1/index.m3u8");
      assert.equal(alone.llhls, "http://o1.test:8081/live/cam1/ll.m3u8", "the origin's own");
      await h.live("ts1", "o2", { ll: false });
      await h.live("ts2", "o2");
      await h.node("edge", "e1", { region: "eu" });
      await h.node("edge", "e2", { region: "eu" });
      const body = await (await h.call("/api/v1/streams/cam1/playback", { token: null })).json();
      assert.equal(body.edges.length, 2);
      for (const choice of [body, ...body.edges]) {
        assert.match(choice.hls, /^http:\/\/e\d\.test:8000\/live\/cam1\/index\.m3u8$/);
        assert.equal(choice.llhls, choice.hls.replace(/index\.m3u8$/, "ll.m3u8"));
      }
      assert.equal(body.llhls, body.edges[0].llhls);
      for (const name of ["ts1", "ts2"]) {
        const ts = await (await h.call(`/api/v1/streams/${name}/playback`, { token: null })).json();
        assert.match(ts.hls, /index\.m3u8$/);
        assert.equal(ts.llhls, null, `${name} offers no LL`);
        assert.deepEqual(ts.edges.map((e: { llhls: unknown }) => e.llhls), [null, null]);
      }
      const live = await (await h.call("/api/v1/live", { token: null })).json();
      assert.deepEqual(
        live.streams.map((s: { name: string; hls: string; llhls: string | null }) => [
          s.name,
          s.llhls,
          s.hls,
        ]),
        [
          ["cam1", body.llhls, body.hls],
          ["ts1", null, live.streams[1].hls],
          ["ts2", null, live.streams[2].hls],
        ],
      );
    },
  ],

  [
    "llhls: signed like hls, with the same token; null with hls for anonymous /live",
    async (h) => {
      h.configure({
        PLAYBACK_SIGNING_KEY: SIGNING_KEY,
        PLAYBACK_TOKEN_TTL_SECONDS: "600",
        PLAYBACK_API_TOKEN: PLAYBACK_TOKEN,
      });
      await h.live("cam1", "o1", { ll: true });
      const alone = await (await h.call("/api/v1/streams/cam1/playback", { token: PLAYBACK_TOKEN }))
        .json();
      assert.equal(
        alone.llhls,
        `http://o1.test:8081/live/cam1/ll.m3u8?token=${tokenOf(alone.hls)}`,
      );
      await h.node("edge", "e1");
      await h.node("edge", "e2");
      const body = await (await h.call("/api/v1/streams/cam1/playback", { token: PLAYBACK_TOKEN }))
        .json();
      const expires = Math.floor(h.clock / 1000) + 600;
      for (const choice of [body, ...body.edges]) {
        const token = tokenOf(choice.llhls);
        assert.equal(token, tokenOf(choice.hls), "one token for both playlists");
        assert.equal(choice.llhls, choice.hls.replace("/index.m3u8?", "/ll.m3u8?"));
        assert.deepEqual(await verifyPlaybackToken(SIGNING_KEY, "cam1", token, h.clock), {
          valid: true,
          expiresAt: expires,
        });
      }
      const live = await (await h.call("/api/v1/live", { token: PLAYBACK_TOKEN })).json();
      assert.match(live.streams[0].llhls, /\/cam1\/ll\.m3u8\?token=\d+\.[A-Za-z0-9_-]{43}$/);
      const anonymous = await (await h.call("/api/v1/live", { token: null })).json();
      assert.deepEqual(
        anonymous.streams.map((s: { hls: unknown; llhls: unknown }) => [s.hls, s.llhls]),
        [[null, null]],
      );
    },
  ],

  ["GET /streams/{name}/playback signs HLS URLs when PLAYBACK_SIGNING_KEY is set", async (h) => {
    h.configure({
      PLAYBACK_SIGNING_KEY: SIGNING_KEY,
      PLAYBACK_TOKEN_TTL_SECONDS: "600",
      PLAYBACK_API_TOKEN: PLAYBACK_TOKEN,
    });
    await h.live("cam1");
    await h.node("edge", "e1");
    await h.node("edge", "e2");
    const body = await (await h.call("/api/v1/streams/cam1/playback", { token: PLAYBACK_TOKEN }))
      .json();
    const expires = Math.floor(h.clock / 1000) + 600;
    assert.equal(body.expiresAt, new Date(expires * 1000).toISOString());
    for (const url of [body.hls, ...body.edges.map((e: { hls: string }) => e.hls)]) {
      const token = tokenOf(url);
      assert.deepEqual(await verifyPlaybackToken(SIGNING_KEY, "cam1", token, h.clock), {
        valid: true,
        expiresAt: expires,
      });
      assert.equal((await verifyPlaybackToken(SIGNING_KEY, "cam2", token, h.clock)).valid, false);
    }
    const live = await (await h.call("/api/v1/live", { token: PLAYBACK_TOKEN })).json();
    assert.match(live.streams[0].hls, /\?token=\d+\.[A-Za-z0-9_-]{43}$/);
    const byAdmin = await h.call("/api/v1/streams/cam1/playback", { token: ADMIN_TOKEN });
    assert.equal(byAdmin.status, 200, "the admin token may fetch signed URLs too");
    tokenOf((await byAdmin.json()).hls);
  }],

  [
    "signed playback: anonymous /playback is 401 saying so, anonymous /live carries no token",
    async (h) => {
      h.configure({ PLAYBACK_SIGNING_KEY: SIGNING_KEY, PLAYBACK_API_TOKEN: PLAYBACK_TOKEN });
      await h.live("cam1");
      await h.live("cam2");
      await h.node("edge", "e1");
      for (let i = 0; i < 12; i++) {
        const res = await h.call("/api/v1/streams/cam1/playback", { token: null });
        assert.equal(res.headers.get("www-authenticate"), 'Bearer realm="playback"');
        await expectError(
          res,
          401,
          "signed_playback",
          /^Playback signing is on: .*PLAYBACK_API_TOKEN/,
        );
      }
      const res = await h.call("/api/v1/live", { token: null });
      assert.equal(res.status, 200);
      const text = await res.text();
      assert.ok(!text.includes("token"), `anonymous /live holds a token: ${text}`);
      assert.deepEqual(JSON.parse(text), {
        streams: ["cam1", "cam2"].map((name) => ({
          name,
          originId: "o1",
          startedAt: new Date(h.clock - 60_000).toISOString(),
          playbackUrl: `https://api.test/api/v1/streams/${name}/playback`,
          hls: null,
          llhls: null,
          master: null,
          llmaster: null,
          renditions: [],
          standby: [],
          ...NO_ENCODER_FIGURES,
        })),
      });
      // Missing tokens are no guesses: the caller with the token is not throttled by them.
      const ok = await h.call("/api/v1/streams/cam1/playback", { token: PLAYBACK_TOKEN });
      assert.equal(ok.status, 200);
      tokenOf((await ok.json()).hls);
    },
  ],

  [
    "signed playback: wrong tokens are 401 then 429 in their own realm; the token opens no admin route",
    async (h) => {
      h.configure({ PLAYBACK_SIGNING_KEY: SIGNING_KEY, PLAYBACK_API_TOKEN: PLAYBACK_TOKEN });
      await h.live("cam1");
      const ip = "203.0.113.9";
      for (let i = 0; i < 10; i++) {
        const res = await h.call("/api/v1/streams/cam1/playback", {
          token: `${PLAYBACK_TOKEN}x`,
          ip,
        });
        assert.equal(res.headers.get("www-authenticate"), 'Bearer realm="playback"');
        await expectError(res, 401, "unauthorized", /PLAYBACK_API_TOKEN or API_ADMIN_TOKEN/);
      }
      await expectError(
        await h.call("/api/v1/live", { token: `${PLAYBACK_TOKEN}x`, ip }),
        429,
        "too_many_requests",
      );
      await expectError(
        await h.call("/api/v1/streams/cam1/playback", { token: PLAYBACK_TOKEN, ip }),
        429,
      );
      assert.equal((await h.call("/api/v1/streams", { ip })).status, 200, "admin realm apart");
      assert.match(
        h.metrics.render(),
        /cascade_api_auth_failures_total\{realm="playback"\} 10/,
      );
      await expectError(
        await h.call("/api/v1/streams", { token: PLAYBACK_TOKEN }),
        401,
        "unauthorized",
      );
      await expectError(
        await h.call("/api/v1/streams/cam1", { method: "DELETE", token: PLAYBACK_TOKEN }),
        401,
      );
    },
  ],

  ["signed playback without any token configured refuses callers with 503", async (h) => {
    h.configure({ PLAYBACK_SIGNING_KEY: SIGNING_KEY, API_ADMIN_TOKEN: "" });
    await h.live("cam1");
    await expectError(
      await h.call("/api/v1/streams/cam1/playback", { token: "some-token-0123456789" }),
      503,
      "not_configured",
      /PLAYBACK_API_TOKEN/,
    );
    await expectError(
      await h.call("/api/v1/streams/cam1/playback", { token: null }),
      401,
      "signed_playback",
    );
  }],

  [
    "GET /streams/{name}/playback?ttl= sets the token's lifetime within the configured maximum",
    async (h) => {
      h.configure({
        PLAYBACK_SIGNING_KEY: SIGNING_KEY,
        PLAYBACK_API_TOKEN: PLAYBACK_TOKEN,
        PLAYBACK_TOKEN_MAX_TTL_SECONDS: "3600",
        PLAYBACK_TOKEN_TTL_SECONDS: "1800",
      });
      await h.live("cam1");
      await h.node("edge", "e1");
      const nowSeconds = Math.floor(h.clock / 1000);
      for (const [query, ttl] of [["?ttl=120", 120], ["?ttl=3600", 3600], ["", 1800]] as const) {
        const body = await (await h.call(`/api/v1/streams/cam1/playback${query}`, {
          token: PLAYBACK_TOKEN,
        })).json();
        assert.equal(body.expiresAt, new Date((nowSeconds + ttl) * 1000).toISOString(), query);
        const token = tokenOf(body.hls);
        assert.deepEqual(await verifyPlaybackToken(SIGNING_KEY, "cam1", token, h.clock), {
          valid: true,
          expiresAt: nowSeconds + ttl,
        });
        const after = (nowSeconds + ttl + 1) * 1000;
        assert.deepEqual(await verifyPlaybackToken(SIGNING_KEY, "cam1", token, after), {
          valid: false,
          reason: "expired",
        });
      }
      const live = await (await h.call("/api/v1/live?ttl=300", { token: PLAYBACK_TOKEN })).json();
      assert.ok(tokenOf(live.streams[0].hls).startsWith(`${nowSeconds + 300}.`));
      for (const ttl of ["3601", "59", "1.5", "soon"]) {
        await expectError(
          await h.call(`/api/v1/streams/cam1/playback?ttl=${ttl}`, { token: PLAYBACK_TOKEN }),
          400,
          "invalid_request",
          /query parameter "ttl"/,
        );
      }
    },
  ],
];
