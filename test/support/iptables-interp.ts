// An interpreter for the iptables-restore dialect wgpc emits. It reads the
// TEXT, not the IR, so a printing bug shows up as a disagreement with the
// reference semantics. Anything it does not know is an error, never a skip.
import { containsAddress, parseAddress, type Prefix } from "../../src/net/address.js";
import type { CompileResult } from "../../src/compile.js";
import type { Packet } from "../../src/ir/evaluate.js";
import type { CtState } from "../../src/ir/types.js";

export type TextVerdict = "accept" | "drop" | "reject:tcp-reset" | "reject:port-unreachable" | "masquerade";

type Test = (p: Packet) => boolean;

interface Rule {
  readonly tests: readonly Test[];
  readonly target: { kind: "verdict"; verdict: TextVerdict } | { kind: "jump"; chain: string };
  readonly line: number;
}

interface Table {
  readonly policies: Map<string, "accept" | "drop">;
  readonly chains: Map<string, Rule[]>;
}

export interface IptablesRuleset {
  readonly family: 4 | 6;
  readonly tables: ReadonlyMap<string, Table>;
}

/** An ipset as `ipset restore` would make it: hash:net or hash:net,port members. */
export interface IpSetModel {
  readonly type: "hash:net" | "hash:net,port";
  readonly family: 4 | 6;
  readonly members: readonly { prefix: Prefix; proto?: Packet["proto"]; ports?: [number, number] }[];
}

/**
 * Reads an ipset.rules file: `create NAME-n TYPE family inet|inet6 …`,
 * `flush`, `add`. Sets are returned under the name apply.sh gives them
 * (without the temporary -n).
 */
/** The host's ipsets from its bundle (none when the bundle has no ipset.rules). */
export function ipsetsOf(result: CompileResult, host: string): Map<string, IpSetModel> {
  const file = result.bundles?.find((b) => b.host === host)?.artifacts.find((a) => a.path === "ipset.rules");
  return file ? parseIpsets(file.text) : new Map();
}

export function parseIpsets(text: string): Map<string, IpSetModel> {
  const sets = new Map<string, { type: IpSetModel["type"]; family: 4 | 6; members: IpSetModel["members"][number][] }>();
  text.split("\n").forEach((line, index) => {
    if (line === "" || line.startsWith("#")) return;
    const w = line.split(" ");
    const name = w[1]?.replace(/-n$/, "");
    if (!name || !w[1]!.endsWith("-n") || name.length > 31) throw new Error(`ipset line ${index + 1}: bad set name ${w[1]}`);
    if (w[0] === "create") {
      const m = line.match(/^create \S+ (hash:net|hash:net,port) family (inet|inet6) hashsize \d+ maxelem (\d+)$/);
      if (!m) throw new Error(`ipset line ${index + 1}: unknown create: ${line}`);
      sets.set(name, { type: m[1] as IpSetModel["type"], family: m[2] === "inet" ? 4 : 6, members: [] });
    } else if (w[0] === "flush") {
      if (!sets.has(name)) throw new Error(`ipset line ${index + 1}: flush before create`);
    } else if (w[0] === "add") {
      const set = sets.get(name);
      if (!set || w.length !== 3) throw new Error(`ipset line ${index + 1}: bad add`);
      const [address, port] = w[2]!.split(",");
      const r = parseAddress(address!);
      if (!r.ok || r.family !== set.family || r.hostBitsSet || r.length === 0) throw new Error(`ipset line ${index + 1}: bad address ${address}`);
      const prefix: Prefix = { family: r.family, bits: r.bits, length: r.length };
      if (set.type === "hash:net") {
        if (port !== undefined) throw new Error(`ipset line ${index + 1}: a port in a hash:net set`);
        set.members.push({ prefix });
      } else {
        const m = port?.match(/^(tcp|udp|sctp):(\d+)(?:-(\d+))?$/);
        if (!m) throw new Error(`ipset line ${index + 1}: bad port ${port}`);
        const low = Number(m[2]);
        const high = m[3] === undefined ? low : Number(m[3]);
        if (high < low) throw new Error(`ipset line ${index + 1}: bad range ${port}`);
        set.members.push({ prefix, proto: m[1] as Packet["proto"], ports: [low, high] });
      }
    } else throw new Error(`ipset line ${index + 1}: unknown command ${w[0]}`);
  });
  return sets;
}

/** Splits a rule line into words, honouring double quotes and `\"`. */
function words(line: string): string[] {
  const out: string[] = [];
  let i = 0;
  while (i < line.length) {
    if (line[i] === " ") {
      i++;
      continue;
    }
    if (line[i] === '"') {
      let word = "";
      i++;
      while (i < line.length && line[i] !== '"') {
        if (line[i] === "\\") i++;
        word += line[i++];
      }
      if (line[i] !== '"') throw new Error(`unterminated quote in: ${line}`);
      i++;
      out.push(word);
    } else {
      let word = "";
      while (i < line.length && line[i] !== " ") word += line[i++];
      out.push(word);
    }
  }
  return out;
}

function prefixOf(text: string, family: 4 | 6): Prefix {
  const r = parseAddress(text);
  if (!r.ok || r.family !== family || r.hostBitsSet || !r.hadLength) throw new Error(`bad address in iptables text: ${text}`);
  return { family: r.family, bits: r.bits, length: r.length };
}

function portRange(text: string): [number, number] {
  const m = text.match(/^(\d+)(?::(\d+))?$/);
  if (!m) throw new Error(`bad port ${text}`);
  const low = Number(m[1]);
  const high = m[2] === undefined ? low : Number(m[2]);
  if (m[2] !== undefined && high <= low) throw new Error(`range ${text} must be low:high with low < high`);
  return [low, high];
}

const PROTOCOLS: Record<string, Packet["proto"]> = { tcp: "tcp", udp: "udp", sctp: "sctp", icmp: "icmp", "ipv6-icmp": "icmpv6" };
const CT: Record<string, CtState> = { NEW: "new", ESTABLISHED: "established", RELATED: "related", INVALID: "invalid" };

function parseRule(args: string[], family: 4 | 6, lineNo: number, sets: ReadonlyMap<string, IpSetModel>): { chain: string; rule: Rule } {
  const tests: Test[] = [];
  let target: Rule["target"] | undefined;
  let proto: Packet["proto"] | undefined;
  let i = 0;
  const next = () => {
    const w = args[i++];
    if (w === undefined) throw new Error(`line ${lineNo}: missing argument`);
    return w;
  };
  if (next() !== "-A") throw new Error(`line ${lineNo}: expected -A`);
  const chain = next();
  let negate = false;
  while (i < args.length) {
    const opt = next();
    if (opt === "!") {
      negate = true;
      continue;
    }
    const neg = negate;
    negate = false;
    switch (opt) {
      case "-s":
      case "-d": {
        const p = prefixOf(next(), family);
        const field = opt === "-s" ? "saddr" : "daddr";
        if (neg) throw new Error(`line ${lineNo}: negated address not used by wgpc`);
        tests.push((pk) => containsAddress(p, pk.family, pk[field]));
        break;
      }
      case "-i":
      case "-o": {
        const name = next();
        const field = opt === "-i" ? "iif" : "oif";
        tests.push((pk) => pk[field] !== undefined && (pk[field] === name) !== neg);
        break;
      }
      case "-p": {
        const p = PROTOCOLS[next()];
        if (!p || (p === "icmp" && family === 6) || (p === "icmpv6" && family === 4)) throw new Error(`line ${lineNo}: protocol ${args[i - 1]}`);
        proto = p;
        tests.push((pk) => pk.proto === p);
        break;
      }
      case "-m": {
        const module = next();
        switch (module) {
          case "tcp":
          case "udp":
          case "sctp": {
            if (proto !== module) throw new Error(`line ${lineNo}: -m ${module} without -p ${module}`);
            if (next() !== "--dport") throw new Error(`line ${lineNo}: -m ${module} needs --dport`);
            const [low, high] = portRange(next());
            tests.push((pk) => pk.dport !== undefined && pk.dport >= low && pk.dport <= high);
            break;
          }
          case "multiport": {
            if (proto !== "tcp" && proto !== "udp" && proto !== "sctp") throw new Error(`line ${lineNo}: multiport without port protocol`);
            if (next() !== "--dports") throw new Error(`line ${lineNo}: multiport needs --dports`);
            const ranges = next().split(",").map(portRange);
            const slots = ranges.reduce((n, [l, h]) => n + (l === h ? 1 : 2), 0);
            if (slots > 15) throw new Error(`line ${lineNo}: multiport with ${slots} slots (limit 15)`);
            tests.push((pk) => pk.dport !== undefined && ranges.some(([l, h]) => pk.dport! >= l && pk.dport! <= h));
            break;
          }
          case "icmp":
          case "icmp6": {
            const want = module === "icmp" ? ["icmp", "--icmp-type"] : ["icmpv6", "--icmpv6-type"];
            if (proto !== want[0] || next() !== want[1]) throw new Error(`line ${lineNo}: bad ${module} match`);
            const type = Number(next());
            tests.push((pk) => pk.icmpType === type);
            break;
          }
          case "conntrack": {
            if (next() !== "--ctstate") throw new Error(`line ${lineNo}: conntrack needs --ctstate`);
            const states = next().split(",").map((s) => {
              const st = CT[s];
              if (!st) throw new Error(`line ${lineNo}: ctstate ${s}`);
              return st;
            });
            tests.push((pk) => states.includes(pk.ct));
            break;
          }
          case "hl": {
            if (family !== 6 || next() !== "--hl-eq") throw new Error(`line ${lineNo}: bad hl match`);
            const hl = Number(next());
            tests.push((pk) => pk.hopLimit === hl);
            break;
          }
          case "set": {
            if (next() !== "--match-set") throw new Error(`line ${lineNo}: set needs --match-set`);
            const name = next();
            const set = sets.get(name);
            if (!set) throw new Error(`line ${lineNo}: no ipset ${name}`);
            if (set.family !== family) throw new Error(`line ${lineNo}: ipset ${name} is of the other family`);
            const directions = next().split(",");
            const want = set.type === "hash:net" ? 1 : 2;
            if (directions.length !== want || directions.some((d) => d !== "src" && d !== "dst")) throw new Error(`line ${lineNo}: ${set.type} needs ${want} directions`);
            const field = directions[0] === "src" ? "saddr" : "daddr";
            if (directions[1] === "src") throw new Error(`line ${lineNo}: wgpc matches destination ports only`);
            tests.push((p) =>
              set.members.some(
                (m) =>
                  containsAddress(m.prefix, family, p[field]) &&
                  (m.proto === undefined || (p.proto === m.proto && p.dport !== undefined && p.dport >= m.ports![0] && p.dport <= m.ports![1])),
              ),
            );
            break;
          }
          case "comment": {
            if (next() !== "--comment") throw new Error(`line ${lineNo}: bad comment`);
            const text = next();
            if (text.length > 255) throw new Error(`line ${lineNo}: comment over 255 characters`);
            break;
          }
          default:
            throw new Error(`line ${lineNo}: unknown match module ${module}`);
        }
        break;
      }
      case "-j": {
        const t = next();
        if (t === "ACCEPT") target = { kind: "verdict", verdict: "accept" };
        else if (t === "DROP") target = { kind: "verdict", verdict: "drop" };
        else if (t === "MASQUERADE") target = { kind: "verdict", verdict: "masquerade" };
        else if (t === "REJECT") {
          if (next() !== "--reject-with") throw new Error(`line ${lineNo}: REJECT without --reject-with`);
          const w = next();
          if (w === "tcp-reset") {
            if (proto !== "tcp") throw new Error(`line ${lineNo}: tcp-reset needs -p tcp`);
            target = { kind: "verdict", verdict: "reject:tcp-reset" };
          } else if ((w === "icmp-port-unreachable" && family === 4) || (w === "icmp6-port-unreachable" && family === 6)) {
            target = { kind: "verdict", verdict: "reject:port-unreachable" };
          } else throw new Error(`line ${lineNo}: reject type ${w} in IPv${family}`);
        } else target = { kind: "jump", chain: t };
        break;
      }
      default:
        throw new Error(`line ${lineNo}: unknown option ${opt}`);
    }
  }
  if (!target) throw new Error(`line ${lineNo}: rule without -j`);
  return { chain, rule: { tests, target, line: lineNo } };
}

export function parseIptables(text: string, family: 4 | 6, sets: ReadonlyMap<string, IpSetModel> = new Map()): IptablesRuleset {
  const tables = new Map<string, Table>();
  let current: Table | undefined;
  text.split("\n").forEach((raw, index) => {
    const lineNo = index + 1;
    const line = raw.trimEnd();
    if (line === "" || line.startsWith("#")) return;
    if (line.startsWith("*")) {
      current = { policies: new Map(), chains: new Map() };
      tables.set(line.slice(1), current);
    } else if (line === "COMMIT") {
      current = undefined;
    } else if (!current) {
      throw new Error(`line ${lineNo}: outside a table`);
    } else if (line.startsWith(":")) {
      const m = line.match(/^:(\S+) (ACCEPT|DROP|-) \[0:0\]$/);
      if (!m) throw new Error(`line ${lineNo}: bad chain line`);
      current.chains.set(m[1]!, []);
      if (m[2] !== "-") current.policies.set(m[1]!, m[2] === "ACCEPT" ? "accept" : "drop");
    } else {
      const { chain, rule } = parseRule(words(line), family, lineNo, sets);
      const rules = current.chains.get(chain);
      if (!rules) throw new Error(`line ${lineNo}: chain ${chain} not declared`);
      rules.push(rule);
    }
  });
  if (current) throw new Error("table without COMMIT");
  return { family, tables };
}

function run(table: Table, chain: string, p: Packet, depth: number): TextVerdict | undefined {
  if (depth > 8) throw new Error("jump loop");
  const rules = table.chains.get(chain);
  if (!rules) throw new Error(`no chain ${chain}`);
  for (const rule of rules) {
    if (!rule.tests.every((t) => t(p))) continue;
    if (rule.target.kind === "verdict") return rule.target.verdict;
    const v = run(table, rule.target.chain, p, depth + 1);
    if (v !== undefined) return v;
  }
  return undefined;
}

const BUILTIN: Record<string, string> = { input: "INPUT", forward: "FORWARD", output: "OUTPUT", postrouting: "POSTROUTING" };

/** The verdict of the ruleset for one packet at one hook (postrouting: the nat table). */
export function evaluateIptables(rs: IptablesRuleset, hook: "input" | "forward" | "output" | "postrouting", p: Packet): TextVerdict {
  const table = rs.tables.get(hook === "postrouting" ? "nat" : "filter");
  // no nat table: nothing is masqueraded
  if (!table && hook === "postrouting") return "accept";
  if (!table) throw new Error("no filter table");
  const chain = BUILTIN[hook]!;
  const v = run(table, chain, p, 0);
  if (v !== undefined) return v;
  const policy = table.policies.get(chain);
  if (!policy) throw new Error(`no policy for ${chain}`);
  return policy;
}
