/**
 * Record checks of `validate.ts` as both backends apply them on write: a stream, VOD or node
 * record whose URL is not plain http(s) (another scheme, or credentials in it) is refused
 * with a `TypeError` before anything is stored, so no reader is ever told to fetch it.
 */
import assert from "node:assert/strict";
import { startRedis } from "../../tests/helpers/redis.ts";
import { quietLog } from "../common/testing/log.ts";
import { streamMedia, streamRecord, vodRecord } from "./testing/records.ts";
import { MemoryRegistry } from "./memory.ts";
import { RedisRegistry } from "./redis.ts";
import type { NodeRecord, Registry, StreamMedia } from "./types.ts";
import { checkHttpUrl, checkNode, checkStream } from "./validate.ts";

const BAD_URLS = [
  "file:///etc/passwd",
  "javascript:alert(1)",
  "gopher://origin.test:70/",
  "http://user:pw@origin.test:8081",
  "https://user@origin.test",
  "not a url",
  "",
];

function node(url: string): NodeRecord {
  return { id: "o1", kind: "origin", url, region: "local", load: 0, startedAt: 1 };
}

/** Every write that carries a URL, with `url` in each URL field, refused and storing nothing. */
async function assertRefusesBadUrls(registry: Registry): Promise<void> {
  for (const url of BAD_URLS) {
    const manifest = "http://origin.test:8081/live/cam/index.m3u8";
    const writes: [string, () => Promise<unknown>][] = [
      [
        "claimStream originUrl",
        () => registry.claimStream(streamRecord("cam", "o1", { originUrl: url, manifest }), 5000),
      ],
      [
        "claimStream manifest",
        () => registry.claimStream(streamRecord("cam", "o1", { manifest: url }), 5000),
      ],
      [
        "refreshStream",
        () => registry.refreshStream(streamRecord("cam", "o1", { originUrl: url, manifest }), 5000),
      ],
      [
        "announceVod originUrl",
        () => registry.announceVod(vodRecord("cam", "o1", { originUrl: url, manifest }), 5000),
      ],
      [
        "announceVod manifest",
        () => registry.announceVod(vodRecord("cam", "o1", { manifest: url }), 5000),
      ],
      ["announceNode", () => registry.announceNode(node(url))],
    ];
    for (const [what, write] of writes) {
      await assert.rejects(write, TypeError, `${what} with ${JSON.stringify(url)}`);
    }
  }
  assert.equal(await registry.getStream("cam"), null);
  assert.equal(await registry.getVod("cam"), null);
  assert.deepEqual(await registry.listNodes(), []);
  // The same records with http(s) URLs are accepted.
  assert.ok((await registry.claimStream(streamRecord("cam", "o1"), 5000)).ok);
  assert.ok(
    await registry.announceVod(vodRecord("cam", "o1", { originUrl: "https://o1.test" }), 5000),
  );
  await registry.announceNode(node("https://o1.test/base"));
  assert.equal((await registry.listNodes()).length, 1);
}

Deno.test("MemoryRegistry refuses records whose URLs are not plain http(s)", async () => {
  const registry = new MemoryRegistry({ log: quietLog });
  try {
    await assertRefusesBadUrls(registry);
  } finally {
    await registry.close();
  }
});

Deno.test("RedisRegistry refuses records whose URLs are not plain http(s)", async () => {
  await using server = await startRedis();
  const registry = new RedisRegistry({ url: server.url, prefix: "validate:", log: quietLog });
  try {
    await assertRefusesBadUrls(registry);
  } finally {
    await registry.close();
  }
});

Deno.test("checkHttpUrl() names the field and never echoes the URL (it may carry a password)", () => {
  assert.throws(
    () => checkHttpUrl("origin URL", "http://user:secret@origin.test"),
    (err: unknown) =>
      err instanceof TypeError &&
      err.message === "Invalid origin URL: credentials are not allowed in the URL",
  );
  assert.throws(() => checkHttpUrl("node URL", "file:///etc/passwd"), {
    name: "TypeError",
    message: "Invalid node URL: expected an http(s) URL",
  });
  checkHttpUrl("origin URL", "http://10.0.0.5:8081");
  checkHttpUrl("origin URL", "https://origin.example.com/prefix/");
});

Deno.test("checkStream() takes a record with or without media figures, refusing bad ones", () => {
  checkStream(streamRecord("cam"));
  checkStream(streamRecord("cam", "o1", { media: streamMedia() }));
  const unknown = streamMedia({ keyframeInterval: null, frameRate: null, width: null });
  checkStream(streamRecord("cam", "o1", { media: { ...unknown, height: null, bitrate: null } }));
  const bad: [string, unknown][] = [
    ["keyframeInterval", -1],
    ["frameRate", Number.NaN],
    ["width", "1280"],
    ["bitrate", Infinity],
    ["height", undefined],
    ["segmentSeconds", 0],
    ["segmentSeconds", null],
  ];
  for (const [field, value] of bad) {
    const media = { ...streamMedia(), [field]: value } as StreamMedia;
    assert.throws(
      () => checkStream(streamRecord("cam", "o1", { media })),
      { name: "RangeError", message: `Invalid media.${field}: ${JSON.stringify(value)}` },
    );
  }
  const notObject = null as unknown as StreamMedia;
  assert.throws(() => checkStream(streamRecord("cam", "o1", { media: notObject })), TypeError);
  const codecs = 7 as unknown as string;
  assert.throws(() => checkStream(streamRecord("cam", "o1", { codecs })), TypeError);
});

Deno.test("checkStream() takes ll as a boolean or absent and refuses anything else", () => {
  checkStream(streamRecord("cam", "o1", { ll: true }));
  checkStream(streamRecord("cam", "o1", { ll: false }));
  for (const ll of ["true", 1, null]) {
    assert.throws(
      () => checkStream(streamRecord("cam", "o1", { ll: ll as unknown as boolean })),
      { name: "TypeError", message: `Invalid ll: ${JSON.stringify(ll)}` },
    );
  }
});

Deno.test("Both registries refuse a stream record with bad media figures, storing nothing", async () => {
  await using server = await startRedis();
  const registries: Registry[] = [
    new MemoryRegistry({ log: quietLog }),
    new RedisRegistry({ url: server.url, prefix: "validate-media:", log: quietLog }),
  ];
  try {
    for (const registry of registries) {
      const media = streamMedia({ frameRate: -30 });
      await assert.rejects(
        registry.claimStream(streamRecord("cam", "o1", { media }), 5000),
        RangeError,
      );
      assert.equal(await registry.getStream("cam"), null);
    }
  } finally {
    for (const registry of registries) await registry.close();
  }
});

Deno.test("checkNode() takes usage figures that are finite and not negative", () => {
  const usage = { cpu: 0.25, rss: 50_000_000, egressBitsPerSecond: 8_000_000 };
  checkNode({ ...node("https://o1.test"), ...usage });
  for (const [field, value] of [["cpu", -1], ["rss", Infinity], ["egressBitsPerSecond", NaN]]) {
    assert.throws(
      () => checkNode({ ...node("https://o1.test"), [field as string]: value }),
      { name: "TypeError", message: `Invalid ${field}: expected a finite number ≥ 0` },
    );
  }
  assert.throws(
    () => checkNode({ ...node("https://o1.test"), cpu: "1" as unknown as number }),
    TypeError,
  );
});

Deno.test("checkNode() takes the three node kinds and refuses any other", () => {
  for (const kind of ["origin", "edge", "transcoder"] as const) {
    checkNode({ ...node("http://n1.test:8085"), kind });
  }
  assert.throws(
    () => checkNode({ ...node("http://n1.test:8085"), kind: "viewer" as "edge" }),
    { name: "TypeError", message: 'Invalid node kind: "viewer"' },
  );
});
