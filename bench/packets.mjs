// Per-packet cost of a firewall on the real kernel: a UDP flood from one
// scratch namespace to another over a veth pair, with the receiver's rules
// loaded by the bundle's own apply.sh. Every rule is passed over by the
// flood (they are UDP rules from other sources, so a compacted lookup is
// really looked up and missed) and the last one admits it, so the cost is
// that of walking the ruleset. Compared: an empty ruleset,
// wgpc's output, and the same policy one rule per line (wgpc with
// compaction off), for nftables and for iptables (+ipset).
//   node bench/packets.mjs            (root; npm run build first)
// Exports measure(), used by bench/run.mjs; run alone it prints its table.
import { execFileSync, spawn, spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { fileURLToPath } from "node:url";
import { compile } from "../dist/src/compile.js";
import { backends } from "../dist/src/backends/registry.js";
import { diskReader } from "../dist/src/cli/disk-reader.js";
import { ruleSource, rulePort } from "./generate.mjs";
import { cleanupOnSignal } from "./cleanup.mjs";

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const TX_ADDRESS = "10.99.0.1";
const RX_ADDRESS = "10.99.0.2";
const FLOOD_PORT = 9999;

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

/**
 * The receiver's policy: n UDP rules the flood never matches (same
 * protocol, so the flood goes through their lookup), then the one that
 * admits it.
 */
function policyText(n) {
  const lines = [`host rx ${RX_ADDRESS}, 2001:db8:99::2 on rx0`, `host tx ${TX_ADDRESS} on tx0`];
  for (let i = 0; i < n; i++) lines.push(`allow ${ruleSource(i)} -> rx:${rulePort(i)}/udp`);
  lines.push(`allow tx -> rx:${FLOOD_PORT}/udp`);
  return `${lines.join("\n")}\n`;
}

function writeBundle(dir, n, compact) {
  const file = path.join(dir, "policy.wgp");
  fs.mkdirSync(dir, { recursive: true });
  fs.writeFileSync(file, policyText(n));
  const result = compile([file], diskReader, path.join(ROOT, "stdlib"), {
    targets: backends.filter((b) => b.name === "nftables" || b.name === "iptables"),
    compact,
  });
  if (!result.bundles) throw new Error(result.diagnostics.map((d) => d.message).join("\n"));
  const out = path.join(dir, "rx");
  for (const a of result.bundles.find((b) => b.host === "rx").artifacts) {
    fs.mkdirSync(path.dirname(path.join(out, a.path)), { recursive: true });
    fs.writeFileSync(path.join(out, a.path), a.text, { mode: a.executable ? 0o755 : 0o644 });
  }
  return out;
}

export async function measure({ sizes = [10, 1000, 10000], rounds = 7, seconds = 1, log = () => {} } = {}) {
  if (process.getuid?.() !== 0) throw new Error("the per-packet benchmark needs root (it makes network namespaces)");
  const work = fs.mkdtempSync(path.join(os.tmpdir(), "wgpc-bench-packets-"));
  const tx = `wgpc-bench-tx-${process.pid}`;
  const rx = `wgpc-bench-rx-${process.pid}`;
  const inNs = (ns, cmd, args) => execFileSync("ip", ["netns", "exec", ns, cmd, ...args], { encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] });
  const flood = path.join(work, "udpflood");
  const results = [];
  const cleanup = () => {
    spawnSync("ip", ["netns", "del", tx]);
    spawnSync("ip", ["netns", "del", rx]);
    fs.rmSync(work, { recursive: true, force: true });
  };
  const release = cleanupOnSignal(cleanup);
  try {
    execFileSync("cc", ["-O2", "-Wall", "-Werror", "-o", flood, path.join(ROOT, "bench/udpflood.c")]);
    execFileSync("ip", ["netns", "add", tx]);
    execFileSync("ip", ["netns", "add", rx]);
    inNs(tx, "ip", ["link", "add", "tx0", "type", "veth", "peer", "name", "rx0", "netns", rx]);
    inNs(tx, "ip", ["addr", "add", `${TX_ADDRESS}/24`, "dev", "tx0"]);
    inNs(rx, "ip", ["addr", "add", `${RX_ADDRESS}/24`, "dev", "rx0"]);
    for (const [ns, dev] of [[tx, "tx0"], [rx, "rx0"]]) {
      inNs(ns, "ip", ["link", "set", dev, "up"]);
      inNs(ns, "ip", ["link", "set", "lo", "up"]);
    }
    // neighbours known up front: no ARP in the measured second
    const mac = (ns, dev) => JSON.parse(inNs(ns, "ip", ["-j", "link", "show", dev]))[0].address;
    inNs(tx, "ip", ["neigh", "replace", RX_ADDRESS, "lladdr", mac(rx, "rx0"), "dev", "tx0", "nud", "permanent"]);

    const reset = () => {
      inNs(rx, "nft", ["flush", "ruleset"]);
      spawnSync("ip", ["netns", "exec", rx, "ipset", "destroy"]);
    };
    const round = () =>
      new Promise((resolve, reject) => {
        const receiver = spawn("ip", ["netns", "exec", rx, "taskset", "-c", "1", flood, "recv", String(FLOOD_PORT), "300"]);
        let out = "";
        receiver.stdout.on("data", (d) => {
          out += d.toString();
          if (out.startsWith("ready\n") && !receiver.sending) {
            receiver.sending = true;
            const sent = spawnSync("ip", ["netns", "exec", tx, "taskset", "-c", "0", flood, "send", RX_ADDRESS, String(FLOOD_PORT), String(seconds)], { encoding: "utf8" });
            if (sent.status !== 0) reject(new Error(sent.stderr));
          }
        });
        receiver.on("close", () => {
          const [count, first, last] = out.split("\n")[1].split(" ").map(Number);
          if (!(count > 1)) return reject(new Error(`the receiver counted ${count} packets: the firewall did not admit the flood`));
          resolve((last - first) / (count - 1));
        });
      });
    const run = async (label, setup) => {
      reset();
      setup();
      // one round first, not counted: caches, conntrack and the neighbour are warm for the rest
      await round();
      const costs = [];
      for (let r = 0; r < rounds; r++) costs.push(await round());
      const entry = { label, medianNs: median(costs), minNs: Math.min(...costs), maxNs: Math.max(...costs) };
      log(`${label}: ${(entry.medianNs / 1000).toFixed(2)} µs per packet`);
      results.push(entry);
      return entry;
    };
    const apply = (dir, firewall) => () => inNs(rx, "sh", [path.join(dir, "apply.sh"), "--firewall", firewall]);

    const emptyNft = path.join(work, "empty.nft");
    fs.writeFileSync(emptyNft, "table inet wgpc {\n\tchain input {\n\t\ttype filter hook input priority filter; policy accept;\n\t}\n}\n");
    const empty = {
      nftables: () => inNs(rx, "nft", ["-f", emptyNft]),
      iptables: () => inNs(rx, "iptables", ["-P", "INPUT", "ACCEPT"]),
    };
    const rows = [];
    for (const n of sizes) {
      const wgpc = writeBundle(path.join(work, `wgpc-${n}`), n, true);
      const naive = writeBundle(path.join(work, `naive-${n}`), n, false);
      for (const firewall of ["nftables", "iptables"]) {
        // the empty ruleset is measured next to each pair: the machine's speed drifts over minutes
        const none = await run(`${firewall} empty`, empty[firewall]);
        const ours = await run(`${firewall} wgpc ${n}`, apply(wgpc, firewall));
        const linear = await run(`${firewall} one rule per line ${n}`, apply(naive, firewall));
        rows.push({ firewall, rules: n, empty: none, wgpc: ours, naive: linear });
      }
    }
    return rows;
  } finally {
    release();
    cleanup();
  }
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const sizes = (process.env.WGPC_BENCH_SIZES ?? "10,1000,10000").split(",").map(Number);
  const rows = await measure({ sizes, rounds: Number(process.env.WGPC_BENCH_ROUNDS ?? 5), log: (l) => console.error(l) });
  for (const r of rows) {
    console.log(`${r.firewall} ${r.rules}: empty ${(r.empty.medianNs / 1000).toFixed(2)} µs, wgpc ${(r.wgpc.medianNs / 1000).toFixed(2)} µs (${(r.wgpc.medianNs / r.empty.medianNs).toFixed(2)}x), one rule per line ${(r.naive.medianNs / 1000).toFixed(2)} µs (${(r.naive.medianNs / r.empty.medianNs).toFixed(2)}x)`);
  }
}
