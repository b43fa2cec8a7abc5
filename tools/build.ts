/**
 * `deno task build`: the bundle of every role (`lib/common/launch.ts`) built ahead of the first
 * start, for an image or a host whose roles then start without building (the Dockerfile runs
 * it, so a container needs neither `deno bundle` nor its npm package at start). Each role's
 * `main.ts` names its entry; a bundle already built for the current sources is kept.
 */
import { bundleOf } from "@cascade/common/launch";
import { ROLE_TASKS, taskArgs } from "./tasks.ts";

for (const task of ROLE_TASKS) {
  const script = taskArgs(task).at(-1)!;
  const { entry } = await import(script) as { entry?: URL };
  if (!(entry instanceof URL)) throw new TypeError(`${script} exports no entry URL`);
  const bundle = await bundleOf(entry);
  console.log(`${task}: ${bundle.pathname}`);
}
