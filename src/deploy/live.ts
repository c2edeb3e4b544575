// The machine's live datapaths as the tools print them back: read for a
// snapshot before applying, put back on rollback, and compared by
// `wgpc diff`. Everything here runs the real tools in the current network
// namespace; nothing is parsed that the tools did not print.
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";
import { restoreForm } from "./normalise.js";

export interface Ran {
  readonly status: number;
  readonly stdout: string;
  readonly stderr: string;
}

/**
 * Runs a tool in a session of its own (setsid): a Ctrl-C or hangup sent to
 * the terminal's processes reaches wgpc, which holds it off while it
 * applies, and not the tool, whose cut-short output would read as a wrong
 * snapshot (an nft table "absent" that is there).
 */
export function run(command: string, args: readonly string[], input?: string, env?: NodeJS.ProcessEnv): Ran {
  const r = spawnSync("setsid", ["--wait", command, ...args], { input, encoding: "utf8", env: env ?? process.env, maxBuffer: 1 << 30 });
  if (r.error) return { status: 127, stdout: "", stderr: `setsid: ${r.error.message}` };
  // setsid says 127 when the tool is not there
  if (r.status === 127 && /No such file or directory/.test(r.stderr)) return { status: 127, stdout: "", stderr: `${command}: not installed` };
  return { status: r.status ?? 128 + (r.signal ? 1 : 0), stdout: r.stdout, stderr: r.stderr };
}

export class StepError extends Error {
  constructor(
    readonly step: string,
    detail: string,
  ) {
    super(detail);
  }
}

function must(step: string, command: string, args: readonly string[], input?: string): string {
  const r = run(command, args, input);
  if (r.status !== 0) throw new StepError(step, `${command} ${args.join(" ")}: ${(r.stderr || r.stdout).trim().split("\n").slice(-3).join("; ")}`);
  return r.stdout;
}

/** Everything of the machine that applying a bundle can change, as printed back. */
export interface LiveState {
  /** `nft list table inet wgpc`, null when the table does not exist */
  readonly nft: string | null;
  /** iptables-save and ip6tables-save of the filter and nat tables (restore form); "" when the tool is missing */
  readonly iptables: string;
  readonly ip6tables: string;
  /** `ipset save` of the sets wgpc names (wgpc-*) */
  readonly ipsets: string;
  /** per device: its qdiscs, classes and filters (egress and ingress) */
  readonly tc: Readonly<Record<string, string>>;
  /** the ifb devices there were */
  readonly ifbs: readonly string[];
  /** per interface with pins: the attached program's mode and the maps' contents (counters left out) */
  readonly xdp: Readonly<Record<string, { readonly attached: string; readonly maps: Readonly<Record<string, string>> }>>;
  readonly sysctl: Readonly<Record<string, string>>;
  /** `nft list tables`: iptables-nft makes its tables on first use, and iptables-save prints them empty either way */
  readonly tables: string;
}

const FORWARDING = ["net.ipv4.ip_forward", "net.ipv6.conf.all.forwarding"];

export function readNft(): string | null {
  const r = run("nft", ["list", "table", "inet", "wgpc"]);
  return r.status === 0 ? r.stdout : null;
}

/** The filter and nat tables, as the save tool prints them, in restore form; "" when there is neither. */
export function readIptables(family: 4 | 6): string {
  const tool = family === 4 ? "iptables-save" : "ip6tables-save";
  return ["filter", "nat"]
    .map((table) => {
      const r = run(tool, ["-t", table]);
      return r.status === 0 ? restoreForm(r.stdout) : "";
    })
    .filter((t) => t !== "")
    .join("\n");
}

export function readIpsets(): string {
  const r = run("ipset", ["save"]);
  if (r.status !== 0) return "";
  const lines = r.stdout.split("\n").filter((l) => /^(create|add) wgpc-/.test(l));
  // members in hash order: sorted, so that equal sets read equal
  return [...lines.filter((l) => l.startsWith("create")), ...lines.filter((l) => l.startsWith("add")).sort()].join("\n");
}

export function readTc(device: string): string {
  if (run("ip", ["link", "show", "dev", device]).status !== 0) return "(no such device)";
  const show = (args: string[]) => run("tc", [...args]).stdout.trimEnd();
  return [
    show(["qdisc", "show", "dev", device]),
    show(["class", "show", "dev", device]),
    show(["filter", "show", "dev", device]),
    show(["filter", "show", "dev", device, "ingress"]),
  ].join("\n--\n");
}

export const pinRoot = (env: NodeJS.ProcessEnv = process.env) => env.WGPC_BPFFS ?? "/sys/fs/bpf/wgpc";

function readXdp(pins: string): LiveState["xdp"] {
  const out: Record<string, { attached: string; maps: Record<string, string> }> = {};
  if (!fs.existsSync(pins)) return out;
  for (const iface of fs.readdirSync(pins).sort()) {
    const dir = path.join(pins, iface);
    // only the directories load.sh makes (a stray link or file is not an interface's pins)
    if (!fs.lstatSync(dir).isDirectory()) continue;
    const link = run("ip", ["-d", "link", "show", "dev", iface]).stdout;
    const on = link.match(/(prog\/xdp\w*) id (\d+)/);
    // the mode, and whether what is attached is the program pinned here (not another one put on by hand)
    const pinned = run("bpftool", ["-j", "prog", "show", "pinned", path.join(dir, "prog")]).stdout.match(/^\{"id":(\d+),/)?.[1];
    const attached = !on ? "none" : on[2] === pinned ? on[1]! : `${on[1]} id ${on[2]}, not the pinned program`;
    const maps: Record<string, string> = {};
    for (const map of fs.readdirSync(dir).sort()) {
      // counters change with traffic, not with the rules
      if (map === "prog" || map.includes("stats")) continue;
      const dump = run("bpftool", ["-j", "map", "dump", "pinned", path.join(dir, map)]);
      maps[map] = dump.status === 0 ? canonicalDump(dump.stdout) : `unreadable: ${dump.stderr.trim()}`;
    }
    out[iface] = { attached, maps };
  }
  return out;
}

// bpftool lists a trie in its own order: entries sorted by key
function canonicalDump(json: string): string {
  try {
    const entries = JSON.parse(json) as { key: unknown; value: unknown }[];
    return entries.map((e) => JSON.stringify([e.key, e.value])).sort().join("\n");
  } catch {
    return json;
  }
}

function ifbDevices(): string[] {
  return run("ip", ["-o", "link", "show", "type", "ifb"])
    .stdout.split("\n")
    .map((l) => l.match(/^\d+: ([^:@]+)/)?.[1])
    .filter((d): d is string => d !== undefined)
    .sort();
}

export function readState(devices: readonly string[], env: NodeJS.ProcessEnv = process.env): LiveState {
  const sysctl: Record<string, string> = {};
  for (const key of FORWARDING) sysctl[key] = run("sysctl", ["-n", key]).stdout.trim();
  return {
    nft: readNft(),
    iptables: readIptables(4),
    ip6tables: readIptables(6),
    ipsets: readIpsets(),
    tc: Object.fromEntries([...new Set(devices)].sort().map((d) => [d, readTc(d)])),
    ifbs: ifbDevices(),
    xdp: readXdp(pinRoot(env)),
    sysctl,
    tables: run("nft", ["list", "tables"]).stdout,
  };
}

/** The devices a tc batch shapes (and the ifbs it names). */
export function tcDevices(batch: string): string[] {
  return [...new Set([...batch.matchAll(/\bdev (\S+)/g)].map((m) => m[1]!))].sort();
}

const EMPTY_TABLES = {
  filter: "*filter\n:INPUT ACCEPT [0:0]\n:FORWARD ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\nCOMMIT",
  nat: "*nat\n:PREROUTING ACCEPT [0:0]\n:INPUT ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n:POSTROUTING ACCEPT [0:0]\nCOMMIT",
};

/** A saved table set to restore, with an empty (accepting) table for each of filter and nat that was not there. */
function restoreText(saved: string): string {
  const tables = [saved];
  for (const [name, empty] of Object.entries(EMPTY_TABLES)) if (!saved.includes(`*${name}\n`)) tables.push(empty);
  return `${tables.filter((t) => t !== "").join("\n")}\n`;
}

export interface RestorePlan {
  readonly before: LiveState;
  /** the bundle applied last by wgpc apply and kept (its tc and XDP are rebuilt from it), if any */
  readonly previousBundle?: string;
  /** the ifb devices and interfaces the failed or unconfirmed bundle touched */
  readonly devices: readonly string[];
  readonly log: (line: string) => void;
  readonly env: NodeJS.ProcessEnv;
}

/**
 * Puts the saved state back, datapath by datapath in the reverse order of
 * applying (XDP, tc, firewall), and returns what still differs from it.
 */
export function restoreState(plan: RestorePlan): string[] {
  const { before, log } = plan;
  const problems: string[] = [];
  const attempt = (what: string, body: () => void) => {
    try {
      body();
      log(`restore: ${what}`);
    } catch (e) {
      problems.push(`${what}: ${(e as Error).message}`);
    }
  };
  const previous = plan.previousBundle;
  // XDP: rebuilt from the kept bundle, or detached where wgpc had nothing before
  attempt("xdp", () => {
    const pins = pinRoot(plan.env);
    const now = fs.existsSync(pins) ? fs.readdirSync(pins) : [];
    if (previous && fs.existsSync(path.join(previous, "xdp/load.sh"))) {
      const r = run("sh", [path.join(previous, "xdp/load.sh"), "ensure"], undefined, plan.env);
      if (r.status !== 0) throw new StepError("xdp", r.stderr.trim());
    }
    for (const iface of now) {
      if (before.xdp[iface]) continue;
      run("ip", ["link", "set", "dev", iface, "xdpdrv", "off"]);
      run("ip", ["link", "set", "dev", iface, "xdpgeneric", "off"]);
      fs.rmSync(path.join(pins, iface), { recursive: true, force: true });
    }
  });
  // tc: the kept bundle's batch, or the kernel's default qdisc where there was none of wgpc's
  attempt("tc", () => {
    const rebuilt = new Set<string>();
    if (previous && fs.existsSync(path.join(previous, "tc.batch"))) {
      const batch = path.join(previous, "tc.batch");
      must("tc", "tc", ["-force", "-batch", batch]);
      tcDevices(fs.readFileSync(batch, "utf8")).forEach((d) => rebuilt.add(d));
    }
    for (const device of plan.devices) {
      if (rebuilt.has(device)) continue;
      run("tc", ["qdisc", "del", "dev", device, "root"]);
      run("tc", ["qdisc", "del", "dev", device, "ingress"]);
    }
    for (const ifb of readState([]).ifbs) if (!before.ifbs.includes(ifb) && plan.devices.includes(ifb)) run("ip", ["link", "del", ifb]);
  });
  attempt("sysctl", () => {
    for (const [key, value] of Object.entries(before.sysctl)) if (value !== "") run("sysctl", ["-qw", `${key}=${value}`]);
  });
  // the firewall: the sets first (a restored rule may need one), then the rules, then sets no rule uses
  attempt("firewall", () => {
    if (before.ipsets !== "") {
      const suffix = "-r";
      const names = [...before.ipsets.matchAll(/^create (\S+) /gm)].map((m) => m[1]!);
      for (const n of names) run("ipset", ["destroy", `${n}${suffix}`]);
      must("ipset", "ipset", ["restore"], `${before.ipsets.replace(/^(create|add) (wgpc-\S+)/gm, `$1 $2${suffix}`)}\n`);
      const existing = new Set(run("ipset", ["list", "-n"]).stdout.split("\n"));
      for (const n of names) {
        if (existing.has(n)) {
          must("ipset", "ipset", ["swap", `${n}${suffix}`, n]);
          must("ipset", "ipset", ["destroy", `${n}${suffix}`]);
        } else must("ipset", "ipset", ["rename", `${n}${suffix}`, n]);
      }
    }
    if (before.iptables !== "" || readIptables(4) !== "") must("iptables", "iptables-restore", [], restoreText(before.iptables));
    if (before.ip6tables !== "" || readIptables(6) !== "") must("ip6tables", "ip6tables-restore", [], restoreText(before.ip6tables));
    const kept = new Set([...before.ipsets.matchAll(/^create (\S+) /gm)].map((m) => m[1]!));
    for (const n of run("ipset", ["list", "-n"]).stdout.split("\n")) if (n.startsWith("wgpc-") && !kept.has(n)) run("ipset", ["destroy", n]);
    // tables iptables-nft made for the bundle and that were not there before
    const had = new Set(before.tables.split("\n"));
    for (const table of run("nft", ["list", "tables"]).stdout.split("\n")) {
      if (/^table ip6? (filter|nat)$/.test(table) && !had.has(table)) must("nft", "nft", ["delete", ...table.split(" ")]);
    }
    if (before.nft === null) {
      if (readNft() !== null) must("nft", "nft", ["delete", "table", "inet", "wgpc"]);
    } else must("nft", "nft", ["-f", "-"], `table inet wgpc\ndelete table inet wgpc\n${before.nft}`);
  });
  // read back: what differs from the snapshot is said, not hidden
  const after = readState(Object.keys(before.tc), plan.env);
  for (const key of ["nft", "iptables", "ip6tables", "ipsets"] as const) {
    if (after[key] !== before[key]) problems.push(`${key} differs from the saved state`);
  }
  // the same tables: a table made again comes last in nft's list, which is no difference
  const tableSet = (text: string) => text.split("\n").filter(Boolean).sort().join("\n");
  if (tableSet(after.tables) !== tableSet(before.tables)) problems.push("the nft tables differ from the saved ones");
  for (const device of Object.keys(before.tc)) if (after.tc[device] !== before.tc[device]) problems.push(`tc on ${device} differs from the saved state`);
  if (JSON.stringify(after.xdp) !== JSON.stringify(before.xdp)) problems.push("xdp attachments or maps differ from the saved state");
  return problems;
}
