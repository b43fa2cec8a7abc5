/**
 * `deno task edge`: the edge role (`run.ts`), started from one bundle of its modules
 * (`@cascade/common/launch`), which holds less memory than the modules themselves.
 * `deno run -A edge/run.ts` starts the same role from the modules.
 */
import { launch } from "@cascade/common/launch";

/** The module the bundle is made from (`deno task build` builds it ahead). */
export const entry = new URL("./run.ts", import.meta.url);

if (import.meta.main) await launch(entry);
