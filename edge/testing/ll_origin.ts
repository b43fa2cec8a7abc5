/**
 * A synthetic LL-HLS origin for the edge's tests and its LL bench: a real HTTP server
 * (`Deno.serve` on loopback) that answers `ll.m3u8`, its init section, parts and segments
 * with the blocking semantics of docs/architecture.md, "LL-HLS": a blocking reload is held
 * until the playlist has the part asked for (503 after `holdMs`, 404 on `unpublish()`), the
 * hinted part is held until it exists (404 after `holdMs`), any other missing file is a 404
 * at once, and a held request whose client went away is counted in `aborted`. The media
 * moves only when the caller says so — `addPart()` by hand, or `run(partMs)` on a timer —
 * so tests decide exactly when each blocked request may be answered. Every request is
 * recorded as path plus query.
 */
import { box } from "@cascade/media/mp4/boxes";

export interface LlOriginOptions {
  /** Prefix of every media file name (default `k1`). */
  prefix?: string;
  /** `#EXT-X-TARGETDURATION`, seconds (default 1). */
  targetDuration?: number;
  /** `PART-TARGET`, seconds (default 0.25). */
  partTarget?: number;
  /** Parts per segment (default 4). */
  partsPerSegment?: number;
  /** Media sequence number of the first segment (default 10). */
  firstMsn?: number;
  /** Longest hold of a blocking request (default 3 target durations). */
  holdMs?: number;
  /** Payload bytes of a part (default 1000). */
  partBytes?: number;
  /** Sibling playlists (`../cam_240p/ll.m3u8`) reported at this one's own position. */
  renditionReports?: string[];
}

/** Complete segments listed, and segments of those listed with their parts. */
const WINDOW_SEGMENTS = 6;
const PART_SEGMENTS = 3;

const PART_RE = /^p(\d+)\.(\d+)\.m4s$/;
const SEGMENT_RE = /^s(\d+)\.m4s$/;
const NUMBER_RE = /^\d+$/;

export class LlOrigin implements AsyncDisposable {
  readonly url: string;
  readonly prefix: string;
  readonly targetDuration: number;
  readonly partTarget: number;
  readonly partsPerSegment: number;
  /** Requests received, as path plus query, in order. */
  readonly requests: string[] = [];
  /** Held requests whose client went away before the answer. */
  aborted = 0;
  readonly #firstMsn: number;
  readonly #holdMs: number;
  readonly #partBytes: number;
  readonly #reports: string[];
  readonly #server: Deno.HttpServer;
  /** The segment being built, and how many of its parts are complete. */
  #msn: number;
  #parts = 0;
  #live = true;
  #closed = false;
  #changed = Promise.withResolvers<void>();
  #timer: ReturnType<typeof setInterval> | undefined;

  constructor(opts: LlOriginOptions = {}) {
    this.prefix = opts.prefix ?? "k1";
    this.targetDuration = opts.targetDuration ?? 1;
    this.partTarget = opts.partTarget ?? 0.25;
    this.partsPerSegment = opts.partsPerSegment ?? 4;
    this.#firstMsn = opts.firstMsn ?? 10;
    this.#msn = this.#firstMsn;
    this.#holdMs = opts.holdMs ?? 3 * this.targetDuration * 1000;
    this.#partBytes = opts.partBytes ?? 1000;
    this.#reports = opts.renditionReports ?? [];
    this.#server = Deno.serve(
      { hostname: "127.0.0.1", port: 0, onListen: () => {} },
      (req) => this.#handle(req),
    );
    this.url = `http://127.0.0.1:${(this.#server.addr as Deno.NetAddr).port}`;
  }

  /** Requests for exactly `pathAndQuery` (e.g. `/live/cam/ll.m3u8?_HLS_msn=10`). */
  count(pathAndQuery: string): number {
    return this.requests.filter((r) => r === pathAndQuery).length;
  }

  /** The segment being built and the number of its complete parts: the next part's place. */
  get next(): { msn: number; part: number } {
    return { msn: this.#msn, part: this.#parts };
  }

  /** File name of part `part` of segment `msn`. */
  partName(msn: number, part: number): string {
    return `${this.prefix}_p${msn}.${part}.m4s`;
  }

  /** Completes the next part (and its segment after the last one); held requests re-check. */
  addPart(): void {
    this.#parts++;
    if (this.#parts === this.partsPerSegment) {
      this.#msn++;
      this.#parts = 0;
    }
    this.#wake();
  }

  /** Adds a part every `partMs` until `stop()` or `close()`. */
  run(partMs: number): void {
    this.stop();
    this.#timer = setInterval(() => this.addPart(), partMs);
  }

  stop(): void {
    clearInterval(this.#timer);
    this.#timer = undefined;
  }

  /** The publisher left: held requests get 404. */
  unpublish(): void {
    this.#live = false;
    this.#wake();
  }

  /** The bytes of part `part` of segment `msn`: a `moof` and an `mdat` box. */
  part(msn: number, part: number): Uint8Array<ArrayBuffer> {
    const payload = new Uint8Array(this.#partBytes);
    for (let i = 0; i < payload.length; i++) payload[i] = (msn * 31 + part * 7 + i) & 0xff;
    const sequence = new Uint8Array(8);
    new DataView(sequence.buffer).setUint32(4, msn * this.partsPerSegment + part);
    return concat([box("moof", box("mfhd", sequence)), box("mdat", payload)]);
  }

  /** The playlist as it stands now. */
  playlist(): string {
    const firstListed = Math.max(this.#firstMsn, this.#msn - WINDOW_SEGMENTS);
    const lines = [
      "#EXTM3U",
      "#EXT-X-VERSION:9",
      `#EXT-X-TARGETDURATION:${this.targetDuration}`,
      `#EXT-X-SERVER-CONTROL:CAN-BLOCK-RELOAD=YES,PART-HOLD-BACK=${3 * this.partTarget},` +
      `CAN-SKIP-UNTIL=${6 * this.targetDuration}`,
      `#EXT-X-PART-INF:PART-TARGET=${this.partTarget}`,
      `#EXT-X-MEDIA-SEQUENCE:${firstListed}`,
      "#EXT-X-DISCONTINUITY-SEQUENCE:0",
      `#EXT-X-MAP:URI="${this.prefix}_init.mp4"`,
    ];
    const partLines = (msn: number, count: number) => {
      for (let i = 0; i < count; i++) {
        const independent = i === 0 ? ",INDEPENDENT=YES" : "";
        lines.push(
          `#EXT-X-PART:DURATION=${this.partTarget},URI="${this.partName(msn, i)}"${independent}`,
        );
      }
    };
    for (let msn = firstListed; msn < this.#msn; msn++) {
      if (msn >= this.#msn - PART_SEGMENTS) partLines(msn, this.partsPerSegment);
      lines.push(
        `#EXTINF:${(this.partsPerSegment * this.partTarget).toFixed(3)},`,
        `${this.prefix}_s${msn}.m4s`,
      );
    }
    partLines(this.#msn, this.#parts);
    lines.push(`#EXT-X-PRELOAD-HINT:TYPE=PART,URI="${this.partName(this.#msn, this.#parts)}"`);
    const [lastMsn, lastPart] = this.#parts > 0
      ? [this.#msn, this.#parts - 1]
      : [this.#msn - 1, this.partsPerSegment - 1];
    for (const uri of this.#reports) {
      lines.push(`#EXT-X-RENDITION-REPORT:URI="${uri}",LAST-MSN=${lastMsn},LAST-PART=${lastPart}`);
    }
    return lines.join("\n") + "\n";
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.stop();
    this.#wake();
    await this.#server.shutdown();
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }

  #wake(): void {
    this.#changed.resolve();
    this.#changed = Promise.withResolvers<void>();
  }

  async #handle(req: Request): Promise<Response> {
    const url = new URL(req.url);
    this.requests.push(url.pathname + url.search);
    const file = url.pathname.split("/")[3] ?? "";
    if (file === "ll.m3u8") return await this.#playlistReply(req, url.searchParams);
    if (!file.startsWith(`${this.prefix}_`)) return status(404);
    const rest = file.slice(this.prefix.length + 1);
    if (rest === "init.mp4") {
      return media(concat([box("ftyp", new TextEncoder().encode("iso6")), box("moov")]));
    }
    const segment = SEGMENT_RE.exec(rest);
    if (segment !== null) {
      const msn = Number(segment[1]);
      if (msn >= this.#msn) return status(404);
      const parts = Array.from({ length: this.partsPerSegment }, (_, i) => this.part(msn, i));
      return media(concat(parts));
    }
    const part = PART_RE.exec(rest);
    if (part === null) return status(404);
    const [msn, index] = [Number(part[1]), Number(part[2])];
    const exists = () => msn < this.#msn || (msn === this.#msn && index < this.#parts);
    const hinted = msn === this.#msn && index === this.#parts;
    if (!exists() && !hinted) return status(404);
    const outcome = await this.#hold(req, exists);
    return outcome === "ready" ? media(this.part(msn, index)) : status(404);
  }

  async #playlistReply(req: Request, query: URLSearchParams): Promise<Response> {
    const msnText = query.get("_HLS_msn");
    const partText = query.get("_HLS_part");
    if (msnText === null) {
      if (partText !== null) return status(400);
      return playlistResponse(this.playlist(), "public, max-age=1");
    }
    if (!NUMBER_RE.test(msnText) || (partText !== null && !NUMBER_RE.test(partText))) {
      return status(400);
    }
    const msn = Number(msnText);
    const part = partText === null ? 0 : Number(partText);
    if (msn > this.#msn + 2) return status(400);
    const satisfied = () => msn < this.#msn || (msn === this.#msn && part < this.#parts);
    const outcome = await this.#hold(req, satisfied);
    if (outcome === "ready") return playlistResponse(this.playlist(), "public, max-age=60");
    return status(outcome === "gone" ? 404 : 503);
  }

  /** Waits until `ready()` holds, the publisher leaves, the hold ends or the client goes. */
  async #hold(
    req: Request,
    ready: () => boolean,
  ): Promise<"ready" | "gone" | "timeout" | "aborted"> {
    const deadline = Date.now() + this.#holdMs;
    const left = Promise.withResolvers<void>();
    const onAbort = () => left.resolve();
    if (req.signal.aborted) onAbort();
    req.signal.addEventListener("abort", onAbort, { once: true });
    try {
      return await this.#wait(ready, deadline, left.promise);
    } finally {
      // Only a client leaving during the hold counts, not the end of the answer.
      req.signal.removeEventListener("abort", onAbort);
    }
  }

  async #wait(
    ready: () => boolean,
    deadline: number,
    aborted: Promise<void>,
  ): Promise<"ready" | "gone" | "timeout" | "aborted"> {
    while (true) {
      if (ready()) return "ready";
      if (!this.#live || this.#closed) return "gone";
      const left = deadline - Date.now();
      if (left <= 0) return "timeout";
      let timer: ReturnType<typeof setTimeout> | undefined;
      const woke = await Promise.race([
        this.#changed.promise.then(() => "changed" as const),
        aborted.then(() => "aborted" as const),
        new Promise<"timeout">((resolve) => (timer = setTimeout(() => resolve("timeout"), left))),
      ]);
      clearTimeout(timer);
      if (woke === "aborted") {
        this.aborted++;
        return "aborted";
      }
    }
  }
}

function concat(chunks: Uint8Array[]): Uint8Array<ArrayBuffer> {
  const out = new Uint8Array(chunks.reduce((n, c) => n + c.byteLength, 0));
  let at = 0;
  for (const c of chunks) {
    out.set(c, at);
    at += c.byteLength;
  }
  return out;
}

function media(body: Uint8Array<ArrayBuffer>): Response {
  return new Response(body, {
    headers: {
      "Content-Type": "video/mp4",
      "Cache-Control": "public, max-age=31536000, immutable",
    },
  });
}

function playlistResponse(text: string, cacheControl: string): Response {
  return new Response(text, {
    headers: { "Content-Type": "application/vnd.apple.mpegurl", "Cache-Control": cacheControl },
  });
}

function status(code: number): Response {
  return new Response(JSON.stringify({ error: { code: String(code), message: "test origin" } }), {
    status: code,
    headers: { "Content-Type": "application/json", "Cache-Control": "no-store" },
  });
}
