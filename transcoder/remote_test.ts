import assert from "node:assert/strict";
import { wsUrl } from "./remote.ts";

Deno.test("wsUrl() turns an origin's public base into the WebSocket URL of an internal path", () => {
  assert.equal(
    wsUrl("http://10.0.0.5:8081", "/internal/feed/cam"),
    "ws://10.0.0.5:8081/internal/feed/cam",
  );
  assert.equal(
    wsUrl("https://origin.example.com/", "/internal/renditions/cam_240p"),
    "wss://origin.example.com/internal/renditions/cam_240p",
  );
  assert.equal(
    wsUrl("https://cdn.example.com/origin-2", "/internal/feed/cam"),
    "wss://cdn.example.com/origin-2/internal/feed/cam",
  );
});
