// Compile time and peak memory at three policy sizes, each compile in a
// fresh process (bench/compile-one.mjs), and the same rules compiled by ferm
// (Debian's package; the peer tool admins know) side by side.
// Exports measure(), used by bench/run.mjs.
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { fileURLToPath } from "node:url";
import { generatePolicy, hostName } from "./generate.mjs";
import { cleanupOnSignal } from "./cleanup.mjs";

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");

export const SIZES = [
  { name: "small", hosts: 5, rules: 100, prefixes: 1000 },
  { name: "medium", hosts: 20, rules: 1000, prefixes: 10000 },
  { name: "large", hosts: 50, rules: 10000, prefixes: 100000 },
];

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

/**
 * One machine's share of the policy as a ferm file: what wgpc enforces on
 * its input (the always-there rules, the blocklist, the rules to it), in
 * both families. ferm writes it for iptables-restore, one rule per element.
 */
export function fermFile(generated, host) {
  const v4 = generated.block.filter((p) => !p.includes(":"));
  const v6 = generated.block.filter((p) => p.includes(":"));
  const mine = generated.rules.filter((r) => r.host === host);
  const domain = (name, family, block, icmp) => [
    `domain ${name} table filter chain INPUT {`,
    "  policy DROP;",
    "  interface lo ACCEPT;",
    "  mod conntrack ctstate (ESTABLISHED RELATED) ACCEPT;",
    "  mod conntrack ctstate INVALID DROP;",
    `  ${icmp}`,
    ...(block.length > 0 ? [`  saddr (${block.join(" ")}) DROP;`] : []),
    ...mine.filter((r) => r.source.includes(":") === (family === 6)).map((r) => `  saddr ${r.source} proto tcp dport ${r.port} ACCEPT;`),
    "}",
  ];
  return [
    ...domain("ip", 4, v4, "proto icmp icmp-type (destination-unreachable time-exceeded parameter-problem) ACCEPT;"),
    ...domain("ip6", 6, v6, "proto ipv6-icmp icmpv6-type (destination-unreachable packet-too-big time-exceeded parameter-problem) ACCEPT;"),
    "",
  ].join("\n");
}

function timeFerm(file) {
  const started = performance.now();
  const r = spawnSync("ferm", ["--noexec", "--lines", file], { encoding: "utf8", maxBuffer: 1 << 30 });
  if (r.status !== 0) throw new Error(`ferm failed: ${r.stderr}`);
  return { ms: performance.now() - started, lines: r.stdout.split("\n").filter((l) => l.startsWith("-A")).length };
}

export function measure({ rounds = 3, fermHosts = 3, log = () => {}, quick = false } = {}) {
  const hasFerm = spawnSync("ferm", ["--version"]).status === 0;
  const work = fs.mkdtempSync(path.join(os.tmpdir(), "wgpc-bench-compile-"));
  const rows = [];
  const release = cleanupOnSignal(() => fs.rmSync(work, { recursive: true, force: true }));
  try {
    for (const size of quick ? SIZES.slice(0, 1) : SIZES) {
      const generated = generatePolicy(size);
      const file = path.join(work, `${size.name}.wgp`);
      fs.writeFileSync(file, generated.text);
      const runs = [];
      for (let r = 0; r < rounds; r++) {
        const out = spawnSync(process.execPath, [path.join(ROOT, "bench/compile-one.mjs"), file], { encoding: "utf8", maxBuffer: 1 << 26 });
        if (out.status !== 0) throw new Error(`compile of ${size.name} failed: ${out.stderr}`);
        runs.push(JSON.parse(out.stdout));
      }
      const pick = (f) => median(runs.map(f));
      const row = {
        ...size,
        totalMs: pick((r) => r.totalMs),
        minMs: Math.min(...runs.map((r) => r.totalMs)),
        maxMs: Math.max(...runs.map((r) => r.totalMs)),
        stages: Object.fromEntries(Object.keys(runs[0].stages).map((s) => [s, pick((r) => r.stages[s])])),
        maxRssMb: pick((r) => r.maxRssMb),
        outputMb: runs[0].bytes / 1e6,
      };
      if (hasFerm) {
        // ferm compiles one machine per run: a few machines are timed and the mean scaled to all of them
        const measured = [];
        for (let h = 0; h < Math.min(fermHosts, size.hosts); h++) {
          const fermPath = path.join(work, `${size.name}-${hostName(h)}.ferm`);
          fs.writeFileSync(fermPath, fermFile(generated, hostName(h)));
          measured.push(timeFerm(fermPath));
        }
        const perHost = measured.reduce((n, m) => n + m.ms, 0) / measured.length;
        row.ferm = { hostsTimed: measured.length, perHostMs: perHost, allHostsMs: perHost * size.hosts, linesPerHost: measured[0].lines };
      }
      log(`${size.name}: wgpc ${row.totalMs.toFixed(0)} ms${row.ferm ? `, ferm ${row.ferm.allHostsMs.toFixed(0)} ms for ${size.hosts} machines` : ""}`);
      rows.push(row);
    }
    return { rows, ferm: hasFerm };
  } finally {
    release();
    fs.rmSync(work, { recursive: true, force: true });
  }
}
