import assert from "node:assert/strict";
import { edgeServers, placeholders, render, TEMPLATES } from "./render.ts";

Deno.test("render() fills upper-case placeholders and leaves nginx variables alone", () => {
  const out = render("listen ${BIND}:${PORT}; set $x ${PORT}; proxy_set_header Host $host;", {
    BIND: "127.0.0.1",
    PORT: "8080",
  });
  assert.equal(out, "listen 127.0.0.1:8080; set $x 8080; proxy_set_header Host $host;");
});

Deno.test("render() names every placeholder without a value", () => {
  assert.throws(
    () => render("${A} ${B} ${C}", { B: "1", C: "" }),
    (err) => err instanceof TypeError && /no value for A, C$/.test(err.message),
  );
});

Deno.test("render() refuses values that would change the file's structure", () => {
  for (const bad of ["x; } server {", "a#b", "{"]) {
    assert.throws(() => render("${V}", { V: bad }), RangeError);
  }
});

Deno.test("placeholders() lists each name once, in order of first use", () => {
  assert.deepEqual(placeholders("${B} $b ${A} ${B} ${lower} ${A_1}"), ["B", "A", "A_1"]);
});

Deno.test("edgeServers() writes one server line per address with passive-check parameters", () => {
  assert.equal(
    edgeServers(["127.0.0.1:8000", "edge-2:8000"], { maxFails: 3, failTimeout: "5s" }),
    "server 127.0.0.1:8000 max_fails=3 fail_timeout=5s;\n" +
      "        server edge-2:8000 max_fails=3 fail_timeout=5s;",
  );
  assert.throws(() => edgeServers([]), RangeError);
  assert.throws(() => edgeServers(["edge-1"]), TypeError);
});

Deno.test("the templates use exactly the placeholders their headers document", async () => {
  const expected = {
    rtmpOrigin: [
      "RTMP_MODULE",
      "BIND",
      "RTMP_PORT",
      "HTTP_PORT",
      "API_URL",
      "HOOK_TOKEN",
      "HLS_PATH",
    ],
    edgeLb: ["BIND", "HTTP_PORT", "EDGE_SERVERS"],
  };
  for (const [name, url] of Object.entries(TEMPLATES)) {
    const text = await Deno.readTextFile(url);
    const used = placeholders(text.replace(/^#.*$/gm, ""));
    const documented = [...text.matchAll(/^# {3}([A-Z][A-Z0-9_]+) /gm)].map((m) => m[1]!);
    assert.deepEqual(used.sort(), [...expected[name as keyof typeof expected]].sort(), name);
    assert.deepEqual(documented.sort(), used.sort(), `${name}: header and body disagree`);
  }
});
