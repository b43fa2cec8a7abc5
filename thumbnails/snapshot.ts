/**
 * One ffmpeg run: an Annex-B keyframe in on stdin, one JPEG out on stdout. The run is bounded
 * in time (killed with SIGKILL after the timeout, so a hung ffmpeg cannot pile up) and in
 * output (a picture larger than `MAX_JPEG_BYTES` is refused). A program that cannot be
 * started at all is a `FfmpegUnavailableError`, which the caller reports once rather than
 * on every interval.
 */

/** A thumbnail is a few tens of kilobytes; anything this large is not one. */
export const MAX_JPEG_BYTES = 4 * 1024 * 1024;
/** Characters of ffmpeg's stderr kept for the error message when it fails. */
const STDERR_TAIL_CHARS = 500;

/** ffmpeg took longer than the timeout and was killed. */
export class SnapshotTimeoutError extends Error {
  override name = "SnapshotTimeoutError";
}

/** The program could not be started (missing, not executable). */
export class FfmpegUnavailableError extends Error {
  override name = "FfmpegUnavailableError";
}

export interface SnapshotOptions {
  ffmpeg: string;
  height: number;
  timeoutMs: number;
}

/** ffmpeg's arguments: raw H.264 in, the first picture scaled to `height` out as MJPEG. */
function ffmpegArgs(height: number): string[] {
  return [
    "-hide_banner",
    "-loglevel",
    "error",
    "-f",
    "h264",
    "-i",
    "pipe:0",
    "-frames:v",
    "1",
    "-vf",
    `scale=-2:${height}`,
    "-q:v",
    "5",
    "-f",
    "mjpeg",
    "pipe:1",
  ];
}

/**
 * Decodes `annexB` (parameter sets and one keyframe) into a JPEG `height` pixels high.
 * Throws `FfmpegUnavailableError` when ffmpeg cannot start, `SnapshotTimeoutError` when it
 * is killed for taking too long, `Error` when it fails or writes no picture.
 */
export async function snapshot(
  annexB: Uint8Array,
  opts: SnapshotOptions,
): Promise<Uint8Array<ArrayBuffer>> {
  let child: Deno.ChildProcess;
  try {
    child = new Deno.Command(opts.ffmpeg, {
      args: ffmpegArgs(opts.height),
      stdin: "piped",
      stdout: "piped",
      stderr: "piped",
    }).spawn();
  } catch (err) {
    throw new FfmpegUnavailableError(`Cannot start ffmpeg: ${(err as Error).message}`);
  }
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    try {
      child.kill("SIGKILL");
    } catch {
      // Already gone.
    }
  }, opts.timeoutMs);
  try {
    const input = (async () => {
      const writer = child.stdin.getWriter();
      try {
        await writer.write(annexB);
        await writer.close();
      } catch {
        // ffmpeg closed its input early (it failed, or was killed): its status says which.
      }
    })();
    const [jpeg, stderr, status] = await Promise.all([
      readBounded(child.stdout, MAX_JPEG_BYTES),
      new Response(child.stderr).text(),
      child.status,
      input,
    ]);
    if (timedOut) throw new SnapshotTimeoutError(`ffmpeg timed out after ${opts.timeoutMs} ms`);
    if (!status.success) {
      throw new Error(
        `ffmpeg exited with code ${status.code}: ${stderr.slice(-STDERR_TAIL_CHARS)}`,
      );
    }
    if (jpeg === null) throw new Error(`ffmpeg wrote more than ${MAX_JPEG_BYTES} bytes`);
    if (jpeg.length < 2 || jpeg[0] !== 0xff || jpeg[1] !== 0xd8) {
      throw new Error("ffmpeg wrote no JPEG");
    }
    return jpeg;
  } finally {
    clearTimeout(timer);
  }
}

/** The whole stream, or null (and the rest drained) when it exceeds `limit` bytes. */
async function readBounded(
  stream: ReadableStream<Uint8Array>,
  limit: number,
): Promise<Uint8Array<ArrayBuffer> | null> {
  const chunks: Uint8Array[] = [];
  let size = 0;
  for await (const chunk of stream) {
    size += chunk.length;
    if (size <= limit) chunks.push(chunk);
  }
  if (size > limit) return null;
  const out = new Uint8Array(size);
  let at = 0;
  for (const c of chunks) {
    out.set(c, at);
    at += c.length;
  }
  return out;
}
