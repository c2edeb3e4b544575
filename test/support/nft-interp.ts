// An interpreter for the nft dialect wgpc emits (one `table inet wgpc`). It
// reads the TEXT, with nft's implicit dependencies (`ip saddr` only matches
// IPv4, `tcp dport` only TCP, `reject with tcp reset` only TCP). Anything it
// does not know is an error, never a skip.
import { parseAddress } from "../../src/net/address.js";
import { ICMP_TYPES } from "../../src/net/services.js";
import type { Packet } from "../../src/ir/evaluate.js";
import type { CtState } from "../../src/ir/types.js";
import type { TextVerdict } from "./iptables-interp.js";

type Test = (p: Packet) => boolean;
type Target =
  | { kind: "verdict"; verdict: TextVerdict }
  | { kind: "jump"; chain: string }
  /** a verdict map: the verdict of the element the packet finds, else the next rule */
  | { kind: "vmap"; lookup: (p: Packet) => TextVerdict | undefined };

interface Rule {
  readonly tests: readonly Test[];
  readonly target: Target;
}

interface Chain {
  readonly hook?: string;
  readonly policy?: "accept" | "drop";
  readonly rules: Rule[];
}

export interface NftRuleset {
  readonly chains: ReadonlyMap<string, Chain>;
}

/** A named set or verdict map: its elements as ranges per key field (an address, then maybe a port). */
interface NamedSet {
  readonly fields: readonly ("ipv4_addr" | "ipv6_addr" | "inet_service")[];
  readonly interval: boolean;
  readonly elements: readonly (readonly (readonly [bigint, bigint])[])[];
  /** a map's verdict per element, in the order of `elements` */
  readonly verdicts?: readonly TextVerdict[];
}

/** Words, with `{ … }` sets and quoted strings kept whole. */
function words(line: string): string[] {
  const out: string[] = [];
  let i = 0;
  while (i < line.length) {
    const c = line[i]!;
    if (c === " " || c === "\t") {
      i++;
    } else if (c === "{") {
      const end = line.indexOf("}", i);
      if (end < 0) throw new Error(`unclosed set: ${line}`);
      out.push(line.slice(i, end + 1));
      i = end + 1;
    } else if (c === '"') {
      const end = line.indexOf('"', i + 1);
      if (end < 0) throw new Error(`unclosed string: ${line}`);
      out.push(line.slice(i, end + 1));
      i = end + 1;
    } else {
      let j = i;
      while (j < line.length && line[j] !== " " && line[j] !== "\t") j++;
      out.push(line.slice(i, j));
      i = j;
    }
  }
  return out;
}

const elements = (word: string): string[] =>
  word.startsWith("{") ? word.slice(1, -1).split(",").map((e) => e.trim()).filter((e) => e !== "") : [word];

function addressTest(word: string, family: 4 | 6, field: "saddr" | "daddr"): Test {
  const ranges = elements(word).map((e) => addressRange(e, family));
  return (p) => p.family === family && ranges.some(([l, h]) => p[field] >= l && p[field] <= h);
}

function addressRange(e: string, family: 4 | 6): readonly [bigint, bigint] {
  {
    const dash = e.indexOf("-");
    const parse = (t: string) => {
      const r = parseAddress(t);
      if (!r.ok || r.family !== family || r.hostBitsSet) throw new Error(`bad address ${t}`);
      if (r.hadLength && r.length === (family === 4 ? 32 : 128)) throw new Error(`nft prints ${t} without its length`);
      return r;
    };
    if (dash >= 0) {
      const low = parse(e.slice(0, dash));
      const high = parse(e.slice(dash + 1));
      return [low.bits, high.bits] as const;
    }
    const r = parse(e);
    const width = family === 4 ? 32 : 128;
    return [r.bits, r.bits | ((1n << BigInt(width - r.length)) - 1n)] as const;
  }
}

function portRange(e: string): readonly [number, number] {
  const m = e.match(/^(\d+)(?:-(\d+))?$/);
  if (!m) throw new Error(`bad port element ${e}`);
  const low = Number(m[1]);
  const high = m[2] === undefined ? low : Number(m[2]);
  if (m[2] !== undefined && high <= low) throw new Error(`nft prints ${e} differently`);
  return [low, high] as const;
}

const SET_LINE = /^(set|map) (\w+) \{ type (ipv4_addr|ipv6_addr)( \. inet_service)?( : verdict)?(?: flags (interval))? elements = \{ (.*) \} \}$/;

/** A set block joined into one line; nft needs `flags interval` for any prefix or range. */
function parseSet(text: string): [string, NamedSet] {
  const m = text.match(SET_LINE);
  if (!m) throw new Error(`unknown set form: ${text.slice(0, 200)}`);
  const isMap = m[1] === "map";
  if (isMap !== (m[5] !== undefined)) throw new Error(`a map needs \`: verdict\` in its type, a set must not have it: ${text.slice(0, 200)}`);
  const name = m[2]!;
  const family = m[3] === "ipv4_addr" ? 4 : 6;
  const withPort = m[4] !== undefined;
  const interval = m[6] !== undefined;
  const fields = withPort ? ([m[3], "inet_service"] as const) : ([m[3]] as const);
  const verdicts: TextVerdict[] = [];
  const elements = m[7]!.split(",").map((e) => {
    let keyText = e.trim();
    if (isMap) {
      const [k, v] = keyText.split(" : ");
      if (v !== "accept" && v !== "drop") throw new Error(`map element ${e} needs accept or drop`);
      verdicts.push(v);
      keyText = k!;
    }
    const parts = keyText.split(" . ");
    if (parts.length !== fields.length) throw new Error(`element ${e} does not fit the set's type`);
    const address = addressRange(parts[0]!, family);
    const ranges: (readonly [bigint, bigint])[] = [address];
    if (withPort) {
      const [low, high] = portRange(parts[1]!);
      ranges.push([BigInt(low), BigInt(high)]);
    }
    if (!interval && ranges.some(([l, h]) => l !== h)) throw new Error(`interval element ${e} in a set without flags interval`);
    return ranges;
  });
  // nft refuses an element inside another (and a map would be ambiguous): no two may overlap
  elements.forEach((a, i) =>
    elements.slice(i + 1).forEach((b) => {
      if (a.every(([l, h], k) => l <= b[k]![1] && b[k]![0] <= h)) throw new Error(`overlapping elements in ${m[1]} ${name}`);
    }),
  );
  return [name, { fields: fields as NamedSet["fields"], interval, elements, verdicts: isMap ? verdicts : undefined }];
}

function portTest(word: string): Test {
  const ranges = elements(word).map(portRange);
  return (p) => p.dport !== undefined && ranges.some(([l, h]) => p.dport! >= l && p.dport! <= h);
}

function icmpTypes(word: string, family: 4 | 6): number[] {
  return elements(word).map((e) => {
    if (/^\d+$/.test(e)) return Number(e);
    const n = family === 4 ? ICMP_TYPES[e]?.v4 : ICMP_TYPES[e]?.v6;
    if (n === undefined) throw new Error(`unknown icmp type name ${e}`);
    return n;
  });
}

const L4: Record<string, Packet["proto"]> = { tcp: "tcp", udp: "udp", sctp: "sctp", icmp: "icmp", "ipv6-icmp": "icmpv6" };
const CT: Record<string, CtState> = { new: "new", established: "established", related: "related", invalid: "invalid" };

function parseRule(line: string, sets: ReadonlyMap<string, NamedSet>): Rule {
  const w = words(line);
  const tests: Test[] = [];
  let target: Target | undefined;
  let i = 0;
  const next = () => {
    const x = w[i++];
    if (x === undefined) throw new Error(`incomplete rule: ${line}`);
    return x;
  };
  const family = (f: 4 | 6): Test => (p) => p.family === f;
  // `ip saddr . tcp dport @set`, `ip saddr @set`, or the same with `vmap @map`: one lookup of the concatenated key
  const lookupTest = (field: "saddr" | "daddr", f: 4 | 6): Test => {
    let proto: string | undefined;
    if (w[i] === ".") {
      i++;
      proto = next();
      if (!["tcp", "udp", "sctp"].includes(proto) || next() !== "dport") throw new Error(`unknown concatenation in: ${line}`);
    }
    const isMap = w[i] === "vmap";
    if (isMap) i++;
    const ref = next();
    const set = sets.get(ref.slice(1));
    if (!set) throw new Error(`no set ${ref}`);
    if (isMap !== (set.verdicts !== undefined)) throw new Error(`${ref} is ${set.verdicts ? "a map" : "a set"}: ${line}`);
    const want = [f === 4 ? "ipv4_addr" : "ipv6_addr", ...(proto ? ["inet_service"] : [])];
    if (set.fields.join(" . ") !== want.join(" . ")) throw new Error(`set ${ref} has type ${set.fields.join(" . ")}, the rule looks up ${want.join(" . ")}`);
    const find = (p: Packet): number => {
      if (p.family !== f) return -1;
      // `tcp dport` brings nft's dependency on the protocol
      if (proto && (p.proto !== proto || p.dport === undefined)) return -1;
      const key = [p[field], ...(proto ? [BigInt(p.dport!)] : [])];
      return set.elements.findIndex((e) => e.every(([l, h], k) => key[k]! >= l && key[k]! <= h));
    };
    if (isMap) {
      if (target) throw new Error(`a verdict after vmap: ${line}`);
      target = { kind: "vmap", lookup: (p) => set.verdicts![find(p)] };
      return () => true;
    }
    return (p) => find(p) >= 0;
  };
  while (i < w.length) {
    const word = next();
    switch (word) {
      case "meta": {
        const key = next();
        const value = next();
        if (key === "nfproto" && (value === "ipv4" || value === "ipv6")) tests.push(family(value === "ipv4" ? 4 : 6));
        else if (key === "l4proto" && L4[value]) tests.push((p) => p.proto === L4[value]);
        else throw new Error(`unknown meta ${key} ${value}`);
        break;
      }
      case "iifname":
      case "oifname": {
        let name = next();
        const negate = name === "!=";
        if (negate) name = next();
        if (!/^".*"$/.test(name)) throw new Error(`interface name not quoted: ${name}`);
        const bare = name.slice(1, -1);
        const field = word === "iifname" ? "iif" : "oif";
        tests.push((p) => p[field] !== undefined && (p[field] === bare) !== negate);
        break;
      }
      case "ip":
      case "ip6": {
        const f = word === "ip" ? 4 : 6;
        const key = next();
        if ((key === "saddr" || key === "daddr") && (w[i] === "." || w[i] === "vmap" || w[i]?.startsWith("@"))) tests.push(lookupTest(key, f));
        else if (key === "saddr" || key === "daddr") tests.push(addressTest(next(), f, key));
        else if (key === "hoplimit" && f === 6) {
          const hl = Number(next());
          tests.push((p) => p.family === 6 && p.hopLimit === hl);
        } else throw new Error(`unknown ${word} ${key}`);
        break;
      }
      case "tcp":
      case "udp":
      case "sctp": {
        if (next() !== "dport") throw new Error(`expected dport after ${word}`);
        const ports = portTest(next());
        tests.push((p) => p.proto === word && ports(p));
        break;
      }
      case "icmp":
      case "icmpv6": {
        if (next() !== "type") throw new Error(`expected type after ${word}`);
        const f = word === "icmp" ? 4 : 6;
        const types = icmpTypes(next(), f);
        tests.push((p) => p.family === f && p.proto === word && p.icmpType !== undefined && types.includes(p.icmpType));
        break;
      }
      case "ct": {
        if (next() !== "state") throw new Error("expected ct state");
        const states = next().split(",").map((s) => {
          const st = CT[s];
          if (!st) throw new Error(`unknown ct state ${s}`);
          return st;
        });
        tests.push((p) => states.includes(p.ct));
        break;
      }
      case "accept":
      case "drop":
      case "masquerade":
        target = { kind: "verdict", verdict: word };
        break;
      case "reject": {
        if (w[i] !== "with") {
          target = { kind: "verdict", verdict: "reject:port-unreachable" };
          break;
        }
        i++;
        const kind = `${next()} ${next()}`;
        if (kind === "tcp reset") {
          // nft makes the rule match TCP only
          tests.push((p) => p.proto === "tcp");
          target = { kind: "verdict", verdict: "reject:tcp-reset" };
        } else if (kind === "icmp port-unreachable" || kind === "icmpv6 port-unreachable") {
          tests.push(family(kind.startsWith("icmpv6") ? 6 : 4));
          target = { kind: "verdict", verdict: "reject:port-unreachable" };
        } else throw new Error(`unknown reject ${kind}`);
        break;
      }
      case "jump":
        target = { kind: "jump", chain: next() };
        break;
      case "comment": {
        const text = next();
        if (!/^"[^"]*"$/.test(text) || text.length - 2 > 128) throw new Error(`bad comment ${text}`);
        break;
      }
      default:
        throw new Error(`unknown word ${word} in: ${line}`);
    }
  }
  if (!target) throw new Error(`rule without verdict: ${line}`);
  return { tests, target };
}

export function parseNft(text: string): NftRuleset {
  const lines = text.split("\n").map((l) => l.trim()).filter((l) => l !== "" && !l.startsWith("#"));
  if (lines[0] !== "table inet wgpc" || lines[1] !== "delete table inet wgpc" || lines[2] !== "table inet wgpc {") {
    throw new Error("the script must create, delete and redefine table inet wgpc");
  }
  if (lines[lines.length - 1] !== "}") throw new Error("table not closed");
  const chains = new Map<string, Chain>();
  const sets = new Map<string, NamedSet>();
  let setLines: string[] | undefined;
  let current: { name: string; chain: { hook?: string; policy?: "accept" | "drop"; rules: Rule[] } } | undefined;
  for (const line of lines.slice(3, -1)) {
    if (setLines) {
      setLines.push(line);
      if (line === "}") {
        const [name, set] = parseSet(setLines.join(" "));
        if (sets.has(name)) throw new Error(`set ${name} defined twice`);
        sets.set(name, set);
        setLines = undefined;
      }
      continue;
    }
    if (!current && /^(set|map) \w+ \{$/.test(line)) {
      setLines = [line];
      continue;
    }
    const open = line.match(/^chain (\w+) \{$/);
    if (open) {
      if (current) throw new Error("nested chain");
      current = { name: open[1]!, chain: { rules: [] } };
      continue;
    }
    if (!current) throw new Error(`outside a chain: ${line}`);
    if (line === "}") {
      chains.set(current.name, current.chain);
      current = undefined;
      continue;
    }
    const base = line.match(/^type (filter|nat) hook (\w+) priority (filter|srcnat); policy (accept|drop);$/);
    if (base) {
      current.chain.hook = base[2];
      current.chain.policy = base[4] as "accept" | "drop";
      continue;
    }
    current.chain.rules.push(parseRule(line, sets));
  }
  if (current) throw new Error("chain not closed");
  return { chains };
}

function run(rs: NftRuleset, name: string, p: Packet, depth: number): TextVerdict | undefined {
  if (depth > 8) throw new Error("jump loop");
  const chain = rs.chains.get(name);
  if (!chain) throw new Error(`no chain ${name}`);
  for (const rule of chain.rules) {
    if (!rule.tests.every((t) => t(p))) continue;
    if (rule.target.kind === "verdict") return rule.target.verdict;
    if (rule.target.kind === "vmap") {
      const found = rule.target.lookup(p);
      if (found !== undefined) return found;
      continue;
    }
    const v = run(rs, rule.target.chain, p, depth + 1);
    if (v !== undefined) return v;
  }
  return undefined;
}

export function evaluateNft(rs: NftRuleset, hook: "input" | "forward" | "output" | "postrouting", p: Packet): TextVerdict {
  const base = [...rs.chains.entries()].filter(([, c]) => c.hook === hook);
  // a hook without a base chain accepts (nothing of wgpc's is there)
  if (base.length === 0) return "accept";
  if (base.length > 1) throw new Error(`two base chains on ${hook}`);
  const [name, chain] = base[0]!;
  return run(rs, name, p, 0) ?? chain.policy!;
}
