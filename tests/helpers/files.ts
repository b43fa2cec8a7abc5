/**
 * What a program under test left on disk, read back for assertions and `waitFor` checks: a
 * directory's entry names and a media playlist. Both answer "not there yet" (an empty list,
 * `undefined`) while the file or directory does not exist, so a check can poll them before the
 * program has written anything; any other error fails the test.
 */
import { type LivePlaylist, parsePlaylist } from "@cascade/media/hls/playlist";

/** The names in `dir`, sorted; none while `dir` does not exist. */
export async function listDir(dir: string): Promise<string[]> {
  const names: string[] = [];
  try {
    for await (const entry of Deno.readDir(dir)) names.push(entry.name);
  } catch (err) {
    if (!(err instanceof Deno.errors.NotFound)) throw err;
  }
  return names.sort();
}

/** The playlist at `path`, parsed; `undefined` while there is no such file. */
export async function readPlaylist(path: string): Promise<LivePlaylist | undefined> {
  try {
    return parsePlaylist(await Deno.readTextFile(path));
  } catch (err) {
    if (err instanceof Deno.errors.NotFound) return undefined;
    throw err;
  }
}
