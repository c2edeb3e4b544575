// The part of a host's IR that decides whether a new connection reaches the
// machine (its input chains and early drops), as JSON in its bundle, so that
// `wgpc apply` on the machine asks the reference semantics, not a guess from
// the firewall text, whether the new policy would cut the admin's session.
import { formatPrefix, parseAddress, type Family, type Prefix } from "../net/address.js";
import type { XdpProgram } from "./early.js";
import type { Chain, HostIr } from "./types.js";
import { LONG_PIECE, SharedPieces } from "../backends/shared/pieces.js";

export const IR_FILE = "ir.json";
const FORMAT = "wgpc-input-ir";
const VERSION = 1;

/** Where a rule was written, so that a refusal on the machine can show its line with a caret. */
export interface RuleSource {
  readonly path: string;
  readonly line: number;
  /** 1-based, in characters */
  readonly column: number;
  readonly length: number;
  readonly text: string;
}

/** What `wgpc apply` reads back: enough for `evaluateChain` and `earlyVerdict`. */
export interface InputIr {
  readonly host: string;
  readonly input: Readonly<Record<Family, Chain>>;
  readonly early: readonly XdpProgram[];
  /** by rule label (`policy.wgp:29`), the rules of `input` and `early` that have one */
  readonly sources: Readonly<Record<string, RuleSource>>;
}

// the fields that hold prefix lists, in rules (saddr, daddr) and in XDP rules (src, dst)
const PREFIX_LISTS = new Set(["saddr", "daddr", "src", "dst"]);

// a list shared by every machine (a blocklist) is written once per compile:
// each host's file holds the same JSON piece
const chunks = new WeakMap<readonly Prefix[], string>();
function chunk(list: readonly Prefix[]): string {
  let text = chunks.get(list);
  if (text === undefined) chunks.set(list, (text = JSON.stringify(list.map(formatPrefix))));
  return text;
}

export const inputIrText = (host: HostIr, ruleSources: ReadonlyMap<string, RuleSource> = new Map()): string => inputIrPieces(host, ruleSources).join("");

/** ir.json as pieces (see backends/shared/pieces.ts). */
export function inputIrPieces(host: HostIr, ruleSources: ReadonlyMap<string, RuleSource> = new Map()): string[] {
  const chains = [host.families[4].filter.input, host.families[6].filter.input];
  const labels = new Set([...chains.flatMap((c) => [...c.sections.flatMap((x) => x.rules), ...c.tail]).map((r) => r.origin.label), ...host.early.flatMap((p) => p.rules.map((r) => r.label))]);
  const sources = Object.fromEntries([...labels].sort().flatMap((l) => (ruleSources.has(l) ? [[l, ruleSources.get(l)!]] : [])));
  const value = { format: FORMAT, version: VERSION, host: host.name, input: { 4: chains[0], 6: chains[1] }, early: host.early, sources };
  const shared = new SharedPieces();
  // a long list stands in the JSON as a string holding its mark, which JSON escapes as \u0001…\u0002
  const list = (v: readonly Prefix[]) => {
    const text = chunk(v);
    return text.length >= LONG_PIECE ? shared.mark(text) : v.map(formatPrefix);
  };
  const json = JSON.stringify(value, (key, v: unknown) => (PREFIX_LISTS.has(key) && Array.isArray(v) ? list(v as Prefix[]) : v));
  return shared.splice(`${json.replace(/"\\u0001(\d+)\\u0002"/g, "\u0001$1\u0002")}\n`);
}

export class IrFileError extends Error {}

function parsePrefix(text: unknown): Prefix {
  const parsed = typeof text === "string" ? parseAddress(text) : undefined;
  if (!parsed?.ok || parsed.hostBitsSet) throw new IrFileError(`not a prefix: ${JSON.stringify(text)}`);
  return { family: parsed.family, bits: parsed.bits, length: parsed.length };
}

/** Reads an ir.json back; throws IrFileError when it is not one this wgpc can read. */
export function readInputIr(text: string): InputIr {
  let value: Partial<{ format: string; version: number; host: string; input: Record<Family, Chain>; early: XdpProgram[] }> | null;
  try {
    value = JSON.parse(text, (key, v: unknown) => (PREFIX_LISTS.has(key) && Array.isArray(v) ? v.map(parsePrefix) : v));
  } catch (e) {
    throw e instanceof IrFileError ? e : new IrFileError(`not JSON: ${(e as Error).message}`);
  }
  if (typeof value !== "object" || value === null || value.format !== FORMAT || value.version !== VERSION) throw new IrFileError(`not a ${FORMAT} file of version ${VERSION}`);
  const problem = shapeProblem(value);
  if (problem) throw new IrFileError(problem);
  return { host: value.host!, input: value.input!, early: value.early!, sources: (value as { sources: Record<string, RuleSource> }).sources };
}

// --- the shape of what is read back: the evaluator trusts it, so it is checked whole ---

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === "object" && v !== null && !Array.isArray(v);
const isInt = (v: unknown, low: number, high: number) => Number.isInteger(v) && (v as number) >= low && (v as number) <= high;
const isPrefixList = (v: unknown) => Array.isArray(v) && v.every((p) => isObject(p) && (p.family === 4 || p.family === 6) && typeof p.bits === "bigint");

function l4Problem(l4: unknown): string | undefined {
  if (!isObject(l4)) return "l4 is not an object";
  if (l4.kind === "ports") {
    if (!["tcp", "udp", "sctp"].includes(l4.proto as string)) return "l4.proto is not tcp, udp or sctp";
    if (l4.ports !== null && !(Array.isArray(l4.ports) && l4.ports.every((r) => isObject(r) && isInt(r.low, 0, 65535) && isInt(r.high, 0, 65535)))) return "l4.ports is not a list of port ranges";
    return undefined;
  }
  if (l4.kind === "icmp") {
    if (!["icmp", "icmpv6"].includes(l4.proto as string)) return "l4.proto is not icmp or icmpv6";
    if (l4.types !== null && !(Array.isArray(l4.types) && l4.types.every((t) => isInt(t, 0, 255)))) return "l4.types is not a list of ICMP types";
    return undefined;
  }
  return "l4.kind is not ports or icmp";
}

function ruleProblem(r: unknown): string | undefined {
  if (!isObject(r) || !isObject(r.match) || !isObject(r.verdict) || !isObject(r.origin)) return "a rule lacks match, verdict or origin";
  const m = r.match;
  for (const key of ["iif", "oif"] as const) if (m[key] !== undefined && !(isObject(m[key]) && typeof m[key].name === "string" && typeof m[key].negate === "boolean")) return `${key} is not an interface match`;
  for (const key of ["saddr", "daddr"] as const) if (m[key] !== undefined && !isPrefixList(m[key])) return `${key} is not a list of prefixes`;
  if (m.l4 !== undefined) {
    const problem = l4Problem(m.l4);
    if (problem) return problem;
  }
  if (m.ctState !== undefined && !(Array.isArray(m.ctState) && m.ctState.every((c) => ["established", "related", "invalid", "new"].includes(c as string)))) return "ctState is not a list of conntrack states";
  if (m.hopLimit !== undefined && !isInt(m.hopLimit, 0, 255)) return "hopLimit is not 0-255";
  if (!["accept", "drop", "reject", "masquerade"].includes(r.verdict.kind as string)) return "a verdict is not accept, drop, reject or masquerade";
  if (typeof r.origin.label !== "string" || !["baseline", "policy", "default"].includes(r.origin.kind as string)) return "a rule's origin is not one wgpc writes";
  return undefined;
}

function chainProblem(c: unknown): string | undefined {
  if (!isObject(c) || !["accept", "drop"].includes(c.policy as string) || !Array.isArray(c.sections) || !Array.isArray(c.tail)) return "an input chain lacks its policy, sections or tail";
  for (const section of c.sections) if (!isObject(section) || !Array.isArray(section.rules)) return "a section has no rules";
  for (const r of [...c.sections.flatMap((x) => (x as { rules: unknown[] }).rules), ...c.tail]) {
    const problem = ruleProblem(r);
    if (problem) return problem;
  }
  return undefined;
}

function programProblem(p: unknown): string | undefined {
  if (!isObject(p) || typeof p.iface !== "string" || typeof p.l3 !== "boolean" || !Array.isArray(p.rules)) return "an early-drop program lacks iface, l3 or rules";
  for (const r of p.rules) {
    if (!isObject(r) || typeof r.label !== "string" || !isInt(r.proto, 0, 255) || !isObject(r.match)) return "an early-drop rule is not one wgpc writes";
    for (const f of ["4", "6"]) {
      const m = r.match[f];
      if (m !== null && !(isObject(m) && (m.src === null || isPrefixList(m.src)) && (m.dst === null || isPrefixList(m.dst)))) return "an early-drop rule's addresses are not prefix lists";
    }
    if (r.ports !== undefined && !(isObject(r.ports) && isInt(r.ports.low, 0, 65535) && isInt(r.ports.high, 0, 65535))) return "an early-drop rule's ports are not a range";
    if (r.icmpType !== undefined && !isInt(r.icmpType, 0, 255)) return "an early-drop rule's ICMP type is not 0-255";
  }
  return undefined;
}

function shapeProblem(value: { host?: unknown; input?: unknown; early?: unknown; sources?: unknown }): string | undefined {
  if (typeof value.host !== "string") return "host is not a name";
  if (!isObject(value.input)) return "input is missing";
  for (const family of ["4", "6"]) {
    const problem = chainProblem(value.input[family]);
    if (problem) return `input ${family}: ${problem}`;
  }
  if (!Array.isArray(value.early)) return "early is not a list";
  if (!isObject(value.sources)) return "sources is missing";
  for (const src of Object.values(value.sources)) {
    if (!isObject(src) || typeof src.path !== "string" || typeof src.text !== "string" || !isInt(src.line, 1, 16_777_216) || !isInt(src.column, 1, 1e6) || !isInt(src.length, 1, 1e6)) return "a rule's source is not one wgpc writes";
  }
  for (const p of value.early) {
    const problem = programProblem(p);
    if (problem) return problem;
  }
  return undefined;
}
