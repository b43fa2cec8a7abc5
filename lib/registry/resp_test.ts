import assert from "node:assert/strict";
import { encodeCommand, type Reply, ReplyError, RespParser } from "./resp.ts";

const text = (bytes: Uint8Array) => new TextDecoder().decode(bytes);
const bytes = (s: string) => new TextEncoder().encode(s);

Deno.test("encodeCommand writes an array of bulk strings with lengths in bytes", () => {
  assert.equal(
    text(encodeCommand(["SET", "k", "é✓", 42])),
    "*4\r\n$3\r\nSET\r\n$1\r\nk\r\n$5\r\né✓\r\n$2\r\n42\r\n",
  );
  assert.equal(text(encodeCommand(["GET", ""])), "*2\r\n$3\r\nGET\r\n$0\r\n\r\n");
});

/** Every reply type, nested, with a multi-byte character and a CRLF inside a bulk string. */
const STREAM = "+OK\r\n-ERR wrong\r\n:-12\r\n$-1\r\n*-1\r\n$8\r\né\r\nx✓\r\n" +
  "*2\r\n:1\r\n*3\r\n$7\r\ncreated\r\n$0\r\n\r\n*0\r\n";
const EXPECTED: Reply[] = ["OK", new ReplyError("ERR wrong"), -12, null, null, "é\r\nx✓", [1, [
  "created",
  "",
  [],
]]];

function parseAll(chunks: Uint8Array[]): Reply[] {
  const parser = new RespParser();
  const out: Reply[] = [];
  for (const chunk of chunks) {
    parser.push(chunk);
    for (let r = parser.next(); r !== undefined; r = parser.next()) out.push(r.reply);
  }
  return out;
}

Deno.test("RespParser gives the same replies however the bytes are cut", () => {
  const all = bytes(STREAM);
  const whole = parseAll([all]);
  assert.deepEqual(whole, EXPECTED);
  assert.ok(whole[1] instanceof ReplyError);
  // One byte at a time, splitting CRLFs and the UTF-8 sequences; the buffer is reused.
  const scratch = new Uint8Array(1);
  const parser = new RespParser();
  const out: Reply[] = [];
  for (const b of all) {
    scratch[0] = b;
    parser.push(scratch);
    for (let r = parser.next(); r !== undefined; r = parser.next()) out.push(r.reply);
  }
  assert.deepEqual(out, EXPECTED);
  for (let cut = 1; cut < all.length; cut++) {
    assert.deepEqual(parseAll([all.subarray(0, cut), all.subarray(cut)]), EXPECTED, `cut ${cut}`);
  }
});

Deno.test("RespParser refuses bytes that are not RESP2", () => {
  for (const bad of ["?x\r\n", ":12a\r\n", "$-5\r\n", "*-3\r\n", "$99999999999\r\n"]) {
    const parser = new RespParser();
    parser.push(bytes(bad));
    assert.throws(() => parser.next(), SyntaxError, bad);
  }
});
