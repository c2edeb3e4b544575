// A child process that does not block the test worker: a run of a minute or
// more (a VM boot, a benchmark) would otherwise keep the worker from
// answering vitest's own calls.
import { spawn, type SpawnOptions } from "node:child_process";

export interface Finished {
  readonly status: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

export function runAsync(command: string, args: readonly string[], options: SpawnOptions = {}): Promise<Finished> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { ...options, stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    child.stdout!.on("data", (d: Buffer) => (stdout += d.toString()));
    child.stderr!.on("data", (d: Buffer) => (stderr += d.toString()));
    child.on("error", reject);
    child.on("close", (status) => resolve({ status, stdout, stderr }));
  });
}

/**
 * For long fast-check runs: an async step that yields to the event loop
 * every `every` calls, so that a run of minutes (test:deep) lets the worker
 * answer vitest between cases.
 */
export function breather(every = 200): () => Promise<void> {
  let calls = 0;
  return async () => {
    if (++calls % every === 0) await new Promise((resolve) => setImmediate(resolve));
  };
}
