// The kernel-backed check: a sample of generated policies is compiled, each
// backend's artifacts are loaded into a scratch "receiver" namespace, and
// real packets (TCP connect, UDP, ICMP echo; IPv4 and IPv6) are sent to it
// from two sender namespaces: one behind its `eth0`, one behind its `wg0`.
// What the kernel delivers must be what the reference semantics says.
// Traffic stays between namespaces made here; all of them are removed.
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import fc from "fast-check";
import { describe, expect } from "vitest";
import type { Packet } from "../../src/ir/evaluate.js";
import type { HostIr } from "../../src/ir/types.js";
import { formatBits, type Family } from "../../src/net/address.js";
import { hasErrors } from "../../src/diagnostics/diagnostic.js";
import { policyText } from "../support/arbitraries.js";
import { artifact, compileSource, ROOT } from "../support/compile.js";
import { packetGrid } from "../support/packets.js";
import { describePacket, referenceVerdict } from "../support/reference.js";
import { Netns, rootIt } from "../support/netns.js";

const POLICIES = 6;
const PROBES_PER_POLICY = 30;
// Linux reports an ICMPv6 port-unreachable to a TCP connect only after the
// first SYN retransmission (about 1 s): wait longer than that
const TIMEOUT_MS = 1500;
const LISTENER = path.join(ROOT, "test/support/net-listener.mjs");
const PROBER = path.join(ROOT, "test/support/net-prober.mjs");

type Side = "eth0" | "wg0";
type Observed = "accept" | "reject" | "silence";

interface Probe {
  readonly id: string;
  readonly side: Side;
  readonly packet: Packet;
  readonly proto: "tcp" | "udp" | "icmp";
}

/** Addresses a sender can really use as its source. */
function usableSource(family: Family, bits: bigint): boolean {
  if (family === 4) {
    const first = Number(bits >> 24n);
    return first !== 0 && first !== 127 && first < 224;
  }
  const top16 = Number(bits >> 112n);
  return bits > 1n && top16 < 0xff00 && (top16 & 0xffc0) !== 0xfe80 && bits >> 32n !== 0xffffn;
}

function probesFor(result: ReturnType<typeof compileSource>, host: HostIr, seed: number): Probe[] {
  const machine = result.policy!.machines.get(host.name)!;
  const own = [...machine.physical, ...machine.overlay];
  const ownBits = new Set(own.map((p) => `${p.family}:${p.bits}`));
  const probes: Probe[] = [];
  for (const p of packetGrid(result.policy!, host.name, 400, seed)) {
    if (probes.length >= PROBES_PER_POLICY) break;
    const targets = own.filter((a) => a.family === p.family);
    if (targets.length === 0 || !usableSource(p.family, p.saddr) || ownBits.has(`${p.family}:${p.saddr}`)) continue;
    const side: Side = p.iif === "wg0" ? "wg0" : "eth0";
    const daddr = targets[Number(p.saddr % BigInt(targets.length))]!.bits;
    const base = { family: p.family, saddr: p.saddr, daddr, iif: side, ct: "new" as const };
    if (p.proto === "tcp" || p.proto === "udp") {
      probes.push({ id: String(probes.length), side, proto: p.proto, packet: { ...base, proto: p.proto, dport: p.dport } });
    } else if (p.proto === "icmp" || p.proto === "icmpv6") {
      // ping sends an echo request with the default hop limit
      const echo = p.family === 4 ? 8 : 128;
      probes.push({ id: String(probes.length), side, proto: "icmp", packet: { ...base, proto: p.proto, icmpType: echo, hopLimit: 64 } });
    }
  }
  return probes;
}

const expectedClass = (verdict: string): Observed => (verdict === "accept" ? "accept" : verdict.startsWith("reject") ? "reject" : "silence");

class Lab {
  readonly rx = new Netns("rx");
  readonly senders: Record<Side, Netns> = { eth0: new Netns("txe"), wg0: new Netns("txw") };
  private listener?: ChildProcess;

  constructor(machine: { readonly physical: readonly { family: Family; bits: bigint }[]; readonly overlay: readonly { family: Family; bits: bigint }[] }) {
    for (const ns of [this.rx, this.senders.eth0, this.senders.wg0]) {
      // no DAD delay, no reverse-path filter, and no rate limit on the ICMP errors that show a reject
      ns.run("sysctl", ["-qw", "net.ipv6.conf.all.accept_dad=0", "net.ipv6.conf.default.accept_dad=0", "net.ipv4.conf.all.rp_filter=0", "net.ipv4.conf.default.rp_filter=0", "net.ipv4.icmp_ratelimit=0", "net.ipv6.icmp.ratelimit=0"]);
      ns.run("ip", ["link", "set", "lo", "up"]);
    }
    for (const side of ["eth0", "wg0"] as const) {
      run("ip", ["link", "add", side, "netns", this.rx.name, "type", "veth", "peer", "name", "veth0", "netns", this.senders[side].name]);
      this.rx.run("ip", ["link", "set", side, "up"]);
      this.senders[side].run("ip", ["link", "set", "veth0", "up"]);
    }
    const add = (a: { family: Family; bits: bigint }, dev: Side) =>
      `address add ${formatBits(a.family, a.bits)}/${a.family === 4 ? 32 : 128}${a.family === 6 ? " nodad" : ""} dev ${dev}`;
    const lines = [...machine.physical.map((a) => add(a, "eth0")), ...machine.overlay.map((a) => add(a, "wg0"))];
    if (lines.length > 0) this.rx.run("ip", ["-batch", "-"], `${lines.join("\n")}\n`);
  }

  async listen(tcp: number[], udp: number[]): Promise<string[]> {
    const received: string[] = [];
    this.listener = spawn("ip", ["netns", "exec", this.rx.name, process.execPath, LISTENER, JSON.stringify({ tcp, udp })]);
    await new Promise<void>((resolve, reject) => {
      let buffer = "";
      this.listener!.stdout!.on("data", (chunk: Buffer) => {
        buffer += chunk.toString();
        let nl: number;
        while ((nl = buffer.indexOf("\n")) >= 0) {
          const line = JSON.parse(buffer.slice(0, nl));
          buffer = buffer.slice(nl + 1);
          if (line.ready) resolve();
          if (line.udp) received.push(line.udp);
        }
      });
      this.listener!.on("exit", (code) => reject(new Error(`listener exited with ${code}`)));
      setTimeout(() => reject(new Error("listener did not start")), 10_000);
    });
    return received;
  }

  /** Sends one side's probes, with the receiver routing their sources back to that side. */
  probe(side: Side, probes: Probe[]): Record<string, string> {
    if (probes.length === 0) return {};
    const sender = this.senders[side];
    const sources = [...new Map(probes.map((p) => [`${p.packet.family}:${p.packet.saddr}`, p.packet])).values()];
    const targets = [...new Map(probes.map((p) => [`${p.packet.family}:${p.packet.daddr}`, p.packet])).values()];
    const host = (f: Family, bits: bigint) => `${formatBits(f, bits)}/${f === 4 ? 32 : 128}`;
    // The receiver's addresses sit on either of its interfaces; a static
    // neighbour entry makes every one of them reachable from this side (IPv6
    // answers neighbour solicitations only for the receiving interface's own
    // addresses).
    const mac = JSON.parse(this.rx.run("ip", ["-j", "link", "show", side]))[0].address as string;
    sender.run("ip", ["-batch", "-"], [
      ...sources.map((p) => `address add ${host(p.family, p.saddr)}${p.family === 6 ? " nodad" : ""} dev veth0`),
      ...targets.map((p) => `route add ${host(p.family, p.daddr)} dev veth0`),
      ...targets.map((p) => `neighbour replace ${formatBits(p.family, p.daddr)} lladdr ${mac} dev veth0 nud permanent`),
    ].join("\n") + "\n");
    const routes = sources.map((p) => `route add ${host(p.family, p.saddr)} dev ${side}`);
    this.rx.run("ip", ["-batch", "-"], `${routes.join("\n")}\n`);
    try {
      const input = probes.map((p) => ({
        id: p.id,
        proto: p.proto,
        saddr: formatBits(p.packet.family, p.packet.saddr),
        daddr: formatBits(p.packet.family, p.packet.daddr),
        dport: p.packet.dport,
      }));
      return JSON.parse(sender.run(process.execPath, [PROBER, JSON.stringify(input), String(TIMEOUT_MS)]));
    } finally {
      this.rx.run("ip", ["-batch", "-"], `${routes.map((r) => r.replace("route add", "route del")).join("\n")}\n`);
      sender.run("ip", ["-batch", "-"], `${sources.map((p) => `address del ${host(p.family, p.saddr)} dev veth0`).join("\n")}\n`);
    }
  }

  close(): void {
    this.listener?.kill("SIGKILL");
    for (const ns of [this.rx, this.senders.eth0, this.senders.wg0]) ns.delete();
  }
}

/** A command in the machine's own namespace (only to create the veth pairs). */
function run(command: string, args: string[]): void {
  const r = spawnSync(command, args, { encoding: "utf8" });
  if (r.status !== 0) throw new Error(`${command} ${args.join(" ")}: ${r.stderr}`);
}

const work = fs.mkdtempSync(path.join(os.tmpdir(), "wgpc-packets-"));

describe("real packets through the kernel", () => {
  rootIt(
    `a sample of ${POLICIES} generated policies: both backends deliver what the reference semantics says`,
    async () => {
      const sample = fc
        .sample(policyText, { seed: 7, numRuns: 60 })
        .filter((source) => !hasErrors(compileSource(source).diagnostics))
        .slice(0, POLICIES);
      expect(sample).toHaveLength(POLICIES);
      const mismatches: string[] = [];
      let compared = 0;
      try {
        for (const [index, source] of sample.entries()) {
          const result = compileSource(source);
          const name = result.policy!.machines.has("p1") ? "p1" : "h1";
          const host = result.hosts!.find((h) => h.name === name)!;
          const probes = probesFor(result, host, index + 1);
          const files = {
            v4: path.join(work, `${index}.v4`),
            v6: path.join(work, `${index}.v6`),
            nft: path.join(work, `${index}.nft`),
          };
          fs.writeFileSync(files.v4, artifact(result, name, "iptables.rules"));
          fs.writeFileSync(files.v6, artifact(result, name, "ip6tables.rules"));
          fs.writeFileSync(files.nft, artifact(result, name, "ruleset.nft"));
          for (const backend of ["iptables", "nftables"] as const) {
            const lab = new Lab(result.policy!.machines.get(name)!);
            try {
              if (backend === "iptables") {
                lab.rx.run("iptables-restore", [files.v4]);
                lab.rx.run("ip6tables-restore", [files.v6]);
              } else {
                lab.rx.run("nft", ["-f", files.nft]);
              }
              const ports = (proto: string) => [...new Set(probes.filter((p) => p.proto === proto).map((p) => p.packet.dport!))];
              const delivered = await lab.listen(ports("tcp"), ports("udp"));
              const answers = { ...lab.probe("eth0", probes.filter((p) => p.side === "eth0")), ...lab.probe("wg0", probes.filter((p) => p.side === "wg0")) };
              await new Promise((r) => setTimeout(r, 100));
              for (const p of probes) {
                const observed: Observed = p.proto === "udp" && delivered.includes(p.id) ? "accept" : (answers[p.id] as Observed);
                const want = expectedClass(referenceVerdict(host, "input", p.packet));
                compared++;
                if (observed !== want) {
                  mismatches.push(`${backend} on ${name}: ${describePacket(p.packet)} (${p.proto}): kernel ${observed}, reference ${want}\n${source}`);
                }
              }
            } finally {
              lab.close();
            }
          }
        }
      } finally {
        fs.rmSync(work, { recursive: true, force: true });
      }
      console.log(`kernel-backed check: ${POLICIES} policies, ${compared} probes across both backends`);
      expect(mismatches).toEqual([]);
      expect(compared).toBeGreaterThan(POLICIES * 20);
    },
    240_000,
  );
});
