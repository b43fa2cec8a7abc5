/**
 * Endpoint cases for the public routes: the live directory and per-viewer playback (region
 * by query, header, address or default; load and rendezvous spreading; signed URLs). Run by
 * `suite.ts`.
 */
import assert from "node:assert/strict";
import { verifyPlaybackToken } from "@cascade/common/playback_token";
import { type ApiCase, type CallOptions, expectError, SIGNING_KEY } from "./harness.ts";

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
      })),
    });
    await expectError(await h.call("/api/v1/live?region=a%20b", { token: null }), 400);
  }],

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

  ["GET /streams/{name}/playback signs HLS URLs when PLAYBACK_SIGNING_KEY is set", async (h) => {
    h.configure({ PLAYBACK_SIGNING_KEY: SIGNING_KEY, PLAYBACK_TOKEN_TTL_SECONDS: "600" });
    await h.live("cam1");
    await h.node("edge", "e1");
    await h.node("edge", "e2");
    const body = await (await h.call("/api/v1/streams/cam1/playback", { token: null })).json();
    const expires = Math.floor(h.clock / 1000) + 600;
    assert.equal(body.expiresAt, new Date(expires * 1000).toISOString());
    for (const url of [body.hls, ...body.edges.map((e: { hls: string }) => e.hls)]) {
      const token = new URL(url).searchParams.get("token");
      assert.ok(token, `no token in ${url}`);
      assert.deepEqual(await verifyPlaybackToken(SIGNING_KEY, "cam1", token, h.clock), {
        valid: true,
        expiresAt: expires,
      });
      assert.equal((await verifyPlaybackToken(SIGNING_KEY, "cam2", token, h.clock)).valid, false);
    }
    const live = await (await h.call("/api/v1/live", { token: null })).json();
    assert.match(live.streams[0].hls, /\?token=\d+\.[A-Za-z0-9_-]{43}$/);
  }],
];
