/**
 * The `deno run` command lines of the shipped tasks, read from the repository's `deno.json`,
 * so that programs starting roles themselves (the cluster tool, the benchmark) run exactly
 * what `deno task origin` and friends run, runtime flags included (the V8 young-generation
 * size of docs/architecture.md, "Runtime flags"), with no second copy of those flags.
 */
import { fileURLToPath } from "node:url";

const REPO = fileURLToPath(new URL("../", import.meta.url));

/** The tasks that start a role: each `deno run [flags] {path}.ts`. */
export const ROLE_TASKS = ["start", "origin", "edge", "api", "discovery", "transcoder"] as const;
export type RoleTask = typeof ROLE_TASKS[number];

let tasks: Record<string, string> | undefined;

/**
 * The arguments after `deno` of a role's task, its script as an absolute path, so they work
 * from any directory: e.g. `["run", "-A", "--v8-flags=…", "/repo/origin/main.ts"]` (which starts the role from its bundle,
 * `lib/common/launch.ts`).
 */
export function taskArgs(task: RoleTask): string[] {
  tasks ??= JSON.parse(Deno.readTextFileSync(`${REPO}deno.json`)).tasks;
  const line = tasks?.[task];
  const words = line?.trim().split(/\s+/) ?? [];
  const script = words.at(-1) ?? "";
  if (words[0] !== "deno" || words[1] !== "run" || !script.endsWith(".ts")) {
    throw new Error(`deno.json task ${task} is not "deno run [flags] {script}.ts": ${line}`);
  }
  return [...words.slice(1, -1), `${REPO}${script}`];
}
