// The namespace lab of the seed: its machines (and an outsider) as network
// namespaces on one bridge, WireGuard from Debian's wireguard-go with keys
// made for the run, and the seed's scenarios checked with real traffic.
// Used by the lab test (bundles applied by apply.sh) and the fleet test
// (bundles rolled out by Ansible over SSH).
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";
import { expect } from "vitest";
import { ROOT } from "./compile.js";
import { Netns } from "./netns.js";
import { seedWithFreshKeys, type KeyPair } from "./lab-keys.js";

export const HOSTS = {
  "vpn-core": { v4: "10.0.123.2", v6: "2001:db8:123::2" },
  "client-a": { v4: "10.0.123.3" },
  "client-b": { v4: "10.0.123.4", v6: "2001:db8:123::4" },
  outsider: { v4: "10.0.123.99", v6: "2001:db8:123::99" },
} as const;
export type Host = keyof typeof HOSTS;
export const MEMBERS = ["vpn-core", "client-a", "client-b"] as const;
const PROBE = path.join(ROOT, "test/support/net-throughput.mjs");

/** The seed lab as this kernel runs it: fresh keys, no netem, a leaf qdisc it has. */
export function labPolicy(dir: string): { policy: string; keys: Record<string, KeyPair> } {
  const { text, keys } = seedWithFreshKeys();
  fs.writeFileSync(path.join(dir, "policy.wgp"), text.replace(/^delay .*$/m, ""));
  fs.writeFileSync(path.join(dir, "wgpc.toml"), 'leaf_qdisc = "pfifo"\n');
  return { policy: path.join(dir, "policy.wgp"), keys };
}

export class Lab {
  readonly ns: Record<Host, Netns>;
  readonly bridge = new Netns("labbr");
  private readonly daemons: number[] = [];
  private readonly extra: Netns[] = [];

  constructor() {
    this.ns = {} as Record<Host, Netns>;
    this.bridge.run("ip", ["link", "add", "br0", "type", "bridge"]);
    this.bridge.run("ip", ["link", "set", "br0", "up"]);
    for (const [name, a] of Object.entries(HOSTS) as [Host, { v4: string; v6?: string }][]) {
      const lines = [`address add ${a.v4}/24 dev eth0`];
      if (a.v6) lines.push(`address add ${a.v6}/64 dev eth0 nodad`);
      this.ns[name] = this.plug(name, lines);
    }
  }

  /** A new namespace on the lab's bridge, its end of the veth pair called eth0, with `ip` lines for its addresses. */
  plug(name: string, lines: readonly string[]): Netns {
    const ns = new Netns(`lab${name.replace("-", "")}`);
    this.extra.push(ns);
    ns.run("sysctl", ["-qw", "net.ipv6.conf.all.accept_dad=0", "net.ipv6.conf.default.accept_dad=0"]);
    const port = `p-${name}`.slice(0, 15);
    run("ip", ["link", "add", "eth0", "netns", ns.name, "type", "veth", "peer", "name", port, "netns", this.bridge.name]);
    this.bridge.run("ip", ["link", "set", port, "master", "br0", "up"]);
    ns.run("ip", ["-batch", "-"], `${["link set lo up", "link set eth0 up", ...lines].join("\n")}\n`);
    return ns;
  }

  /** The spokes greet the hub over the VPN, so that the hub learns where they are. */
  handshake(): void {
    for (const host of ["client-a", "client-b"] as const) {
      expect(spawnSync("ip", ["netns", "exec", this.ns[host].name, "ping", "-c", "1", "-W", "2", "192.168.4.1"]).status, `${host} pings the hub over the VPN`).toBe(0);
    }
    expect(this.wg("vpn-core", ["show", "wg0", "latest-handshakes"]).trim().split("\n")).toHaveLength(2);
  }

  /** Brings the member's WireGuard up with wg-quick and wireguard-go, in a mount namespace of its own. */
  wgUp(host: Host, conf: string, privateKey: string): void {
    const keyFile = path.join(path.dirname(conf), "private.key");
    fs.writeFileSync(keyFile, `${privateKey}\n`, { mode: 0o600 });
    const script = [
      "mount -t tmpfs -o mode=0700 none /run/wireguard",
      "mount -t tmpfs -o mode=0700 none /etc/wireguard",
      `cp ${keyFile} /etc/wireguard/wg0.key`,
      `WG_QUICK_USERSPACE_IMPLEMENTATION=wireguard-go WG_I_PREFER_BUGGY_USERSPACE_TO_POLISHED_KMOD=1 wg-quick up ${conf} >/dev/null 2>&1`,
    ].join(" && ");
    this.ns[host].run("unshare", ["-m", "--propagation", "private", "sh", "-c", script]);
    fs.rmSync(keyFile);
    this.daemons.push(this.daemon(host));
  }

  /** The wireguard-go of a member: the one process of that name in its namespace. */
  private daemon(host: Host): number {
    const pids = spawnSync("ip", ["netns", "pids", this.ns[host].name], { encoding: "utf8" }).stdout.split("\n").filter(Boolean);
    const pid = pids.find((p) => fs.readFileSync(`/proc/${p}/comm`, "utf8").trim() === "wireguard-go");
    if (!pid) throw new Error(`no wireguard-go in ${host}'s namespace`);
    return Number(pid);
  }

  /** `wg` for a member's daemon: its socket is in the daemon's mount namespace. */
  wg(host: Host, args: string[]): string {
    const r = spawnSync("nsenter", ["-t", String(this.daemon(host)), "-m", "-n", "wg", ...args], { encoding: "utf8" });
    if (r.status !== 0) throw new Error(`wg ${args.join(" ")}: ${r.stderr}`);
    return r.stdout;
  }

  close(): void {
    for (const pid of this.daemons) {
      try {
        process.kill(pid, "SIGKILL");
      } catch {
        // already gone
      }
    }
    for (const ns of this.extra) {
      for (const pid of spawnSync("ip", ["netns", "pids", ns.name], { encoding: "utf8" }).stdout.split("\n").filter(Boolean)) spawnSync("kill", ["-9", pid]);
      ns.delete();
    }
    this.bridge.delete();
    // wait until the daemons are really gone, so nothing outlives the test
    const deadline = Date.now() + 3000;
    while (Date.now() < deadline && this.daemons.some((pid) => fs.existsSync(`/proc/${pid}`))) spawnSync("sleep", ["0.05"]);
  }
}

export function run(command: string, args: string[]): void {
  const r = spawnSync(command, args, { encoding: "utf8" });
  if (r.status !== 0) throw new Error(`${command} ${args.join(" ")}: ${r.stderr}`);
}

/** A TCP connect from a namespace: "connected", "refused" or "timeout". */
export function connect(ns: Netns, host: string, port: number, from?: string): string {
  const script = `const s=require("net").connect({host:${JSON.stringify(host)},port:${port}${from ? `,localAddress:${JSON.stringify(from)}` : ""}});s.setTimeout(1500,()=>{console.log("timeout");process.exit(0)});s.on("connect",()=>{console.log("connected");process.exit(0)});s.on("error",e=>{console.log(e.code==="ECONNREFUSED"?"refused":e.code);process.exit(0)});`;
  return ns.run(process.execPath, ["-e", script]).trim();
}

/** A TCP listener that prints each peer's address. */
export function listen(ns: Netns, port: number): { proc: ChildProcess; peers: string[] } {
  const peers: string[] = [];
  const script = `require("net").createServer(s=>{console.log(s.remoteAddress.replace(/^::ffff:/,""));s.destroy()}).listen({port:${port},host:"::",ipv6Only:false},()=>console.log("ready"))`;
  const proc = spawn("ip", ["netns", "exec", ns.name, process.execPath, "-e", script]);
  proc.stdout!.on("data", (d: Buffer) => peers.push(...d.toString().split("\n").filter((l) => l && l !== "ready")));
  return { proc, peers };
}

/**
 * The seed's scenarios (a)-(f) with real traffic, on a lab whose bundles are
 * applied: VPN reach, the physical path refused, masquerade through the
 * hub, IPv6 refused from outside, early drop counted, the per-peer shaping.
 */
export async function checkScenarios(lab: Lab, keys: Record<string, KeyPair>, pins: string, label: string): Promise<void> {
  const listeners: ChildProcess[] = [];
  try {
    const nc = listen(lab.ns["client-b"], 1234);
    listeners.push(nc.proc);
    await new Promise((r) => setTimeout(r, 300));

    // (a) client-a reaches client-b:1234 over the VPN
    expect(connect(lab.ns["client-a"], "192.168.4.3", 1234)).toBe("connected");
    // (b) but not over the physical network
    expect(connect(lab.ns["client-a"], "10.0.123.4", 1234)).toBe("timeout");
    // (c) through the hub to client-b's physical address: masqueraded, it arrives from the hub
    const hubKey = keys["vpn-core"]!.public;
    lab.wg("client-a", ["set", "wg0", "peer", hubKey, "allowed-ips", "192.168.4.0/24,fd00:4::/64,10.0.123.4/32"]);
    lab.ns["client-a"].run("ip", ["route", "add", "10.0.123.4/32", "dev", "wg0"]);
    expect(connect(lab.ns["client-a"], "10.0.123.4", 1234)).toBe("connected");
    await new Promise((r) => setTimeout(r, 200));
    // client-b saw (a) from client-a's overlay address, and (c) from the hub's
    expect(nc.peers).toEqual(["192.168.4.2", "10.0.123.2"]);
    // (d) IPv6 from outside to the protected port is refused, and to ssh
    expect(connect(lab.ns.outsider, "2001:db8:123::4", 1234)).toBe("timeout");
    expect(connect(lab.ns.outsider, "2001:db8:123::4", 22)).toBe("timeout");

    // (f) the hub drops the seed's demo source early, and counts it
    lab.ns.outsider.run("ip", ["address", "add", "10.0.123.66/24", "dev", "eth0"]);
    const counter = () => {
      const r = spawnSync("bpftool", ["-j", "map", "lookup", "pinned", `${pins}/vpn-core/eth0/wgpc_rule_stats`, "key", "0", "0", "0", "0"], { encoding: "utf8" });
      const v = JSON.parse(r.stdout);
      if (!(v.formatted?.values ?? v.values)) throw new Error(`unexpected bpftool output: ${r.stdout} ${r.stderr}`);
      return (v.formatted?.values ?? v.values).reduce((n: number, x: { value: { packets: number } }) => n + Number(x.value.packets), 0);
    };
    const dropsBefore = counter();
    expect(connect(lab.ns.outsider, "10.0.123.2", 22, "10.0.123.66")).toBe("timeout");
    expect(counter()).toBeGreaterThan(dropsBefore);
    // while the same outsider from its own address still gets an answer from the hub (ping is allowed)
    expect(spawnSync("ip", ["netns", "exec", lab.ns.outsider.name, "ping", "-c", "1", "-W", "2", "-I", "10.0.123.99", "10.0.123.2"]).status).toBe(0);

    // (e) a shaped flow through the hub: client-b to client-a meets the 20mbit limit per peer
    const web = spawn("ip", ["netns", "exec", lab.ns["client-a"].name, process.execPath, PROBE, "server", "80"]);
    listeners.push(web);
    await new Promise<void>((resolve) => web.stdout!.once("data", () => resolve()));
    const flow = JSON.parse(lab.ns["client-b"].run(process.execPath, [PROBE, "client", "192.168.4.2", "80", "4"])) as { bytes: number; seconds: number };
    const mbit = (flow.bytes * 8) / flow.seconds / 1e6;
    console.log(`${label}: client-b → client-a through the hub: ${mbit.toFixed(2)} Mbit/s (class 20mbit)`);
    expect(mbit).toBeLessThan(20 * 1.05);
    expect(mbit).toBeGreaterThan(20 * 0.7);
  } finally {
    for (const l of listeners) l.kill("SIGKILL");
  }
}
