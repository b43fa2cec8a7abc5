import assert from "node:assert/strict";
import { Supervisor } from "./supervisor.ts";

function alive(pid: number): boolean {
  try {
    const stat = Deno.readTextFileSync(`/proc/${pid}/stat`);
    return stat.slice(stat.lastIndexOf(")") + 2)[0] !== "Z";
  } catch {
    return false;
  }
}

/** A shell that starts a grandchild, prints its PID, and exits on SIGTERM. */
const PARENT_OF_SLEEPER =
  "sleep 60 & echo sleeper=$!; trap 'exit 0' TERM; while :; do sleep 0.05; done";

Deno.test("Supervisor.stopAll() stops children's whole process groups, highest wave first", async () => {
  const lines: string[] = [];
  const sup = new Supervisor({ print: (text) => lines.push(text), color: false });
  const low = sup.start({ name: "low", cmd: "sh", args: ["-c", PARENT_OF_SLEEPER], wave: 0 });
  const high = sup.start({ name: "high", cmd: "sh", args: ["-c", PARENT_OF_SLEEPER], wave: 1 });
  const sleepers = await Promise.all([low, high].map(async (child) => {
    const line = await child.waitForLine(/^sleeper=\d+$/);
    return Number(line.split("=")[1]);
  }));
  assert.ok(sleepers.every(alive));

  const order: string[] = [];
  for (const child of [low, high]) child.status.then(() => order.push(child.name));
  await sup.stopAll(5000);
  assert.deepEqual(order, ["high", "low"]);
  assert.deepEqual(sleepers.filter(alive), [], "grandchildren left running");
  assert.match(lines.join(""), /^high {5}\| sleeper=\d+$/m);
});

Deno.test("Child.waitForLine() rejects when the child exits without printing the line", async () => {
  const sup = new Supervisor({ print: () => {}, color: false });
  const child = sup.start({
    name: "quitter",
    cmd: "sh",
    args: ["-c", "echo hello; exit 3"],
    wave: 0,
  });
  await assert.rejects(child.waitForLine(/ready/), /quitter exited \(exit code 3\)/);
  assert.equal(await child.waitForLine(/hello/), "hello");
});

Deno.test("Supervisor reports a child that dies on its own through onExit, not while stopping", async () => {
  const exits: string[] = [];
  const sup = new Supervisor({
    print: () => {},
    color: false,
    onExit: (child, status) => exits.push(`${child.name}:${status.signal}`),
  });
  const victim = sup.start({ name: "victim", cmd: "sleep", args: ["60"], wave: 0 });
  sup.start({ name: "other", cmd: "sleep", args: ["60"], wave: 0 });
  Deno.kill(victim.pid, "SIGKILL");
  await victim.status;
  await sup.stopAll(5000);
  assert.deepEqual(exits, ["victim:SIGKILL"]);
});
