import assert from "node:assert/strict";
import { configureLogging } from "./log.ts";
import {
  escapeLabelValue,
  formatValue,
  MetricsRegistry,
  PROMETHEUS_CONTENT_TYPE,
} from "./metrics.ts";

Deno.test("MetricsRegistry.render() writes HELP, TYPE and an unlabelled counter starting at 0", () => {
  const r = new MetricsRegistry();
  const c = r.counter("jobs_total", "Jobs done");
  assert.equal(
    r.render(),
    "# HELP jobs_total Jobs done\n# TYPE jobs_total counter\njobs_total 0\n",
  );
  c.inc();
  c.inc(2.5);
  assert.equal(c.value, 3.5);
  assert.match(r.render(), /^jobs_total 3\.5$/m);
  assert.equal(PROMETHEUS_CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8");
});

Deno.test("Counter.labels() returns one cached child per label set, rendered in creation order", () => {
  const r = new MetricsRegistry();
  const c = r.counter("http_requests_total", "Requests", ["method", "status"]);
  const ok = c.labels("GET", "200");
  assert.equal(c.labels("GET", "200"), ok);
  assert.notEqual(c.labels("GET", "404"), ok);
  ok.inc();
  ok.inc();
  c.labels("HEAD", "200").inc();
  assert.equal(
    r.render(),
    [
      "# HELP http_requests_total Requests",
      "# TYPE http_requests_total counter",
      'http_requests_total{method="GET",status="200"} 2',
      'http_requests_total{method="GET",status="404"} 0',
      'http_requests_total{method="HEAD",status="200"} 1',
      "",
    ].join("\n"),
  );
});

Deno.test("Counter rejects negative increments, wrong label counts and non-string values", () => {
  const r = new MetricsRegistry();
  const plain = r.counter("a_total", "A");
  assert.throws(() => plain.inc(-1), RangeError);
  assert.throws(() => plain.inc(NaN), RangeError);
  const labelled = r.counter("b_total", "B", ["x", "y"]);
  assert.throws(() => labelled.inc(), TypeError);
  assert.throws(() => labelled.labels("only-one"), TypeError);
  assert.throws(() => labelled.labels("1", 2 as unknown as string), TypeError);
  assert.doesNotThrow(() => r.render());
  assert.doesNotMatch(r.render(), /b_total\{/);
});

Deno.test("render() escapes label values and HELP text", () => {
  const r = new MetricsRegistry();
  r.gauge("g", 'Line one\nback\\slash "quoted"', ["path"]).labels('a\\b"c\nd').set(1);
  const text = r.render();
  assert.match(text, /^# HELP g Line one\\nback\\\\slash "quoted"$/m);
  assert.ok(text.includes('g{path="a\\\\b\\"c\\nd"} 1\n'));
  assert.equal(escapeLabelValue('\\"\n'), '\\\\\\"\\n');
});

Deno.test("formatValue() writes +Inf, -Inf and NaN as Prometheus expects", () => {
  assert.equal(formatValue(Infinity), "+Inf");
  assert.equal(formatValue(-Infinity), "-Inf");
  assert.equal(formatValue(NaN), "NaN");
  assert.equal(formatValue(0.25), "0.25");
  assert.equal(formatValue(-3), "-3");
});

Deno.test("Gauge sets, increments and decrements", () => {
  const r = new MetricsRegistry();
  const g = r.gauge("live_streams", "Live streams");
  g.set(5);
  g.inc();
  g.dec(3);
  assert.equal(g.value, 3);
  assert.match(r.render(), /^# TYPE live_streams gauge\nlive_streams 3$/m);
});

Deno.test("Gauge.collect() computes values on every render", () => {
  const r = new MetricsRegistry();
  let n = 1;
  r.gauge("queue_depth", "Depth").collect(() => n);
  assert.match(r.render(), /^queue_depth 1$/m);
  n = 7;
  assert.match(r.render(), /^queue_depth 7$/m);

  const live = new Map([["cam1", 10], ["cam2", 20]]);
  r.gauge("viewers", "Viewers per stream", ["stream"]).collect((g) => {
    g.reset();
    for (const [name, v] of live) g.labels(name).set(v);
  });
  assert.match(r.render(), /^viewers\{stream="cam1"\} 10\nviewers\{stream="cam2"\} 20$/m);
  live.delete("cam1");
  const text = r.render();
  assert.doesNotMatch(text, /cam1/);
  assert.match(text, /^viewers\{stream="cam2"\} 20$/m);
});

Deno.test("Gauge.collect() failures keep the last value and do not break render()", () => {
  configureLogging({ level: "error" });
  try {
    const r = new MetricsRegistry();
    let fail = false;
    r.gauge("flaky", "Flaky").collect(() => {
      if (fail) throw new Error("boom");
      return 4;
    });
    r.counter("after_total", "After").inc();
    assert.match(r.render(), /^flaky 4$/m);
    fail = true;
    const text = r.render();
    assert.match(text, /^flaky 4$/m);
    assert.match(text, /^after_total 1$/m);
  } finally {
    configureLogging({ level: "info" });
  }
});

Deno.test("Histogram renders cumulative buckets, +Inf, sum and count", () => {
  const r = new MetricsRegistry();
  const h = r.histogram("latency_seconds", "Latency", [0.1, 0.5, 1]);
  for (const v of [0.05, 0.1, 0.3, 0.9, 3]) h.observe(v);
  assert.equal(
    r.render(),
    [
      "# HELP latency_seconds Latency",
      "# TYPE latency_seconds histogram",
      'latency_seconds_bucket{le="0.1"} 2',
      'latency_seconds_bucket{le="0.5"} 3',
      'latency_seconds_bucket{le="1"} 4',
      'latency_seconds_bucket{le="+Inf"} 5',
      "latency_seconds_sum 4.35",
      "latency_seconds_count 5",
      "",
    ].join("\n"),
  );
});

Deno.test("Histogram.labels() puts le after the series labels", () => {
  const r = new MetricsRegistry();
  const h = r.histogram("size_bytes", "Size", [100, Infinity], ["kind"]);
  assert.deepEqual(h.buckets, [100]);
  h.labels("ts").observe(50);
  h.labels("ts").observe(500);
  const text = r.render();
  assert.match(text, /^size_bytes_bucket\{kind="ts",le="100"\} 1$/m);
  assert.match(text, /^size_bytes_bucket\{kind="ts",le="\+Inf"\} 2$/m);
  assert.match(text, /^size_bytes_sum\{kind="ts"\} 550$/m);
  assert.match(text, /^size_bytes_count\{kind="ts"\} 2$/m);
});

Deno.test("MetricsRegistry validates names, labels and buckets", () => {
  const r = new MetricsRegistry();
  assert.throws(() => r.counter("bad-name", "x"), TypeError);
  assert.throws(() => r.counter("ok_total", "x", ["bad-label"]), TypeError);
  assert.throws(() => r.counter("ok_total", "x", ["__reserved"]), TypeError);
  assert.throws(() => r.counter("ok_total", "x", ["a", "a"]), TypeError);
  assert.throws(() => r.histogram("h", "x", [1], ["le"]), TypeError);
  assert.throws(() => r.histogram("h", "x", [2, 1]), RangeError);
  assert.throws(() => r.histogram("h", "x", [1, 1]), RangeError);
  assert.throws(() => r.histogram("h", "x", []), RangeError);
  assert.throws(() => r.histogram("h", "x", [NaN]), RangeError);
  assert.equal(r.render(), "");
});

Deno.test("MetricsRegistry returns the registered metric for a compatible repeat, else throws", () => {
  const r = new MetricsRegistry();
  const c = r.counter("shared_total", "Shared", ["status"]);
  assert.equal(r.counter("shared_total", "Shared", ["status"]), c);
  assert.equal(r.get("shared_total"), c);
  assert.throws(() => r.gauge("shared_total", "Shared", ["status"]), TypeError);
  assert.throws(() => r.counter("shared_total", "Shared"), TypeError);
  const h = r.histogram("h_seconds", "H", [1, 2]);
  assert.equal(r.histogram("h_seconds", "H", [1, 2]), h);
  assert.throws(() => r.histogram("h_seconds", "H", [1, 3]), TypeError);
});

Deno.test("Metric.reset() forgets series; unlabelled metrics restart at zero", () => {
  const r = new MetricsRegistry();
  const c = r.counter("r_total", "R", ["k"]);
  c.labels("a").inc();
  c.reset();
  assert.doesNotMatch(r.render(), /r_total\{/);
  assert.equal(c.labels("a").value, 0);
  const plain = r.counter("p_total", "P");
  plain.inc(3);
  plain.reset();
  assert.equal(plain.value, 0);
});
