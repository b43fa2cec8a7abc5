/**
 * `deno task start`: the all-in-one node (`all_in_one.ts`), started from one bundle of its
 * modules (`@cascade/common/launch`), which holds less memory than the modules themselves.
 * `deno run -A node/all_in_one.ts` starts the same node from the modules.
 */
import { launch } from "@cascade/common/launch";

/** The module the bundle is made from (`deno task build` builds it ahead). */
export const entry = new URL("./all_in_one.ts", import.meta.url);

if (import.meta.main) await launch(entry);
