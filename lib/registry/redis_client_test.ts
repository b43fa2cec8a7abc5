import assert from "node:assert/strict";
import { Redis } from "../../tests/helpers/ioredis.ts";
import { startRedis } from "../../tests/helpers/redis.ts";
import { freePort } from "../../tests/helpers/ports.ts";
import { waitFor } from "../../tests/helpers/wait.ts";
import { parseRedisUrl, RedisClient, type RedisClientOptions } from "./redis_client.ts";
import { ReplyError } from "./resp.ts";

function options(url: string, more: Partial<RedisClientOptions> = {}): RedisClientOptions {
  return {
    server: { url },
    connectionName: "cascade-test",
    connectTimeoutMs: 1000,
    retryDelayMs: () => 50,
    ...more,
  };
}

async function ready(client: RedisClient): Promise<void> {
  await waitFor("the client to be ready", () => client.status === "ready", { timeoutMs: 5000 });
}

Deno.test("parseRedisUrl reads TLS, user, password, port and database", () => {
  assert.deepEqual(parseRedisUrl("rediss://al%40ice:p%3Aw@[::1]:6380/3"), {
    address: { host: "::1", port: 6380, tls: true },
    username: "al@ice",
    password: "p:w",
    db: 3,
  });
  assert.deepEqual(parseRedisUrl("redis://:pw@cache"), {
    address: { host: "cache", port: 6379, tls: false },
    username: undefined,
    password: "pw",
    db: 0,
  });
  assert.throws(() => parseRedisUrl("http://cache:6379"), TypeError);
  assert.throws(() => parseRedisUrl("redis://cache/x"), TypeError);
});

Deno.test("RedisClient authenticates as the URL's user, selects its database and names itself", async () => {
  await using redis = await startRedis({
    args: ["--user", "alice", "on", ">sesame", "~*", "&*", "+@all"],
  });
  const client = new RedisClient(options(`redis://alice:sesame@127.0.0.1:${redis.port}/3`));
  const raw = new Redis(`${redis.url}/3`);
  try {
    await ready(client);
    assert.equal(client.db, 3);
    assert.equal(await client.call("SET", "k", "é"), "OK");
    assert.equal(await raw.get("k"), "é", "written in database 3");
    const clients = String(await raw.call("CLIENT", "LIST"));
    assert.match(clients, /name=cascade-test .*user=alice/);
    await assert.rejects(client.call("NOSUCHCOMMAND"), ReplyError);
    assert.equal(await client.call("PING"), "PONG", "the connection survives a refused command");
  } finally {
    raw.disconnect();
    await client.close();
  }
});

Deno.test("RedisClient with a wrong password never becomes ready and says why", async () => {
  await using redis = await startRedis({
    args: ["--user", "alice", "on", ">sesame", "~*", "+@all"],
  });
  const client = new RedisClient(options(`redis://alice:wrong@127.0.0.1:${redis.port}`));
  const reasons: Error[] = [];
  client.on("close", (err) => reasons.push(err));
  try {
    await waitFor("two failed attempts", () => reasons.length >= 2, { timeoutMs: 5000 });
    assert.match(reasons[0]!.message, /WRONGPASS/);
    assert.notEqual(client.status, "ready");
    await assert.rejects(client.call("PING"), /connection is/);
  } finally {
    await client.close();
  }
  assert.equal(client.status, "end");
});

Deno.test("a subscriber RedisClient subscribes again after Redis restarts and hears messages", async () => {
  await using redis = await startRedis();
  const client = new RedisClient(options(redis.url, { subscriber: true }));
  const heard: string[] = [];
  client.on("message", (channel, message) => heard.push(`${channel}=${message}`));
  const raw = new Redis(redis.url);
  try {
    await client.subscribe("a");
    await client.subscribe("b");
    await client.unsubscribe("b");
    await raw.publish("a", "1");
    await raw.publish("b", "x");
    await waitFor("the first message", () => heard.length > 0, { timeoutMs: 5000 });

    await redis.kill();
    await redis.restart();
    await waitFor("a message after the restart", async () => {
      await raw.publish("a", "2").catch(() => 0);
      await raw.publish("b", "y").catch(() => 0);
      return heard.includes("a=2");
    }, { timeoutMs: 10_000, intervalMs: 100 });
    assert.deepEqual([...new Set(heard)], ["a=1", "a=2"], "never b, which was unsubscribed");
  } finally {
    raw.disconnect();
    await client.close();
  }
});

Deno.test("a RedisClient whose server stops answering drops the connection and comes back when it answers again", async () => {
  await using redis = await startRedis();
  const client = new RedisClient(options(redis.url, { staleAfterMs: 300 }));
  const reasons: string[] = [];
  client.on("close", (err) => reasons.push(err.message));
  const proc = redis.process!;
  try {
    await ready(client);
    proc.child.kill("SIGSTOP");
    const unanswered = client.call("PING");
    unanswered.catch(() => {});
    await waitFor("the stale connection to be dropped", () => {
      // Not awaited: a call to a frozen server is never answered; a later one ends the link.
      client.call("PING").catch(() => {});
      return reasons.some((r) => r.startsWith("no reply for 300 ms"));
    }, { timeoutMs: 5000, intervalMs: 100 });
    await assert.rejects(unanswered, /no reply for 300 ms/);
    proc.child.kill("SIGCONT");
    await ready(client);
    assert.equal(await client.call("PING"), "PONG");
  } finally {
    proc.child.kill("SIGCONT");
    await client.close();
  }
});

/** A CA and a server certificate for localhost / 127.0.0.1 signed by it, in `dir`. */
async function makeCertificates(dir: string): Promise<void> {
  const openssl = async (...args: string[]) => {
    const out = await new Deno.Command("openssl", { args, cwd: dir, stderr: "piped" }).output();
    if (!out.success) {
      throw new Error(`openssl ${args[0]}: ${new TextDecoder().decode(out.stderr)}`);
    }
  };
  await Deno.writeTextFile(`${dir}/ext.cnf`, "subjectAltName=DNS:localhost,IP:127.0.0.1\n");
  await openssl(
    "req",
    "-x509",
    "-newkey",
    "rsa:2048",
    "-nodes",
    "-keyout",
    "ca.key",
    "-out",
    "ca.pem",
    "-days",
    "1",
    "-subj",
    "/CN=cascade-test-ca",
  );
  await openssl(
    "req",
    "-newkey",
    "rsa:2048",
    "-nodes",
    "-keyout",
    "server.key",
    "-out",
    "server.csr",
    "-subj",
    "/CN=localhost",
  );
  await openssl(
    "x509",
    "-req",
    "-in",
    "server.csr",
    "-CA",
    "ca.pem",
    "-CAkey",
    "ca.key",
    "-CAcreateserial",
    "-out",
    "server.pem",
    "-days",
    "1",
    "-extfile",
    "ext.cnf",
  );
}

Deno.test("RedisClient speaks TLS to a rediss:// URL and refuses a server whose certificate it cannot trust", async () => {
  const dir = await Deno.makeTempDir({ prefix: "cascade-redis-tls-" });
  try {
    await makeCertificates(dir);
    const tlsPort = freePort();
    await using _redis = await startRedis({
      args: [
        "--tls-port",
        String(tlsPort),
        "--tls-cert-file",
        `${dir}/server.pem`,
        "--tls-key-file",
        `${dir}/server.key`,
        "--tls-ca-cert-file",
        `${dir}/ca.pem`,
        "--tls-auth-clients",
        "no",
      ],
    });
    // Deno reads the extra CA (DENO_CERT, as operators with a private CA set it) at start, so
    // the client runs in a process of its own.
    await Deno.writeTextFile(
      `${dir}/client.ts`,
      `
      import { RedisClient } from ${
        JSON.stringify(new URL("./redis_client.ts", import.meta.url).href)
      };
      const c = new RedisClient({ server: { url: "rediss://localhost:${tlsPort}" },
        connectionName: "tls-test", connectTimeoutMs: 2000, retryDelayMs: () => 100 });
      let closed = false;
      c.on("close", (err) => { closed = true; console.log("closed: " + err.message); });
      const until = Date.now() + 5000;
      while (c.status !== "ready" && !closed && Date.now() < until) {
        await new Promise((r) => setTimeout(r, 20));
      }
      console.log(c.status === "ready" ? "reply: " + await c.call("PING") : "never ready");
      await c.close();
    `,
    );
    const run = async (env: Record<string, string>) => {
      const out = await new Deno.Command(Deno.execPath(), {
        args: [
          "run",
          "-A",
          "--config",
          new URL("../../deno.json", import.meta.url).pathname,
          `${dir}/client.ts`,
        ],
        env,
        stdout: "piped",
        stderr: "piped",
      }).output();
      return new TextDecoder().decode(out.stdout);
    };
    assert.match(await run({ DENO_CERT: `${dir}/ca.pem` }), /^reply: PONG$/m);
    const untrusted = await run({});
    assert.match(untrusted, /closed: .*certificate/);
    assert.match(untrusted, /never ready/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
