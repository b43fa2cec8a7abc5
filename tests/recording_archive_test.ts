/**
 * Archive acceptance against a real S3-compatible server (npm `s3rver` on a random port):
 * every chunk of a real broadcast arrives with bytes equal to the local file; a restart
 * re-uploads nothing; an uploader SIGKILLed in the middle of a multipart upload resumes
 * from the ledger and completes with no duplicate object and no part sent again that the
 * ledger had; a verified upload with `S3_DELETE_LOCAL` leaves only the archived copy,
 * which listings then point at.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { Archive } from "../recording/archive.ts";
import { LEDGER_FILE, readLedger } from "../recording/ledger.ts";
import { listRecordings } from "../recording/api.ts";
import { startTestRecording } from "../recording/testing/recording.ts";
import { listDir } from "./helpers/files.ts";
import { captureLog } from "./helpers/log.ts";
import { publish } from "./helpers/media.ts";
import { startTestOrigin } from "./helpers/origin.ts";
import { TestProcess } from "./helpers/process.ts";
import { startS3 } from "./helpers/s3.ts";
import { delay, waitFor } from "./helpers/wait.ts";

const ARCHIVE_MAIN = new URL("../recording/archive_main.ts", import.meta.url).pathname;

async function tempDir(prefix: string) {
  const path = await Deno.makeTempDir({ prefix });
  return {
    path,
    [Symbol.asyncDispose]: () => Deno.remove(path, { recursive: true }).catch(() => {}),
  };
}

Deno.test("every recorded chunk reaches object storage with equal bytes, once", async () => {
  await using s3 = await startS3();
  await using origin = await startTestOrigin();
  await using dir = await tempDir("cascade-rec-");
  {
    // The recording closes at the end of this block, before the restart below.
    await using rec = await startTestRecording(origin.hub, {
      dir: dir.path,
      env: { RECORD_CHUNK_SECONDS: "4", S3_PREFIX: "/vod/", ...s3.env },
      deps: { s3Client: s3.client },
    });
    const { log, recording } = rec;
    const ff = publish(origin.rtmpUrl("test_key_1234"), { seconds: 12 });
    assert.equal((await ff.status).code, 0, ff.output);
    await waitFor("the recorder to stop", () => log.events("record.stop").length === 1, {
      timeoutMs: 15_000,
    });
    const files = (await listDir(join(dir.path, "alpha"))).filter((n) => n.endsWith(".mp4"));
    assert.ok(files.length >= 3, `chunks: ${files.join(", ")}`);
    await waitFor("every chunk to be uploaded", async () => {
      await recording.archive!.idle();
      return (await s3.objects()).length === files.length;
    }, { timeoutMs: 20_000 });
    const objects = await s3.objects();
    assert.deepEqual(objects.map((o) => o.key).sort(), files.map((f) => `vod/alpha/${f}`));
    for (const f of files) {
      const local = await Deno.readFile(join(dir.path, "alpha", f));
      assert.deepEqual(await s3.get(`vod/alpha/${f}`), local, `${f} bytes equal`);
      assert.equal(recording.archive!.isArchived(join(dir.path, "alpha", f)), true);
    }
    const listed = await recording.list("alpha");
    assert.ok(listed.every((r) => r.archived && r.archiveUrl?.startsWith(s3.endpoint)));
  }

  // A restart reads the ledger and sends nothing.
  const again = new Archive({
    dir: dir.path,
    bucket: s3.bucket,
    prefix: "vod",
    client: s3.client,
    deleteLocal: false,
    log: captureLog(),
  });
  await again.start();
  await again.idle();
  await again.close();
  assert.equal(again.requests.size, 0, `requests: ${[...again.requests].join(", ")}`);
});

/** A TCP relay to `port` that passes client bytes at most `bytesPerSecond` (a slow uplink). */
function slowRelay(port: number, bytesPerSecond: number) {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const conns = new Set<Deno.Conn>();
  const pipe = async (from: Deno.Conn, to: Deno.Conn, limit: number) => {
    const buf = new Uint8Array(16 * 1024);
    const started = performance.now();
    let sent = 0;
    try {
      while (true) {
        const n = await from.read(buf);
        if (n === null) break;
        let at = 0;
        while (at < n) at += await to.write(buf.subarray(at, n));
        sent += n;
        const aheadMs = (sent / limit) * 1000 - (performance.now() - started);
        if (aheadMs > 0) await delay(aheadMs);
      }
    } catch { /* either side went away */ }
    for (const c of [from, to]) {
      try {
        c.close();
      } catch { /* closed */ }
    }
  };
  (async () => {
    for await (const client of listener) {
      const server = await Deno.connect({ hostname: "127.0.0.1", port });
      conns.add(client).add(server);
      void pipe(client, server, bytesPerSecond);
      void pipe(server, client, Infinity);
    }
  })().catch(() => {});
  return {
    url: `http://127.0.0.1:${(listener.addr as Deno.NetAddr).port}`,
    close() {
      listener.close();
      for (const c of conns) {
        try {
          c.close();
        } catch { /* closed */ }
      }
    },
  };
}

function uploader(dir: string, env: Record<string, string>): TestProcess {
  return new TestProcess(Deno.execPath(), {
    args: ["run", "-A", ARCHIVE_MAIN],
    env: {
      ...env,
      RECORD_DIR: dir,
      S3_PART_MB: "5",
      LOG_LEVEL: "debug",
      LOG_FORMAT: "json",
      NO_COLOR: "1",
    },
  });
}

function events(output: string, event: string): Record<string, unknown>[] {
  return output.split("\n").filter((l) => l.startsWith("{")).map((l) => JSON.parse(l))
    .filter((l) => l.event === event);
}

Deno.test("an uploader killed mid multipart upload resumes and completes without duplicates", async () => {
  await using s3 = await startS3();
  await using dir = await tempDir("cascade-rec-");
  const file = "2026-01-02T03-04-05.678Z-1.mp4";
  const path = join(dir.path, "alpha", file);
  await Deno.mkdir(join(dir.path, "alpha"));
  const bytes = new Uint8Array(23 * 1024 * 1024); // 5 parts of 5 MiB
  for (let i = 0; i < bytes.length; i += 65536) {
    crypto.getRandomValues(bytes.subarray(i, i + 65536));
  }
  await Deno.writeFile(path, bytes);
  const ledgerPath = join(dir.path, "alpha", LEDGER_FILE);

  const relay = slowRelay(s3.port, 4 * 1024 * 1024);
  let partsAtKill: number;
  try {
    const first = uploader(dir.path, { ...s3.env, S3_ENDPOINT: relay.url });
    partsAtKill = await waitFor("two parts in the ledger", async () => {
      first.giveUpIfExited();
      const entry = (await readLedger(ledgerPath)).files[file];
      const parts = Array.isArray(entry?.parts) ? entry.parts.length : 0;
      return parts >= 2 ? parts : undefined;
    }, { timeoutMs: 60_000, intervalMs: 20 });
    await first.stop("SIGKILL");
  } finally {
    relay.close();
  }
  const killed = (await readLedger(ledgerPath)).files[file]!;
  assert.equal(killed.state, "uploading");
  assert.ok(Array.isArray(killed.parts) && killed.parts.length < 5, "killed mid upload");
  partsAtKill = killed.parts.length;
  assert.deepEqual(await s3.objects(), [], "nothing completed before the kill");

  const second = uploader(dir.path, s3.env);
  assert.equal((await second.status).code, 0, second.output);
  const resumed = events(second.output, "archive.resume");
  assert.equal(resumed.length, 1, second.output);
  assert.equal(resumed[0]!.partsDone, partsAtKill);
  assert.equal(events(second.output, "archive.part").length, 5 - partsAtKill);
  const objects = await s3.objects();
  assert.deepEqual(objects.map((o) => [o.key, o.size]), [[`alpha/${file}`, bytes.length]]);
  assert.deepEqual(await s3.get(`alpha/${file}`), bytes);
  const done = (await readLedger(ledgerPath)).files[file]!;
  assert.equal(done.state, "uploaded");
  assert.equal(done.verified, true);

  // A third run finds nothing to do.
  const third = uploader(dir.path, s3.env);
  assert.equal((await third.status).code, 0, third.output);
  assert.equal(events(third.output, "archive.uploaded").length, 0, third.output);
  assert.equal((await s3.objects()).length, 1);
});

Deno.test("S3_DELETE_LOCAL removes a verified upload and listings point at the archive", async () => {
  await using s3 = await startS3();
  await using dir = await tempDir("cascade-rec-");
  await Deno.mkdir(join(dir.path, "beta"));
  const file = "2026-01-02T03-04-05.678Z-1.mp4";
  const bytes = crypto.getRandomValues(new Uint8Array(60_000));
  await Deno.writeFile(join(dir.path, "beta", file), bytes);
  const archive = new Archive({
    dir: dir.path,
    bucket: s3.bucket,
    prefix: "",
    client: s3.client,
    deleteLocal: true,
    endpoint: s3.endpoint,
    log: captureLog(),
  });
  await archive.start();
  await archive.idle();
  await archive.close();
  await assert.rejects(Deno.stat(join(dir.path, "beta", file)), Deno.errors.NotFound);
  assert.deepEqual(await s3.get(`beta/${file}`), bytes);
  const list = await listRecordings(dir.path, "beta", { archive });
  assert.equal(list.length, 1);
  assert.equal(list[0]!.url, `${s3.endpoint}/${s3.bucket}/beta/${file}`);
  assert.equal(list[0]!.size, bytes.length);
  const res = await fetch(list[0]!.url);
  assert.deepEqual(new Uint8Array(await res.arrayBuffer()), bytes, "the URL downloads the file");
});
