// The XDP program in the kernel: compiled with -Wall -Werror, loaded through
// the verifier and attached in a scratch namespace on a veth (native) and a
// tun (generic, no Ethernet header) by the bundle's own load.sh, its maps
// filled from a compiled policy; then crafted packets go through
// BPF_PROG_TEST_RUN (bpftool prog run) and each verdict must equal the
// reference semantics. Pins live under a directory of this test's own and
// are removed afterwards.
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { afterAll, describe, expect } from "vitest";
import { earlyVerdict, type EarlyPacket, type XdpProgram } from "../../src/ir/early.js";
import { parseAddress } from "../../src/net/address.js";
import { compileSource, rendered } from "../support/compile.js";
import { arpFrame, craft, type Craft } from "../support/packet-craft.js";
import { rootIt, withNetns, type Netns } from "../support/netns.js";

const work = fs.mkdtempSync(path.join(os.tmpdir(), "wgpc-xdp-"));
const pins = `/sys/fs/bpf/wgpc-test-${process.pid}`;
afterAll(() => {
  fs.rmSync(work, { recursive: true, force: true });
  fs.rmSync(pins, { recursive: true, force: true });
});

const addr = (text: string) => {
  const r = parseAddress(text);
  if (!r.ok) throw new Error(r.reason);
  return r.bits;
};

const HUB = `vpn lab on wg0 {
  network 192.168.4.0/24, fd00:4::/64
  hub vpn-core 192.168.4.1, fd00:4::1 endpoint 10.0.123.2:51820 key "wohuCPBh1+tIOgmVp9ydob7gVOs+XjVaY1CFSWyIB7A="
  peer client-a 192.168.4.2, fd00:4::2 key "GScAjChApo0b8IgTi31qCEd1Ya1SiVqNK219TiOYL2I="
}
host vpn-core 10.0.123.2, 2001:db8:123::2 on eth0
`;

const POLICY = `${HUB}group blocklist = 203.0.113.0/24, 198.51.100.128/25, 2001:db8:bad::/48
drop from 203.0.113.7 early
drop from blocklist early
drop from any to 10.0.123.2:{22/tcp, 1000-2000/udp} early
drop from any to vpn-core:icmp/echo-request early
drop from any to [2001:db8:123::2]:443/tcp early
drop from client-a to 10.0.123.2:5000-5100/udp early
`;

/** Writes a compiled bundle's xdp/ folder to disk. */
function writeBundle(source: string, dir: string): { programs: readonly XdpProgram[] } {
  const result = compileSource(source);
  expect(result.bundles, rendered(result)).toBeDefined();
  const hub = result.bundles!.find((b) => b.host === "vpn-core")!;
  for (const a of hub.artifacts.filter((x) => x.path.startsWith("xdp/"))) {
    const file = path.join(dir, a.path);
    fs.mkdirSync(path.dirname(file), { recursive: true });
    fs.writeFileSync(file, a.text, { mode: a.executable ? 0o755 : 0o644 });
  }
  return { programs: result.hosts!.find((h) => h.name === "vpn-core")!.early };
}

/** Runs a command in the namespace's network but the machine's mounts, where the pins are. */
function inNet(ns: Netns, command: string, args: string[], env: Record<string, string> = {}): string {
  const r = spawnSync("nsenter", [`--net=/run/netns/${ns.name}`, command, ...args], { encoding: "utf8", env: { ...process.env, ...env } });
  if (r.status !== 0) throw new Error(`${command} ${args.join(" ")}: ${r.stderr}${r.stdout}`);
  return r.stdout;
}

function run(ns: Netns, prog: string, frame: Buffer, name: string): number {
  const file = path.join(work, `${name}.bin`);
  fs.writeFileSync(file, frame);
  const out = inNet(ns, "bpftool", ["prog", "run", "pinned", prog, "data_in", file]);
  return Number(out.match(/Return value: (\d+)/)![1]);
}

function counter(ns: Netns, map: string, index: number): number {
  const key = [index & 0xff, (index >> 8) & 0xff, 0, 0].map(String);
  const out = JSON.parse(inNet(ns, "bpftool", ["-j", "map", "lookup", "pinned", map, "key", ...key]));
  const values: { value: { packets: number } }[] = out.formatted?.values ?? out.values;
  return values.reduce((n, v) => n + Number(v.value.packets ?? 0), 0);
}

const XDP_DROP = 1;
const XDP_PASS = 2;

interface Case {
  readonly name: string;
  readonly craft: Craft;
  /** a parse-level verdict the rules never see; otherwise the reference decides */
  readonly parseVerdict?: "drop" | "pass";
}

function cases(family4: { src: string; dst: string }, l3: boolean): Case[] {
  const v4 = (src: string, dst: string, rest: Partial<Craft>): Craft => ({ family: 4, saddr: addr(src), daddr: addr(dst), proto: 6, dport: 80, l3, ...rest });
  const v6 = (src: string, dst: string, rest: Partial<Craft>): Craft => ({ family: 6, saddr: addr(src), daddr: addr(dst), proto: 6, dport: 80, l3, ...rest });
  const out: Case[] = [
    // prefix edges
    { name: "v4 blocked host", craft: v4("203.0.113.7", family4.dst, {}) },
    { name: "v4 first of /24", craft: v4("203.0.113.0", family4.dst, {}) },
    { name: "v4 last of /24", craft: v4("203.0.113.255", family4.dst, {}) },
    { name: "v4 just below /24", craft: v4("203.0.112.255", family4.dst, {}) },
    { name: "v4 just above /24", craft: v4("203.0.114.0", family4.dst, {}) },
    { name: "v4 first of /25", craft: v4("198.51.100.128", family4.dst, {}) },
    { name: "v4 below /25", craft: v4("198.51.100.127", family4.dst, {}) },
    { name: "v6 in /48", craft: v6("2001:db8:bad::1", "2001:db8:123::2", {}) },
    { name: "v6 last of /48", craft: v6("2001:db8:bad:ffff:ffff:ffff:ffff:ffff", "2001:db8:123::2", {}) },
    { name: "v6 after /48", craft: v6("2001:db8:bae::", "2001:db8:123::2", {}) },
    // ports at range edges, with both bytes differing (22 = 0x0016, 1000 = 0x03e8, 2000 = 0x07d0)
    { name: "tcp 22", craft: v4("192.0.2.50", "10.0.123.2", { dport: 22 }) },
    { name: "tcp 23", craft: v4("192.0.2.50", "10.0.123.2", { dport: 23 }) },
    { name: "tcp 5632 (0x1600, bytes swapped 22)", craft: v4("192.0.2.50", "10.0.123.2", { dport: 0x1600 }) },
    { name: "udp 999", craft: v4("192.0.2.50", "10.0.123.2", { proto: 17, dport: 999 }) },
    { name: "udp 1000", craft: v4("192.0.2.50", "10.0.123.2", { proto: 17, dport: 1000 }) },
    { name: "udp 2000", craft: v4("192.0.2.50", "10.0.123.2", { proto: 17, dport: 2000 }) },
    { name: "udp 2001", craft: v4("192.0.2.50", "10.0.123.2", { proto: 17, dport: 2001 }) },
    { name: "udp 53248 (0xd007, bytes swapped 2000)", craft: v4("192.0.2.50", "10.0.123.2", { proto: 17, dport: 0xd007 }) },
    { name: "tcp 1000 (udp range only)", craft: v4("192.0.2.50", "10.0.123.2", { dport: 1000 }) },
    { name: "v6 tcp 443", craft: v6("2001:db8:1::1", "2001:db8:123::2", { dport: 443 }) },
    { name: "v6 tcp 444", craft: v6("2001:db8:1::1", "2001:db8:123::2", { dport: 444 }) },
    // ICMP
    { name: "icmp echo to hub", craft: v4("192.0.2.50", "10.0.123.2", { proto: 1, icmpType: 8 }) },
    { name: "icmp echo reply to hub", craft: v4("192.0.2.50", "10.0.123.2", { proto: 1, icmpType: 0 }) },
    { name: "icmpv6 echo to hub", craft: v6("2001:db8:1::1", "2001:db8:123::2", { proto: 58, icmpType: 128 }) },
    { name: "ND solicit from a blocked source", craft: v6("2001:db8:bad::1", "2001:db8:123::2", { proto: 58, icmpType: 135 }) },
    // IPv4 options and fragments
    { name: "tcp 22 behind 8 bytes of IPv4 options", craft: v4("192.0.2.50", "10.0.123.2", { dport: 22, ipv4Options: 8 }) },
    { name: "tcp 22 behind 40 bytes of IPv4 options", craft: v4("192.0.2.50", "10.0.123.2", { dport: 22, ipv4Options: 40 }) },
    { name: "first fragment, tcp 22", craft: v4("192.0.2.50", "10.0.123.2", { dport: 22, fragment: "first" }) },
    { name: "later fragment to the hub (no ports)", craft: v4("192.0.2.50", "10.0.123.2", { dport: 22, fragment: "later" }) },
    { name: "later fragment from a blocked source", craft: v4("203.0.113.9", "10.0.123.2", { fragment: "later" }) },
    { name: "first fragment too short for TCP", craft: v4("192.0.2.50", "10.0.123.2", { dport: 22, fragment: "first", truncateL4: 3 }), parseVerdict: "drop" },
    // IPv6 extension headers and fragments
    { name: "v6 tcp 443 after hop-by-hop and dest options", craft: v6("2001:db8:1::1", "2001:db8:123::2", { dport: 443, ipv6Ext: [0, 60] }) },
    { name: "v6 tcp 443 after routing and AH", craft: v6("2001:db8:1::1", "2001:db8:123::2", { dport: 443, ipv6Ext: [43, 51] }) },
    { name: "v6 first fragment tcp 443", craft: v6("2001:db8:1::1", "2001:db8:123::2", { dport: 443, fragment: "first" }) },
    { name: "v6 later fragment to 443", craft: v6("2001:db8:1::1", "2001:db8:123::2", { dport: 443, fragment: "later" }) },
    { name: "v6 later fragment from a blocked source", craft: v6("2001:db8:bad::2", "2001:db8:123::2", { fragment: "later" }) },
    { name: "v6 eight extension headers, tcp 443", craft: v6("2001:db8:1::1", "2001:db8:123::2", { dport: 443, ipv6Ext: [0, 60, 60, 60, 60, 60, 60, 60] }) },
    { name: "v6 nine extension headers", craft: v6("2001:db8:1::1", "2001:db8:123::2", { ipv6Ext: [0, 60, 60, 60, 60, 60, 60, 60, 60] }), parseVerdict: "drop" },
    // the IP length says the transport header is not there: padding is not a header
    { name: "v4 TCP header only in the padding", craft: v4("192.0.2.50", "10.0.123.2", { dport: 80, l4AsPadding: true }), parseVerdict: "drop" },
    { name: "v6 TCP header only in the padding", craft: v6("2001:db8:1::1", "2001:db8:123::2", { dport: 80, l4AsPadding: true }), parseVerdict: "drop" },
    // truncated
    { name: "truncated TCP header", craft: v4("192.0.2.50", "10.0.123.2", { dport: 22, truncateL4: 2 }), parseVerdict: "drop" },
  ];
  if (!l3) {
    out.push(
      { name: "802.1Q tag, blocked", craft: v4("203.0.113.7", family4.dst, { vlans: [0x8100] }) },
      { name: "802.1ad + 802.1Q tags, tcp 22", craft: v4("192.0.2.50", "10.0.123.2", { dport: 22, vlans: [0x88a8, 0x8100] }) },
      { name: "two tags, not blocked", craft: v4("192.0.2.50", "10.0.123.2", { dport: 80, vlans: [0x88a8, 0x8100] }) },
      { name: "three tags", craft: v4("192.0.2.50", "10.0.123.2", { vlans: [0x88a8, 0x8100, 0x8100] }), parseVerdict: "drop" },
    );
  }
  return out;
}

function reference(program: XdpProgram, c: Case): "drop" | "pass" {
  if (c.parseVerdict) return c.parseVerdict;
  const p: EarlyPacket = {
    family: c.craft.family,
    saddr: c.craft.saddr,
    daddr: c.craft.daddr,
    proto: c.craft.proto,
    l4: c.craft.fragment !== "later",
    dport: c.craft.dport,
    icmpType: c.craft.icmpType,
  };
  return earlyVerdict(program, p).verdict;
}

describe("the XDP program in the kernel", () => {
  rootIt("compiles with -Wall -Werror, passes the verifier, attaches on a veth and a tun, and decides crafted packets as the reference does", () => {
    const bundle = path.join(work, "bundle");
    const { programs } = writeBundle(POLICY, bundle);
    expect(programs.map((p) => p.iface)).toEqual(["eth0", "wg0"]);
    const env = { WGPC_BPFFS: pins };
    withNetns("xdp", (ns) => {
      ns.run("ip", ["link", "add", "eth0", "type", "veth", "peer", "name", "eth0-peer"]);
      ns.run("ip", ["tuntap", "add", "dev", "wg0", "mode", "tun"]);
      for (const d of ["eth0", "eth0-peer", "wg0"]) ns.run("ip", ["link", "set", d, "up"]);
      try {
        inNet(ns, "sh", [path.join(bundle, "xdp/load.sh"), "attach"], env);
        expect(ns.run("ip", ["-d", "link", "show", "eth0"])).toMatch(/prog\/xdp id \d+/);
        expect(ns.run("ip", ["-d", "link", "show", "wg0"])).toMatch(/xdpgeneric|prog\/xdp/);
        let compared = 0;
        for (const program of programs) {
          const prog = `${pins}/${program.iface}/prog`;
          const dst = program.l3 ? "192.168.4.1" : "10.0.123.2";
          for (const c of cases({ src: "192.0.2.50", dst }, program.l3)) {
            const want = reference(program, c) === "drop" ? XDP_DROP : XDP_PASS;
            expect(run(ns, prog, craft(c.craft), `${program.iface}-${compared}`), `${program.iface}: ${c.name}`).toBe(want);
            compared++;
          }
          if (!program.l3) expect(run(ns, prog, arpFrame(), "arp"), "ARP passes").toBe(XDP_PASS);
        }
        expect(compared).toBeGreaterThan(70);

        // counters: each run above counted on the rule that decided
        const stats = `${pins}/eth0/wgpc_rule_stats`;
        const before = counter(ns, stats, 0);
        const prog = `${pins}/eth0/prog`;
        for (let i = 0; i < 3; i++) run(ns, prog, craft({ family: 4, saddr: addr("203.0.113.7"), daddr: addr("10.0.123.2"), proto: 6, dport: 80 }), "count");
        expect(counter(ns, stats, 0) - before).toBe(3);
        // and per source: family 4, padding, then the address
        const key = [4, 0, 0, 0, 203, 0, 113, 7, ...new Array(12).fill(0)].map(String);
        const perSource = JSON.parse(inNet(ns, "bpftool", ["-j", "map", "lookup", "pinned", `${pins}/eth0/wgpc_src_stats`, "key", ...key]));
        const values: { value: number }[] = perSource.formatted?.values ?? perSource.values;
        expect(values.reduce((n, v) => n + Number(v.value), 0)).toBeGreaterThanOrEqual(4);
      } finally {
        try {
          inNet(ns, "sh", [path.join(bundle, "xdp/load.sh"), "detach"], env);
        } finally {
          fs.rmSync(pins, { recursive: true, force: true });
        }
      }
      expect(fs.existsSync(`${pins}/eth0`)).toBe(false);
    });
  });

  rootIt("takes a changed blocklist without reloading the program", () => {
    const bundle = path.join(work, "update");
    writeBundle(POLICY, bundle);
    const env = { WGPC_BPFFS: pins };
    withNetns("xdpup", (ns) => {
      ns.run("ip", ["link", "add", "eth0", "type", "veth", "peer", "name", "eth0-peer"]);
      ns.run("ip", ["tuntap", "add", "dev", "wg0", "mode", "tun"]);
      for (const d of ["eth0", "eth0-peer", "wg0"]) ns.run("ip", ["link", "set", d, "up"]);
      try {
        inNet(ns, "sh", [path.join(bundle, "xdp/load.sh"), "attach"], env);
        const prog = `${pins}/eth0/prog`;
        const id = () => JSON.parse(inNet(ns, "bpftool", ["-j", "prog", "show", "pinned", prog])).id as number;
        const first = id();
        const from = (src: string) => craft({ family: 4, saddr: addr(src), daddr: addr("10.0.123.2"), proto: 6, dport: 80 });
        expect(run(ns, prog, from("203.0.113.50"), "a")).toBe(XDP_DROP);
        expect(run(ns, prog, from("192.0.2.99"), "b")).toBe(XDP_PASS);

        // the new policy no longer blocks 203.0.113.0/24 but blocks 192.0.2.96/28
        writeBundle(POLICY.replace("203.0.113.0/24", "192.0.2.96/28"), bundle);
        inNet(ns, "sh", [path.join(bundle, "xdp/load.sh"), "update", "eth0"], env);
        expect(id()).toBe(first);
        expect(run(ns, prog, from("203.0.113.50"), "c")).toBe(XDP_PASS);
        expect(run(ns, prog, from("192.0.2.99"), "d")).toBe(XDP_DROP);
        // the host rule of its own still holds
        expect(run(ns, prog, from("203.0.113.7"), "e")).toBe(XDP_DROP);

        // lists that outgrow the tries reload the program instead of failing half-way
        const many = Array.from({ length: 1500 }, (_, i) => `11.${i >> 7}.0.${2 * (i & 127)}`).join(", ");
        writeBundle(`${HUB}group big = ${many}\ndrop from big early\n`, bundle);
        inNet(ns, "sh", [path.join(bundle, "xdp/load.sh"), "ensure"], env);
        expect(id()).not.toBe(first);
        expect(run(ns, prog, from("11.11.0.20"), "f")).toBe(XDP_DROP);
        expect(run(ns, prog, from("11.11.0.21"), "g")).toBe(XDP_PASS);
        expect(run(ns, prog, from("203.0.113.7"), "h")).toBe(XDP_PASS);
        // and the VPN interface, which this policy no longer uses, is left clean
        expect(fs.existsSync(`${pins}/wg0`)).toBe(false);
        expect(ns.run("ip", ["-d", "link", "show", "wg0"])).not.toMatch(/xdp/);

        // taken off by hand: ensure puts the pinned program back on (same program, maps kept)
        const attached = () => ns.run("ip", ["-d", "link", "show", "eth0"]).match(/prog\/xdp\S* id (\d+)/)?.[1];
        expect(attached()).toBe(String(id()));
        ns.run("ip", ["link", "set", "dev", "eth0", "xdpdrv", "off"]);
        expect(attached()).toBeUndefined();
        inNet(ns, "sh", [path.join(bundle, "xdp/load.sh"), "ensure"], env);
        expect(attached()).toBe(String(id()));
        expect(run(ns, prog, from("11.11.0.20"), "i")).toBe(XDP_DROP);
        // the pins gone (a reboot of bpffs, a hand) while the program stays on: ensure attaches anew
        const old = id();
        fs.rmSync(`${pins}/eth0`, { recursive: true, force: true });
        expect(attached()).toBe(String(old));
        inNet(ns, "sh", [path.join(bundle, "xdp/load.sh"), "ensure"], env);
        expect(attached()).toBe(String(id()));
        expect(id()).not.toBe(old);
      } finally {
        try {
          inNet(ns, "sh", [path.join(bundle, "xdp/load.sh"), "detach"], env);
        } finally {
          fs.rmSync(pins, { recursive: true, force: true });
        }
      }
    });
  });
});
