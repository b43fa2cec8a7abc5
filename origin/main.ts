/**
 * `deno task origin`: the origin role as operators run it (`node/origin_run.ts`, which composes
 * the origin with recording, thumbnails and the transcoder, so it lives with the other
 * compositions in `node/`), started from one bundle of its modules (`@cascade/common/launch`),
 * which holds less memory than the modules themselves. `deno run -A node/origin_run.ts` starts
 * the same role from the modules.
 */
import { launch } from "@cascade/common/launch";

/** The module the bundle is made from (`deno task build` builds it ahead). */
export const entry = new URL("../node/origin_run.ts", import.meta.url);

if (import.meta.main) await launch(entry);
