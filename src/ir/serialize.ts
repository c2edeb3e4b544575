// The part of a host's IR that decides whether a new connection reaches the
// machine (its input chains and early drops), as JSON in its bundle, so that
// `wgpc apply` on the machine asks the reference semantics, not a guess from
// the firewall text, whether the new policy would cut the admin's session.
import { formatPrefix, parseAddress, type Family, type Prefix } from "../net/address.js";
import type { XdpProgram } from "./early.js";
import type { Chain, HostIr } from "./types.js";

export const IR_FILE = "ir.json";
const FORMAT = "wgpc-input-ir";
const VERSION = 1;

/** What `wgpc apply` reads back: enough for `evaluateChain` and `earlyVerdict`. */
export interface InputIr {
  readonly host: string;
  readonly input: Readonly<Record<Family, Chain>>;
  readonly early: readonly XdpProgram[];
}

// the fields that hold prefix lists, in rules (saddr, daddr) and in XDP rules (src, dst)
const PREFIX_LISTS = new Set(["saddr", "daddr", "src", "dst"]);

// a list shared by every machine (a blocklist) is spelled once per compile
const spelled = new WeakMap<readonly Prefix[], string[]>();
function spell(list: readonly Prefix[]): string[] {
  let text = spelled.get(list);
  if (!text) spelled.set(list, (text = list.map(formatPrefix)));
  return text;
}

export function inputIrText(host: HostIr): string {
  const value = { format: FORMAT, version: VERSION, host: host.name, input: { 4: host.families[4].filter.input, 6: host.families[6].filter.input }, early: host.early };
  return `${JSON.stringify(value, (key, v: unknown) => (PREFIX_LISTS.has(key) && Array.isArray(v) ? spell(v as Prefix[]) : v))}\n`;
}

export class IrFileError extends Error {}

function parsePrefix(text: unknown): Prefix {
  const parsed = typeof text === "string" ? parseAddress(text) : undefined;
  if (!parsed?.ok || parsed.hostBitsSet) throw new IrFileError(`not a prefix: ${JSON.stringify(text)}`);
  return { family: parsed.family, bits: parsed.bits, length: parsed.length };
}

/** Reads an ir.json back; throws IrFileError when it is not one this wgpc can read. */
export function readInputIr(text: string): InputIr {
  let value: Partial<{ format: string; version: number; host: string; input: Record<Family, Chain>; early: XdpProgram[] }>;
  try {
    value = JSON.parse(text, (key, v: unknown) => (PREFIX_LISTS.has(key) && Array.isArray(v) ? v.map(parsePrefix) : v));
  } catch (e) {
    throw e instanceof IrFileError ? e : new IrFileError(`not JSON: ${(e as Error).message}`);
  }
  if (value.format !== FORMAT || value.version !== VERSION) throw new IrFileError(`not a ${FORMAT} file of version ${VERSION}`);
  if (typeof value.host !== "string" || !value.input?.[4] || !value.input[6] || !Array.isArray(value.early)) throw new IrFileError("a field is missing");
  return { host: value.host, input: value.input, early: value.early };
}
