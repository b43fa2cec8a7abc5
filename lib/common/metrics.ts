/**
 * A small Prometheus registry: counters, gauges and fixed-bucket histograms, optionally
 * labelled, rendered in the text exposition format 0.0.4 for `GET /metrics`. Increments sit
 * on per-request and per-frame paths, so a labelled series is a child object found once with
 * `.labels(...)` (a lookup through nested maps, no key string built) and kept by the caller;
 * its label text is escaped once when the child is created, and only `render()` builds strings.
 */
import { log } from "./log.ts";

/** The `Content-Type` of `MetricsRegistry.render()` output. */
export const PROMETHEUS_CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8";

/** Bucket upper bounds used when a histogram is given none (the Prometheus client default). */
export const DEFAULT_BUCKETS: readonly number[] = [
  0.005,
  0.01,
  0.025,
  0.05,
  0.1,
  0.25,
  0.5,
  1,
  2.5,
  5,
  10,
];

const METRIC_NAME_RE = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;
const LABEL_NAME_RE = /^[a-zA-Z_][a-zA-Z0-9_]*$/;

export type MetricType = "counter" | "gauge" | "histogram";

/** Formats a sample value the way Prometheus parses it (`+Inf`, `-Inf`, `NaN`). */
export function formatValue(value: number): string {
  if (value === Infinity) return "+Inf";
  if (value === -Infinity) return "-Inf";
  return String(value);
}

/** Escapes a label value: backslash, double quote and line feed. */
export function escapeLabelValue(value: string): string {
  return value.replace(/[\\"\n]/g, (ch) => ch === "\n" ? "\\n" : `\\${ch}`);
}

function escapeHelp(help: string): string {
  return help.replace(/[\\\n]/g, (ch) => ch === "\n" ? "\\n" : "\\\\");
}

function labelText(names: readonly string[], values: readonly string[]): string {
  let text = "";
  for (let i = 0; i < names.length; i++) {
    const value = values[i];
    if (typeof value !== "string") {
      throw new TypeError(`Cannot use label ${names[i]}: value must be a string`);
    }
    text += `${i === 0 ? "" : ","}${names[i]}="${escapeLabelValue(value)}"`;
  }
  return text;
}

function braces(text: string): string {
  return text === "" ? "" : `{${text}}`;
}

type Node<C> = Map<string, Node<C> | C>;

/** What every metric shares: name, help, label names and the cache of labelled children. */
abstract class Metric<C> {
  abstract readonly type: MetricType;
  readonly name: string;
  readonly help: string;
  readonly labelNames: readonly string[];
  readonly #tree: Node<C> = new Map();
  #children: C[] = [];
  #root: C | undefined;

  constructor(name: string, help: string, labelNames: readonly string[]) {
    if (!METRIC_NAME_RE.test(name)) throw new TypeError(`Invalid metric name: ${name}`);
    const seen = new Set<string>();
    for (const label of labelNames) {
      if (!LABEL_NAME_RE.test(label) || label.startsWith("__")) {
        throw new TypeError(`Invalid label name for ${name}: ${label}`);
      }
      if (seen.has(label)) throw new TypeError(`Invalid label names for ${name}: ${label} twice`);
      seen.add(label);
    }
    this.name = name;
    this.help = help;
    this.labelNames = [...labelNames];
  }

  /** Builds a child for one label set; `labels` is already escaped, without braces. */
  protected abstract create(labels: string): C;

  /** Appends the sample lines of one child. */
  protected abstract renderChild(child: C, out: string[]): void;

  /** The series for these label values (one per label name, in order), created on first use. */
  labels(...values: string[]): C {
    const n = this.labelNames.length;
    if (values.length !== n) {
      throw new TypeError(
        `Cannot select series of ${this.name}: expected ${n} label values, got ${values.length}`,
      );
    }
    if (n === 0) return this.root;
    let node = this.#tree;
    for (let i = 0; i < n - 1; i++) {
      const next = node.get(values[i]!) as Node<C> | undefined;
      if (next === undefined) return this.#insert(values);
      node = next;
    }
    return (node.get(values[n - 1]!) as C | undefined) ?? this.#insert(values);
  }

  #insert(values: readonly string[]): C {
    const text = labelText(this.labelNames, values);
    let node = this.#tree;
    for (let i = 0; i < values.length - 1; i++) {
      let next = node.get(values[i]!) as Node<C> | undefined;
      if (next === undefined) {
        next = new Map();
        node.set(values[i]!, next);
      }
      node = next;
    }
    const child = this.create(text);
    node.set(values[values.length - 1]!, child);
    this.#children.push(child);
    return child;
  }

  /** The series of a metric declared without labels. */
  protected get root(): C {
    return this.#root ?? this.#ensureRoot();
  }

  #ensureRoot(): C {
    if (this.#root !== undefined) return this.#root;
    if (this.labelNames.length > 0) {
      throw new TypeError(
        `Cannot use ${this.name} without labels: select a series with .labels(${
          this.labelNames.join(", ")
        })`,
      );
    }
    this.#root = this.create("");
    this.#children.push(this.#root);
    return this.#root;
  }

  /**
   * Forgets every series (an unlabelled metric starts again from zero). Children handed out
   * before stay usable but are no longer rendered; callers that cache children must re-select.
   */
  reset(): void {
    this.#tree.clear();
    this.#children = [];
    this.#root = undefined;
  }

  /** Runs before rendering; gauges override it to call their collectors. */
  prepare(): void {}

  /** Appends HELP, TYPE and sample lines to `out`. */
  renderTo(out: string[]): void {
    out.push(`# HELP ${this.name} ${escapeHelp(this.help)}`, `# TYPE ${this.name} ${this.type}`);
    if (this.labelNames.length === 0) this.#ensureRoot();
    for (const child of this.#children) this.renderChild(child, out);
  }
}

/** One series of a counter: a value that only goes up. */
export class CounterChild {
  /** The label text, escaped, without braces; empty for an unlabelled counter. */
  readonly labelText: string;
  value = 0;

  constructor(labelText: string) {
    this.labelText = labelText;
  }

  /** Adds `amount` (default 1); a negative or NaN amount is a `RangeError`. */
  inc(amount = 1): void {
    if (!(amount >= 0)) throw new RangeError(`Cannot increase a counter by ${amount}`);
    this.value += amount;
  }
}

/** A monotonically increasing total, e.g. requests served or bytes sent. */
export class Counter extends Metric<CounterChild> {
  readonly type = "counter";

  protected create(labels: string): CounterChild {
    return new CounterChild(labels);
  }

  protected renderChild(child: CounterChild, out: string[]): void {
    out.push(`${this.name}${braces(child.labelText)} ${formatValue(child.value)}`);
  }

  /** Adds to the unlabelled series. */
  inc(amount = 1): void {
    this.root.inc(amount);
  }

  /** The value of the unlabelled series. */
  get value(): number {
    return this.root.value;
  }
}

/** One series of a gauge: a value that goes up and down. */
export class GaugeChild {
  /** The label text, escaped, without braces; empty for an unlabelled gauge. */
  readonly labelText: string;
  value = 0;

  constructor(labelText: string) {
    this.labelText = labelText;
  }

  set(value: number): void {
    this.value = value;
  }

  inc(amount = 1): void {
    this.value += amount;
  }

  dec(amount = 1): void {
    this.value -= amount;
  }
}

/**
 * Computes a gauge when the registry renders. A returned number sets the unlabelled series;
 * a collector of a labelled gauge sets its series itself (and may `reset()` first so that
 * series which disappeared are not rendered any more).
 */
export type GaugeCollector = (gauge: Gauge) => number | void;

/** A value that can go up and down, e.g. live streams or cache bytes. */
export class Gauge extends Metric<GaugeChild> {
  readonly type = "gauge";
  #collectors: GaugeCollector[] = [];

  protected create(labels: string): GaugeChild {
    return new GaugeChild(labels);
  }

  protected renderChild(child: GaugeChild, out: string[]): void {
    out.push(`${this.name}${braces(child.labelText)} ${formatValue(child.value)}`);
  }

  set(value: number): void {
    this.root.set(value);
  }

  inc(amount = 1): void {
    this.root.inc(amount);
  }

  dec(amount = 1): void {
    this.root.dec(amount);
  }

  /** The value of the unlabelled series. */
  get value(): number {
    return this.root.value;
  }

  /** Adds a collector run on every render, in the order added. */
  collect(fn: GaugeCollector): this {
    this.#collectors.push(fn);
    return this;
  }

  override prepare(): void {
    for (const fn of this.#collectors) {
      try {
        const value = fn(this);
        if (typeof value === "number") this.set(value);
      } catch (err) {
        log.warn("metrics.collect_failed", { metric: this.name, error: err });
      }
    }
  }
}

/** One series of a histogram: counts per bucket, sum and count. */
export class HistogramChild {
  /** The label text, escaped, without braces; empty for an unlabelled histogram. */
  readonly labelText: string;
  readonly #bounds: readonly number[];
  /** Observations per bucket, not cumulative; the last slot is `+Inf`. */
  readonly counts: Float64Array;
  sum = 0;
  count = 0;

  constructor(labelText: string, bounds: readonly number[]) {
    this.labelText = labelText;
    this.#bounds = bounds;
    this.counts = new Float64Array(bounds.length + 1);
  }

  observe(value: number): void {
    const bounds = this.#bounds;
    let i = 0;
    while (i < bounds.length && !(value <= bounds[i]!)) i++;
    this.counts[i]!++;
    this.sum += value;
    this.count++;
  }
}

/** A distribution over fixed buckets, e.g. request durations in seconds. */
export class Histogram extends Metric<HistogramChild> {
  readonly type = "histogram";
  readonly buckets: readonly number[];
  readonly #le: readonly string[];

  constructor(
    name: string,
    help: string,
    buckets: readonly number[],
    labelNames: readonly string[],
  ) {
    super(name, help, labelNames);
    if (labelNames.includes("le")) throw new TypeError(`Invalid label name for ${name}: le`);
    const bounds = buckets.at(-1) === Infinity ? buckets.slice(0, -1) : [...buckets];
    if (bounds.length === 0) throw new RangeError(`Invalid buckets for ${name}: none given`);
    for (let i = 0; i < bounds.length; i++) {
      const b = bounds[i]!;
      if (!Number.isFinite(b) || (i > 0 && b <= bounds[i - 1]!)) {
        throw new RangeError(`Invalid buckets for ${name}: must be finite and increasing`);
      }
    }
    this.buckets = bounds;
    this.#le = [...bounds.map(formatValue), "+Inf"].map((v) => `le="${v}"`);
  }

  protected create(labels: string): HistogramChild {
    return new HistogramChild(labels, this.buckets);
  }

  protected renderChild(child: HistogramChild, out: string[]): void {
    const prefix = child.labelText === "" ? "" : `${child.labelText},`;
    let cumulative = 0;
    for (let i = 0; i < this.#le.length; i++) {
      cumulative += child.counts[i]!;
      out.push(`${this.name}_bucket{${prefix}${this.#le[i]}} ${formatValue(cumulative)}`);
    }
    const labels = braces(child.labelText);
    out.push(
      `${this.name}_sum${labels} ${formatValue(child.sum)}`,
      `${this.name}_count${labels} ${formatValue(child.count)}`,
    );
  }

  /** Records one observation in the unlabelled series. */
  observe(value: number): void {
    this.root.observe(value);
  }
}

type AnyMetric = Counter | Gauge | Histogram;

function sameList(a: readonly unknown[], b: readonly unknown[]): boolean {
  return a.length === b.length && a.every((v, i) => v === b[i]);
}

/**
 * The metrics of one process. Asking again for a metric of the same name, type, labels (and
 * buckets) returns the one already registered, so two apps composed on one registry share it;
 * anything else under a taken name is a `TypeError`.
 */
export class MetricsRegistry {
  readonly #metrics = new Map<string, AnyMetric>();

  counter(name: string, help: string, labelNames: readonly string[] = []): Counter {
    const found = this.#existing(name, "counter", labelNames);
    if (found) return found as Counter;
    return this.#add(new Counter(name, help, labelNames));
  }

  gauge(name: string, help: string, labelNames: readonly string[] = []): Gauge {
    const found = this.#existing(name, "gauge", labelNames);
    if (found) return found as Gauge;
    return this.#add(new Gauge(name, help, labelNames));
  }

  histogram(
    name: string,
    help: string,
    buckets: readonly number[] = DEFAULT_BUCKETS,
    labelNames: readonly string[] = [],
  ): Histogram {
    const made = new Histogram(name, help, buckets, labelNames);
    const found = this.#existing(name, "histogram", labelNames) as Histogram | undefined;
    if (!found) return this.#add(made);
    if (!sameList(found.buckets, made.buckets)) {
      throw new TypeError(`Cannot register ${name}: already registered with other buckets`);
    }
    return found;
  }

  /** The metric registered under `name`, if any. */
  get(name: string): AnyMetric | undefined {
    return this.#metrics.get(name);
  }

  /** Runs gauge collectors, then renders every metric in registration order. */
  render(): string {
    const out: string[] = [];
    for (const metric of this.#metrics.values()) {
      metric.prepare();
      metric.renderTo(out);
    }
    out.push("");
    return out.join("\n");
  }

  #existing(name: string, type: MetricType, labelNames: readonly string[]): AnyMetric | undefined {
    const found = this.#metrics.get(name);
    if (found === undefined) return undefined;
    if (found.type !== type || !sameList(found.labelNames, labelNames)) {
      throw new TypeError(
        `Cannot register ${name}: already registered as a ${found.type} with labels [${
          found.labelNames.join(", ")
        }]`,
      );
    }
    return found;
  }

  #add<M extends AnyMetric>(metric: M): M {
    this.#metrics.set(metric.name, metric);
    return metric;
  }
}
