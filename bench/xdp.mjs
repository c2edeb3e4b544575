#!/usr/bin/env node
// Per-packet cost of the XDP program with 10, 1,000 and 100,000 blocklist
// prefixes, from BPF_PROG_TEST_RUN (bpftool prog run ... repeat). Needs root
// and a built tree (npm run build). Prints a table, writes bench/xdp.json.
// Everything it makes (namespace, pins, files) is removed afterwards.
import { execFileSync, spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { fileURLToPath } from "node:url";
import { compile } from "../dist/src/compile.js";
import { backends } from "../dist/src/backends/registry.js";
import { cleanupOnSignal } from "./cleanup.mjs";

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
// WGPC_BENCH_SIZES and WGPC_BENCH_JSON let bench/run.mjs pick the sizes and where the JSON goes
const SIZES = (process.env.WGPC_BENCH_SIZES ?? "10,1000,100000").split(",").map(Number);
const ROUNDS = 5;
const REPEAT = 200000;

if (process.getuid?.() !== 0) {
  console.error("bench/xdp.mjs needs root (it loads an XDP program into a scratch namespace)");
  process.exit(2);
}

function policy(n) {
  // distinct /32s and /24s spread over 10.0.0.0/8 .. 100.x (none is the probe's source)
  const prefixes = [];
  for (let i = 0; i < n; i++) {
    const a = 11 + (i % 80), b = (i >> 8) & 255, c = i & 255;
    prefixes.push(i % 4 === 0 ? `${a}.${b}.${c}.0/24` : `${a}.${b}.${c}.${1 + (i % 250)}`);
  }
  return [
    "vpn lab on wg0 {",
    "  network 192.168.4.0/24",
    "  hub hub 192.168.4.1 endpoint 10.0.123.2:51820",
    "}",
    "host hub 10.0.123.2 on eth0",
    `group blocklist = ${[...new Set(prefixes)].join(", ")}`,
    "drop from blocklist early",
    "drop from any to 10.0.123.2:22/tcp early",
    "",
  ].join("\n");
}

function frame(src) {
  const ip = src.split(".").map(Number);
  return Buffer.from([
    2, 0, 0, 0, 0, 1, 2, 0, 0, 0, 0, 2, 0x08, 0x00,
    0x45, 0, 0, 40, 0, 1, 0x40, 0, 64, 6, 0, 0, ...ip, 10, 0, 123, 2,
    0x30, 0x39, 0, 80, 0, 0, 0, 1, 0, 0, 0, 0, 0x50, 0x02, 0xff, 0xff, 0, 0, 0, 0,
  ]);
}

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const work = fs.mkdtempSync(path.join(os.tmpdir(), "wgpc-bench-"));
const ns = `wgpc-bench-${process.pid}`;
const pins = `/sys/fs/bpf/wgpc-bench-${process.pid}`;
const inNet = (cmd, args, env = {}) => execFileSync("nsenter", [`--net=/run/netns/${ns}`, cmd, ...args], { encoding: "utf8", env: { ...process.env, ...env } });
const results = [];
const cleanup = () => {
  spawnSync("ip", ["netns", "del", ns]);
  fs.rmSync(pins, { recursive: true, force: true });
  fs.rmSync(work, { recursive: true, force: true });
};
const release = cleanupOnSignal(cleanup);
try {
  execFileSync("ip", ["netns", "add", ns]);
  inNet("ip", ["link", "add", "eth0", "type", "veth", "peer", "name", "eth0-peer"]);
  inNet("ip", ["link", "set", "eth0", "up"]);
  for (const n of SIZES) {
    const started = process.hrtime.bigint();
    const reader = { read: () => ({ text: policy(n) }), exists: () => true, canonical: (p) => p };
    const result = compile(["policy.wgp"], reader, path.join(ROOT, "stdlib"), { targets: backends });
    const compileMs = Number(process.hrtime.bigint() - started) / 1e6;
    if (!result.bundles) throw new Error(result.diagnostics.map((d) => d.message).join("\n"));
    const dir = path.join(work, String(n));
    for (const a of result.bundles.find((b) => b.host === "hub").artifacts.filter((x) => x.path.startsWith("xdp/"))) {
      fs.mkdirSync(path.dirname(path.join(dir, a.path)), { recursive: true });
      fs.writeFileSync(path.join(dir, a.path), a.text);
    }
    const loadStart = process.hrtime.bigint();
    inNet("sh", [path.join(dir, "xdp/load.sh"), "attach", "eth0"], { WGPC_BPFFS: pins });
    const loadMs = Number(process.hrtime.bigint() - loadStart) / 1e6;
    const timings = {};
    for (const [name, src] of [["miss", "198.18.0.1"], ["hit", "11.0.0.1"]]) {
      const file = path.join(work, `${name}.bin`);
      fs.writeFileSync(file, frame(src));
      const rounds = [];
      for (let r = 0; r < ROUNDS; r++) {
        const out = inNet("bpftool", ["prog", "run", "pinned", `${pins}/eth0/prog`, "data_in", file, "repeat", String(REPEAT)]);
        rounds.push(Number(out.match(/duration \(average\): (\d+)ns/)[1]));
      }
      timings[name] = { median: median(rounds), min: Math.min(...rounds), max: Math.max(...rounds) };
    }
    inNet("sh", [path.join(dir, "xdp/load.sh"), "detach", "eth0"], { WGPC_BPFFS: pins });
    results.push({ prefixes: n, compileMs: Math.round(compileMs), loadMs: Math.round(loadMs), ...timings });
  }
} finally {
  release();
  cleanup();
}

const base = results[0];
console.log(`XDP early drop, BPF_PROG_TEST_RUN, ${REPEAT} repeats x ${ROUNDS} rounds (median [min-max] ns per packet)`);
console.log("| prefixes | miss (pass) | hit (drop) | miss vs 10 | compile ms | load+fill ms |");
console.log("|---:|---:|---:|---:|---:|---:|");
for (const r of results) {
  console.log(`| ${r.prefixes} | ${r.miss.median} [${r.miss.min}-${r.miss.max}] | ${r.hit.median} [${r.hit.min}-${r.hit.max}] | ${(r.miss.median / base.miss.median).toFixed(2)}x | ${r.compileMs} | ${r.loadMs} |`);
}
fs.writeFileSync(process.env.WGPC_BENCH_JSON ?? path.join(ROOT, "bench/xdp.json"), `${JSON.stringify(results, null, 2)}\n`);
