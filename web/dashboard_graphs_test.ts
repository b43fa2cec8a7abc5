import assert from "node:assert/strict";
import { sparklinePath } from "./static/dashboard_graphs.js";

Deno.test("sparklinePath() spreads samples over the width and scales values from 0 to the top", () => {
  const d = sparklinePath([{ t: 1000, v: 0 }, { t: 2000, v: 5 }, { t: 3000, v: 10 }], 80, 22);
  // One pixel of margin top and bottom: 0 is at y = 21, the largest value at y = 1.
  assert.equal(d, "M0.0 21.0 L40.0 11.0 L80.0 1.0");
});

Deno.test("sparklinePath() draws nothing from fewer than two samples and survives flat data", () => {
  assert.equal(sparklinePath([], 80, 22), "");
  assert.equal(sparklinePath([{ t: 1, v: 3 }], 80, 22), "");
  assert.equal(sparklinePath([{ t: 5, v: 0 }, { t: 5, v: 0 }], 80, 22), "M0.0 21.0 L0.0 21.0");
});
