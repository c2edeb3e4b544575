#!/usr/bin/env node
// The benchmark (npm run bench; a script, not a test): compile time and peak
// memory at three sizes against ferm, and per-packet cost on the real kernel
// for nftables, iptables(+ipset) and XDP at 10, 1,000 and 10,000
// rules/prefixes against an empty ruleset and the one-rule-per-line form.
// Prints one table and writes it as JSON (bench/results.json).
//   WGPC_BENCH_QUICK=1   small sizes, fewer rounds (the CI smoke run)
//   WGPC_BENCH_JSON=FILE where the JSON goes
// Needs root for the kernel parts (it skips them otherwise, saying so).
// Everything it makes (namespaces, pins, files) is removed afterwards.
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { fileURLToPath } from "node:url";
import * as compileBench from "./compile.mjs";
import * as packetBench from "./packets.mjs";

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const quick = process.env.WGPC_BENCH_QUICK === "1";
const isRoot = process.getuid?.() === 0;
const sizes = quick ? [10, 100] : [10, 1000, 10000];
const log = (line) => console.error(`  ${line}`);

const fmtMs = (ms) => (ms >= 100 ? ms.toFixed(0) : ms.toFixed(1));
const fmtUs = (ns) => (ns / 1000).toFixed(2);
const ratio = (a, b) => `${(a / b).toFixed(2)}x`;

console.error("compile time (each in a fresh process)…");
const compiled = compileBench.measure({ rounds: quick ? 1 : 3, fermHosts: quick ? 1 : 3, log, quick });

let packets = [];
let xdp = [];
if (isRoot) {
  console.error("per-packet cost, UDP flood between two namespaces…");
  packets = await packetBench.measure({ sizes, rounds: quick ? 2 : 7, seconds: quick ? 0.3 : 1, log });
  console.error("XDP, BPF_PROG_TEST_RUN…");
  const xdpJson = path.join(os.tmpdir(), `wgpc-bench-xdp-${process.pid}.json`);
  const r = spawnSync(process.execPath, [path.join(ROOT, "bench/xdp.mjs")], {
    encoding: "utf8",
    env: { ...process.env, WGPC_BENCH_SIZES: sizes.join(","), WGPC_BENCH_JSON: xdpJson },
  });
  if (r.status !== 0) throw new Error(`bench/xdp.mjs failed: ${r.stderr}`);
  xdp = JSON.parse(fs.readFileSync(xdpJson, "utf8"));
  fs.rmSync(xdpJson);
} else {
  console.error("not root: the per-packet measurements (namespaces, XDP) are skipped");
}

// one table: every row a measurement, its median with [min-max], and the ratio it is judged by
const rows = [];
for (const c of compiled.rows) {
  const what = `${c.hosts} hosts, ${c.rules} rules, ${c.prefixes} prefixes`;
  const stages = Object.entries(c.stages).map(([s, ms]) => `${s} ${fmtMs(ms)}`).join(", ");
  rows.push([`compile, ${c.name}`, what, `${fmtMs(c.totalMs)} ms [${fmtMs(c.minMs)}-${fmtMs(c.maxMs)}]; peak ${c.maxRssMb.toFixed(0)} MB; ${c.outputMb.toFixed(1)} MB written; ${stages}`, c.ferm ? `ferm ${fmtMs(c.ferm.allHostsMs)} ms (${c.ferm.hostsTimed} machines timed, x${c.hosts}): ${ratio(c.ferm.allHostsMs, c.totalMs)} wgpc's time` : "ferm not installed"]);
}
for (const p of packets) {
  const range = (e) => `${fmtUs(e.medianNs)} µs [${fmtUs(e.minNs)}-${fmtUs(e.maxNs)}]`;
  rows.push([`${p.firewall}, per packet`, `${p.rules} rules`, `wgpc ${range(p.wgpc)}; one rule per line ${range(p.naive)}; empty ${range(p.empty)}`, `wgpc ${ratio(p.wgpc.medianNs, p.empty.medianNs)} empty; one rule per line ${ratio(p.naive.medianNs, p.empty.medianNs)}`]);
}
for (const x of xdp) {
  rows.push(["XDP, per packet", `${x.prefixes} prefixes`, `pass ${x.miss.median} ns [${x.miss.min}-${x.miss.max}]; drop ${x.hit.median} ns [${x.hit.min}-${x.hit.max}]`, `pass ${ratio(x.miss.median, xdp[0].miss.median)} the ${xdp[0].prefixes}-prefix program`]);
}

const header = ["measurement", "size", "median [min-max]", "compared"];
console.log(`wgpc benchmark, ${new Date().toISOString().slice(0, 10)}, ${os.cpus().length} cores, kernel ${os.release()}${quick ? " (quick run)" : ""}`);
console.log(`| ${header.join(" | ")} |`);
console.log(`|${header.map(() => "---").join("|")}|`);
for (const r of rows) console.log(`| ${r.join(" | ")} |`);

const json = process.env.WGPC_BENCH_JSON ?? path.join(ROOT, "bench/results.json");
fs.writeFileSync(json, `${JSON.stringify({ date: new Date().toISOString(), quick, kernel: os.release(), cores: os.cpus().length, compile: compiled, packets, xdp, table: { header, rows } }, null, 2)}\n`);
console.error(`written to ${path.relative(process.cwd(), json)}`);
