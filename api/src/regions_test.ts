import assert from "node:assert/strict";
import fc from "../../tests/helpers/fast_check.ts";
import { parseIp, parseRegionCidrs } from "./regions.ts";

Deno.test("parseIp() reads IPv4, IPv6 and IPv4-mapped IPv6 addresses", () => {
  const cases: [string, number[] | null][] = [
    ["10.1.2.3", [10, 1, 2, 3]],
    ["0.0.0.0", [0, 0, 0, 0]],
    ["255.255.255.255", [255, 255, 255, 255]],
    ["::ffff:10.1.2.3", [10, 1, 2, 3]],
    ["::FFFF:0a01:0203", [10, 1, 2, 3]],
    ["[::ffff:10.1.2.3]", [10, 1, 2, 3]],
    ["::1", [...new Array(15).fill(0), 1]],
    ["::", new Array(16).fill(0)],
    ["2001:db8::5", [0x20, 0x01, 0x0d, 0xb8, ...new Array(11).fill(0), 5]],
    ["fe80::1%eth0", [0xfe, 0x80, ...new Array(13).fill(0), 1]],
    ["1:2:3:4:5:6:7:8", [0, 1, 0, 2, 0, 3, 0, 4, 0, 5, 0, 6, 0, 7, 0, 8]],
    ["1:2:3:4:5:6:1.2.3.4", [0, 1, 0, 2, 0, 3, 0, 4, 0, 5, 0, 6, 1, 2, 3, 4]],
    ["64:ff9b::1.2.3.4", [0, 0x64, 0xff, 0x9b, ...new Array(8).fill(0), 1, 2, 3, 4]],
    ["10.1.2", null],
    ["10.1.2.3.4", null],
    ["10.1.2.256", null],
    ["010.1.2.3", null],
    ["1.2.3.-1", null],
    ["1::2::3", null],
    ["1:2:3:4:5:6:7:8:9", null],
    ["1:2:3:4:5:6:7", null],
    ["12345::", null],
    ["::1.2.3", null],
    ["g::1", null],
    ["", null],
    ["localhost", null],
  ];
  for (const [text, bytes] of cases) {
    const got = parseIp(text);
    assert.deepEqual(got === null ? null : [...got], bytes, text);
  }
});

Deno.test("parseIp() never throws on arbitrary text", () => {
  fc.assert(fc.property(fc.string({ maxLength: 60 }), (text) => {
    const got = parseIp(text);
    assert.ok(got === null || got.length === 4 || got.length === 16);
  }));
  fc.assert(fc.property(fc.ipV4(), (ip) => {
    assert.deepEqual([...parseIp(ip)!], ip.split(".").map(Number));
  }));
  fc.assert(fc.property(fc.ipV6(), (ip) => {
    const got = parseIp(ip);
    assert.ok(got !== null && (got.length === 16 || got.length === 4), ip);
  }));
});

Deno.test("RegionMap.lookup() answers the most specific network", () => {
  const map = parseRegionCidrs(
    " 10.0.0.0/8=eu, 10.9.0.0/16=us,192.168.1.7=lab,2001:db8::/32=us,0.0.0.0/0=world ",
  );
  assert.equal(map.size, 5);
  assert.equal(map.lookup("10.1.2.3"), "eu");
  assert.equal(map.lookup("10.9.255.1"), "us");
  assert.equal(map.lookup("::ffff:10.9.0.1"), "us");
  assert.equal(map.lookup("192.168.1.7"), "lab");
  assert.equal(map.lookup("192.168.1.8"), "world");
  assert.equal(map.lookup("2001:db8:1::1"), "us");
  assert.equal(map.lookup("2001:db9::1"), undefined);
  assert.equal(map.lookup("not an ip"), undefined);
  assert.equal(parseRegionCidrs("").lookup("10.0.0.1"), undefined);
  const odd = parseRegionCidrs("10.128.0.0/9=high,10.0.0.0/9=low");
  assert.equal(odd.lookup("10.200.0.1"), "high");
  assert.equal(odd.lookup("10.100.0.1"), "low");
});

Deno.test("parseRegionCidrs() names the bad entry", () => {
  const bad: [string, RegExp][] = [
    ["10.0.0.0/8", /entry 1 must look like/],
    ["10.0.0.0/8=eu,10.0.0.0/33=us", /entry 2 needs a prefix length of 0-32/],
    ["2001:db8::/129=us", /prefix length of 0-128/],
    ["10.0.0.0/x=eu", /prefix length/],
    ["10.1.0.0/8=eu", /entry 1 has host bits set/],
    ["10.0.0.300/8=eu", /invalid IP address/],
    ["10.0.0.0/8=e u", /invalid region name/],
    ["10.0.0.0/8=", /invalid region name/],
  ];
  for (const [spec, like] of bad) assert.throws(() => parseRegionCidrs(spec), like, spec);
});
