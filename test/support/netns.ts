// Scratch network namespaces for root tests. Every namespace made here is
// deleted afterwards, also when the test fails; nothing touches the host's
// own rules.
import { execFileSync, spawnSync } from "node:child_process";
import { it } from "vitest";

export const isRoot = process.getuid?.() === 0;
export const inCi = process.env.CI === "true";

/**
 * `it` for tests that need root. Without root they are skipped, saying so,
 * except under CI=true, where a skipped root test is a failure.
 */
export const rootIt: typeof it = ((name: string, fn: () => unknown, timeout?: number) => {
  if (isRoot) return it(name, fn, timeout);
  if (inCi) {
    return it(name, () => {
      throw new Error("this test needs root, and CI must run it (CI=true)");
    });
  }
  return it.skip(`${name} (skipped: needs root)`, fn);
}) as typeof it;

let counter = 0;

export class Netns {
  readonly name: string;

  constructor(purpose: string) {
    this.name = `wgpc-${purpose}-${process.pid}-${counter++}`.slice(0, 60);
    execFileSync("ip", ["netns", "add", this.name]);
  }

  /** Runs a command inside the namespace; throws with its stderr on failure. */
  run(command: string, args: string[], input?: string): string {
    const r = spawnSync("ip", ["netns", "exec", this.name, command, ...args], { input, encoding: "utf8" });
    if (r.status !== 0) {
      throw new Error(`${command} ${args.join(" ")} failed (${r.status}): ${r.stderr || r.stdout}`);
    }
    return r.stdout;
  }

  delete(): void {
    spawnSync("ip", ["netns", "del", this.name]);
  }
}

/** Runs `body` with a fresh namespace that is always removed afterwards. */
export function withNetns<T>(purpose: string, body: (ns: Netns) => T): T {
  const ns = new Netns(purpose);
  try {
    return body(ns);
  } finally {
    ns.delete();
  }
}

/** `withNetns` for an async body: the namespace is removed once the body has settled. */
export async function withNetnsAsync<T>(purpose: string, body: (ns: Netns) => Promise<T>): Promise<T> {
  const ns = new Netns(purpose);
  try {
    return await body(ns);
  } finally {
    ns.delete();
  }
}
