// The tc batches in the kernel: loaded by `tc -batch` in a scratch namespace
// on the device kinds they are for (a veth for Ethernet, a tun for an L3
// device such as wg0, ifb devices for ingress), read back, run again; and a
// 10mbit class measured with a real TCP transfer between namespaces.
import { spawn } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { afterAll, describe, expect } from "vitest";
import { compile } from "../../src/compile.js";
import { backends } from "../../src/backends/registry.js";
import { diskReader, STDLIB_DIR } from "../../src/cli/disk-reader.js";
import type { HostIr, ShapedDevice } from "../../src/ir/types.js";
import { formatBits } from "../../src/net/address.js";
import { artifact, compileSource, ROOT, rendered } from "../support/compile.js";
import { Netns, rootIt, withNetns } from "../support/netns.js";

const work = fs.mkdtempSync(path.join(os.tmpdir(), "wgpc-tc-"));
afterAll(() => fs.rmSync(work, { recursive: true, force: true }));

// this kernel lacks these, and may only say so (after tc parsed the line)
const MISSING_KINDS = /^qdisc replace dev \S+ parent \S+ handle \S+ (netem|fq_codel)\b/;

/** Runs a batch with -force and returns the lines that failed with their error. */
function runBatch(ns: Netns, file: string): { line: string; error: string }[] {
  const lines = fs.readFileSync(file, "utf8").split("\n");
  let output: string;
  try {
    output = ns.run("tc", ["-force", "-batch", file]);
  } catch (e) {
    output = (e as Error).message;
  }
  const failures: { line: string; error: string }[] = [];
  const parts = output.split("\n");
  parts.forEach((text, i) => {
    const m = text.match(/Command failed \S+:(\d+)/);
    if (m) failures.push({ line: lines[Number(m[1]) - 1]!, error: parts.slice(Math.max(0, i - 2), i).join(" ") });
  });
  return failures;
}

/** Devices the host's shaping needs, made as the right kind. */
function makeDevices(ns: Netns, host: HostIr, vpnIface: string): void {
  const names = new Set<string>();
  for (const d of host.shaping) {
    names.add(d.redirectFrom ?? d.device);
    if (d.redirectFrom) ns.run("ip", ["link", "add", d.device, "type", "ifb"]);
  }
  for (const name of names) {
    if (name === vpnIface) ns.run("ip", ["tuntap", "add", "dev", name, "mode", "tun"]);
    else ns.run("ip", ["link", "add", name, "type", "veth", "peer", "name", `${name.slice(0, 10)}-peer`]);
  }
  for (const d of host.shaping) ns.run("ip", ["link", "set", d.device, "up"]);
  for (const name of names) ns.run("ip", ["link", "set", name, "up"]);
}

const UNIT: Record<string, number> = { bit: 1, Kbit: 1e3, Mbit: 1e6, Gbit: 1e9, Tbit: 1e12 };
const tcRate = (text: string) => {
  const m = text.match(/^([\d.]+)(bit|Kbit|Mbit|Gbit|Tbit)$/);
  if (!m) throw new Error(`tc printed a rate as ${text}`);
  return Number(m[1]) * UNIT[m[2]!]!;
};

function readClasses(ns: Netns, device: string): Map<string, { rate: number; ceil: number }> {
  const out = new Map<string, { rate: number; ceil: number }>();
  for (const m of ns.run("tc", ["class", "show", "dev", device]).matchAll(/class htb 1:(\w+) .*?rate (\S+) ceil (\S+)/g)) {
    out.set(m[1]!, { rate: tcRate(m[2]!), ceil: tcRate(m[3]!) });
  }
  return out;
}

const close = (a: number, b: number) => Math.abs(a - b) <= Math.max(8, b * 1e-3);

function expectedMatch(d: ShapedDevice, p: { family: 4 | 6; bits: bigint; length: number }): string[] {
  // u32 prints each 32-bit word it compares: value/mask at offset
  const words = p.family === 4 ? 1 : 4;
  const base = p.family === 4 ? (d.matchOn === "dst" ? 16 : 12) : d.matchOn === "dst" ? 24 : 8;
  const out: string[] = [];
  for (let w = 0; w < words; w++) {
    const shift = BigInt((words - 1 - w) * 32);
    const bitsLeft = Math.max(0, Math.min(32, p.length - w * 32));
    if (bitsLeft === 0 && p.length > 0) continue;
    const mask = bitsLeft === 0 ? 0n : ((1n << 32n) - 1n) ^ ((1n << BigInt(32 - bitsLeft)) - 1n);
    const value = (p.bits >> shift) & mask;
    out.push(`match ${value.toString(16).padStart(8, "0")}/${mask.toString(16).padStart(8, "0")} at ${base + 4 * w}`);
  }
  return out;
}

describe("tc batches in the kernel", () => {
  const policies = [
    { name: "seed-lab", file: path.join(ROOT, "examples/seed-lab/policy.wgp") },
    { name: "shaping", file: path.join(ROOT, "test/cases/shaping.wgp") },
  ];
  for (const policy of policies) {
    for (const leafQdisc of ["fq_codel", "pfifo"]) {
      rootIt(`${policy.name} (leaf ${leafQdisc}): loads, reads back as written, and loads again to the same tree`, () => {
        const result = compile([policy.file], diskReader, STDLIB_DIR, { targets: backends, leafQdisc });
        expect(result.bundles, rendered(result)).toBeDefined();
        const hub = result.hosts!.find((h) => h.shaping.length > 0)!;
        const file = path.join(work, `${policy.name}-${leafQdisc}.batch`);
        fs.writeFileSync(file, artifact(result, hub.name, "tc.batch"));
        withNetns("tc", (ns) => {
          makeDevices(ns, hub, result.policy!.vpn!.iface);
          for (let run = 1; run <= 2; run++) {
            const failures = runBatch(ns, file);
            // only the kernel's "unknown kind" for qdiscs it lacks, after tc parsed the line
            for (const f of failures) {
              expect(f.error, f.line).toContain("Specified qdisc kind is unknown");
              expect(f.line, f.error).toMatch(MISSING_KINDS);
            }
            if (leafQdisc === "pfifo") expect(failures.every((f) => / netem /.test(f.line))).toBe(true);
            for (const d of hub.shaping) {
              const classes = readClasses(ns, d.device);
              const want = [d.root, d.fallback, ...d.classes];
              expect([...classes.keys()].sort()).toEqual(want.map((c) => c.minor).sort());
              for (const c of want) {
                const got = classes.get(c.minor)!;
                expect(close(got.rate, c.rate), `${d.device} 1:${c.minor} rate ${got.rate} ≠ ${c.rate}`).toBe(true);
                expect(close(got.ceil, c.ceil), `${d.device} 1:${c.minor} ceil ${got.ceil} ≠ ${c.ceil}`).toBe(true);
              }
              const filters = ns.run("tc", ["filter", "show", "dev", d.device]);
              for (const c of d.classes) {
                const block = filters.split(/\n(?=filter)/).filter((b) => b.includes(`flowid 1:${c.minor} `)).join("\n");
                for (const p of c.matches) for (const m of expectedMatch(d, p)) expect(block, `${d.device} 1:${c.minor} ${formatBits(p.family, p.bits)}`).toContain(m);
              }
              expect((filters.match(/flowid/g) ?? []).length).toBe(d.classes.reduce((n, c) => n + c.matches.length, 0));
              if (d.redirectFrom) expect(ns.run("tc", ["filter", "show", "dev", d.redirectFrom, "ingress"])).toContain(`Egress Redirect to device ${d.device}`);
            }
          }
        });
      });
    }
  }
});

const THROUGHPUT = path.join(ROOT, "test/support/net-throughput.mjs");

function classBytes(ns: Netns, device: string, minor: string): number {
  const text = ns.run("tc", ["-s", "class", "show", "dev", device, "classid", `1:${minor}`]);
  return Number(text.match(/Sent (\d+) bytes/)![1]);
}

describe("shaping measured", () => {
  rootIt("a 10mbit class carries 10 Mbit/s (±5%) of a real TCP transfer; an unshaped flow is not held to it", async () => {
    const policy = [
      "vpn lab on wg0 {",
      "  network 10.99.0.0/24",
      "  hub hub 10.99.0.1 endpoint 192.0.2.1:51820",
      "}",
      "host hub 192.0.2.1 on eth0",
      "host sink 192.0.2.2",
      "shape sink 10mbit",
      "",
    ].join("\n");
    const result = compileSource(policy);
    const hub = result.hosts!.find((h) => h.name === "hub")!;
    const batch = path.join(work, "measure.batch");
    fs.writeFileSync(batch, artifact(result, "hub", "tc.batch").replace(/ fq_codel$/gm, " pfifo"));
    const shaped = hub.shaping.find((d) => d.device === "eth0")!.classes[0]!;
    expect(shaped.rate).toBe(10e6);

    const sender = new Netns("snd");
    const receiver = new Netns("rcv");
    const server = spawn("ip", ["netns", "exec", receiver.name, process.execPath, THROUGHPUT, "server", "5201"]);
    try {
      const { spawnSync } = await import("node:child_process");
      const made = spawnSync("ip", ["link", "add", "eth0", "netns", sender.name, "type", "veth", "peer", "name", "eth0", "netns", receiver.name]);
      expect(made.status, made.stderr?.toString()).toBe(0);
      sender.run("ip", ["-batch", "-"], "link set lo up\nlink set eth0 up\naddress add 192.0.2.1/24 dev eth0\n");
      receiver.run("ip", ["-batch", "-"], "link set lo up\nlink set eth0 up\naddress add 192.0.2.2/24 dev eth0\naddress add 192.0.2.3/24 dev eth0\n");
      expect(runBatch(sender, batch)).toEqual([]);
      await new Promise<void>((resolve) => server.stdout.once("data", () => resolve()));

      const measure = (to: string, seconds: number) =>
        JSON.parse(sender.run(process.execPath, [THROUGHPUT, "client", to, "5201", String(seconds)])) as { bytes: number; seconds: number };
      // the shaped flow: count what the class sent while the transfer ran
      const before = classBytes(sender, "eth0", shaped.minor);
      const flow = measure("192.0.2.2", 6);
      const sent = classBytes(sender, "eth0", shaped.minor) - before;
      const classRate = (sent * 8) / flow.seconds;
      const goodput = (flow.bytes * 8) / flow.seconds;
      console.log(`shaped: class 1:${shaped.minor} sent ${(classRate / 1e6).toFixed(3)} Mbit/s, TCP goodput ${(goodput / 1e6).toFixed(3)} Mbit/s over ${flow.seconds.toFixed(2)} s`);
      expect(classRate).toBeGreaterThan(10e6 * 0.95);
      expect(classRate).toBeLessThan(10e6 * 1.05);

      const free = measure("192.0.2.3", 2);
      const freeRate = (free.bytes * 8) / free.seconds;
      console.log(`unshaped: TCP goodput ${(freeRate / 1e6).toFixed(1)} Mbit/s`);
      expect(freeRate).toBeGreaterThan(10e6 * 5);
    } finally {
      server.kill("SIGKILL");
      sender.delete();
      receiver.delete();
    }
  }, 60_000);
});
