/**
 * A container health check without curl: `deno run --allow-net tools/healthcheck.ts PORT|URL`
 * exits 0 when the URL (for a port: `http://127.0.0.1:PORT/healthz`) answers 2xx within 3 s,
 * else 1 with one line saying why. Used by docker-compose.yml for the Deno services, whose
 * image has no HTTP client.
 */

async function check(url: string): Promise<string | undefined> {
  try {
    const res = await fetch(url, { signal: AbortSignal.timeout(3000) });
    await res.body?.cancel();
    return res.ok ? undefined : `${url} answered ${res.status}`;
  } catch (err) {
    return `${url} did not answer: ${(err as Error).message}`;
  }
}

if (import.meta.main) {
  const [target] = Deno.args;
  if (target === undefined) {
    console.error("Usage: deno run --allow-net tools/healthcheck.ts PORT|URL");
    Deno.exit(2);
  }
  const url = /^\d+$/.test(target) ? `http://127.0.0.1:${target}/healthz` : target;
  const problem = await check(url);
  if (problem !== undefined) console.error(problem);
  Deno.exit(problem === undefined ? 0 : 1);
}
