import assert from "node:assert/strict";
import { encoderWarnings } from "./encoder_warnings.ts";
import { streamMedia } from "./testing/records.ts";

Deno.test("encoderWarnings() names a keyframe interval above the segment duration and its fix", () => {
  assert.deepEqual(encoderWarnings(streamMedia({ keyframeInterval: 8.333, frameRate: 30 })), [{
    code: "keyframe_interval",
    message: "Keyframe interval 8.3 s — set 2 s in OBS → Settings → Output (ffmpeg: -g 60)",
  }]);
  assert.deepEqual(
    encoderWarnings(streamMedia({ keyframeInterval: 5, frameRate: null, segmentSeconds: 1.5 })),
    [{
      code: "keyframe_interval",
      message: "Keyframe interval 5 s — set 1.5 s in OBS → Settings → Output " +
        "(ffmpeg: -g <1.5×fps>)",
    }],
  );
});

Deno.test("encoderWarnings() is quiet for fitting, unmeasured or missing figures", () => {
  assert.deepEqual(encoderWarnings(streamMedia({ keyframeInterval: 2 })), []);
  assert.deepEqual(encoderWarnings(streamMedia({ keyframeInterval: 2.08 })), [], "jitter");
  assert.deepEqual(encoderWarnings(streamMedia({ keyframeInterval: 1 })), []);
  assert.deepEqual(encoderWarnings(streamMedia({ keyframeInterval: null })), [], "audio only");
  assert.deepEqual(encoderWarnings(undefined), [], "a record without figures");
  assert.equal(encoderWarnings(streamMedia({ keyframeInterval: 2.2 })).length, 1);
});
