// A small run of the benchmark (npm run bench is not a test): it still
// builds its flood tool, makes and removes its namespaces, measures every
// datapath and writes its table. Times are not judged here; only that each
// measurement is there and real, and that nothing is left behind.
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { describe, expect } from "vitest";
import { ROOT } from "../support/compile.js";
import { rootIt } from "../support/netns.js";
import { runAsync } from "../support/run-async.js";

describe("the benchmark, quick run", () => {
  rootIt("measures compile time, per-packet cost with nftables, iptables and XDP, prints its table and cleans up", async () => {
    const json = path.join(os.tmpdir(), `wgpc-bench-smoke-${process.pid}.json`);
    try {
      const r = await runAsync(process.execPath, [path.join(ROOT, "bench/run.mjs")], {
        env: { ...process.env, WGPC_BENCH_QUICK: "1", WGPC_BENCH_JSON: json },
      });
      expect(r.status, r.stderr).toBe(0);
      expect(r.stdout).toMatch(/^\| measurement \| size \| median \[min-max\] \| compared \|$/m);
      const result = JSON.parse(fs.readFileSync(json, "utf8"));
      const small = result.compile.rows[0];
      expect(small.hosts).toBe(5);
      expect(small.totalMs).toBeGreaterThan(0);
      expect(small.maxRssMb).toBeGreaterThan(10);
      expect(Object.keys(small.stages)).toEqual(["parse", "check", "lower", "analyse", "emit"]);
      // both firewalls at both sizes, each against its empty ruleset and the naive form
      expect(result.packets.map((p: { firewall: string; rules: number }) => `${p.firewall} ${p.rules}`).sort()).toEqual(["iptables 10", "iptables 100", "nftables 10", "nftables 100"]);
      for (const p of result.packets) for (const e of [p.wgpc, p.naive, p.empty]) expect(e.medianNs).toBeGreaterThan(50);
      expect(result.xdp.map((x: { prefixes: number }) => x.prefixes)).toEqual([10, 100]);
      // no namespace of the benchmark is left
      expect(spawnSync("ip", ["netns", "list"], { encoding: "utf8" }).stdout).not.toContain("wgpc-bench");
    } finally {
      fs.rmSync(json, { force: true });
    }
  }, 180_000);
});
