// IR → the XDP bundle of a host: the fixed program and loader
// (bpf-runtime/), the interfaces to load it on, and its map contents per
// interface as a bpftool batch and as JSON. The layouts are those of
// wgpc_xdp.h.
import { formatPrefix, formatPrefixShort, prefixContains, type Family, type Prefix } from "../../net/address.js";
import type { HostIr } from "../../ir/types.js";
import { MAX_XDP_RULES, type XdpProgram } from "../../ir/early.js";
import type { Artifact, Backend } from "../types.js";
import { XDP_HEADER_H, XDP_LOAD_SH, XDP_PROGRAM_C } from "./runtime-source.js";
import { artifact } from "../shared/pieces.js";

const WGPC_RULE_V4 = 0x01;
const WGPC_RULE_V6 = 0x02;
const WGPC_RULE_PORTS = 0x04;
const WGPC_RULE_ICMP_TYPE = 0x08;
const WGPC_DROP = 1;

/** Little-endian bytes (the hosts wgpc targets are little-endian: x86-64, arm64). */
function le(value: bigint | number, bytes: number): number[] {
  let v = BigInt(value);
  const out: number[] = [];
  for (let i = 0; i < bytes; i++) {
    out.push(Number(v & 0xffn));
    v >>= 8n;
  }
  return out;
}

/** Network byte order. */
function be(value: bigint, bytes: number): number[] {
  return le(value, bytes).reverse();
}

const hex = (bytes: readonly number[]) => bytes.map((b) => b.toString(16).padStart(2, "0")).join(" ");

export interface LpmEntry {
  readonly prefix: Prefix;
  /** rules whose set contains this prefix, itself or through a shorter one */
  readonly mask: bigint;
}

/**
 * The LPM trie's contents for one side and family. The trie returns only
 * the longest match, so each prefix's value also carries the rules of every
 * shorter prefix that contains it.
 */
export function lpmEntries(program: XdpProgram, family: Family, side: "src" | "dst"): { entries: LpmEntry[]; any: bigint } {
  const own = new Map<string, { prefix: Prefix; mask: bigint }>();
  let any = 0n;
  program.rules.forEach((r, i) => {
    const m = r.match[family];
    if (!m) return;
    const set = m[side];
    if (set === null) {
      any |= 1n << BigInt(i);
      return;
    }
    for (const p of set) {
      const key = formatPrefix(p);
      const entry = own.get(key) ?? { prefix: p, mask: 0n };
      entry.mask |= 1n << BigInt(i);
      own.set(key, entry);
    }
  });
  // only the lengths present can hold an ancestor: a lookup per length, not per bit
  const byLength = new Map<number, Map<bigint, bigint>>();
  for (const { prefix, mask } of own.values()) {
    const level = byLength.get(prefix.length) ?? new Map<bigint, bigint>();
    level.set(prefix.bits, mask);
    byLength.set(prefix.length, level);
  }
  const lengths = [...byLength.keys()].sort((a, b) => a - b);
  const width = family === 4 ? 32 : 128;
  const entries = [...own.values()].map(({ prefix, mask }) => {
    let total = mask;
    for (const length of lengths) {
      if (length >= prefix.length) break;
      const ancestorBits = prefix.bits & (((1n << BigInt(width)) - 1n) ^ ((1n << BigInt(width - length)) - 1n));
      const ancestor = byLength.get(length)!.get(ancestorBits);
      if (ancestor !== undefined && prefixContains({ family, bits: ancestorBits, length }, prefix)) total |= ancestor;
    }
    return { prefix, mask: total };
  });
  entries.sort((a, b) => (a.prefix.bits === b.prefix.bits ? a.prefix.length - b.prefix.length : a.prefix.bits < b.prefix.bits ? -1 : 1));
  return { entries, any };
}

function ruleBytes(program: XdpProgram, index: number): number[] {
  const r = program.rules[index];
  if (!r) return new Array(8).fill(0);
  const flags =
    (r.match[4] ? WGPC_RULE_V4 : 0) | (r.match[6] ? WGPC_RULE_V6 : 0) | (r.ports ? WGPC_RULE_PORTS : 0) | (r.icmpType !== undefined ? WGPC_RULE_ICMP_TYPE : 0);
  return [r.proto, flags, r.icmpType ?? 0, WGPC_DROP, ...le(r.ports?.low ?? 0, 2), ...le(r.ports?.high ?? 0, 2)];
}

/** The bpftool batch that fills one interface's maps (pins under /sys/fs/bpf/wgpc/<iface>/). */
export function mapBatch(program: XdpProgram, pinRoot = "/sys/fs/bpf/wgpc"): string {
  const dir = `${pinRoot}/${program.iface}`;
  const lines: string[] = [`# bpftool batch for ${program.iface}: ${program.rules.length} rules`];
  const update = (map: string, key: number[], value: number[]) => lines.push(`map update pinned ${dir}/${map} key hex ${hex(key)} value hex ${hex(value)}`);
  const any: Record<string, bigint> = {};
  for (const family of [4, 6] as const) {
    for (const side of ["src", "dst"] as const) {
      const { entries, any: anyMask } = lpmEntries(program, family, side);
      any[`${side}${family}`] = anyMask;
      for (const e of entries) {
        update(`wgpc_${side}${family}`, [...le(e.prefix.length, 4), ...be(e.prefix.bits, family === 4 ? 4 : 16)], le(e.mask, 8));
      }
    }
  }
  // every slot is written, so rules of an older policy are gone
  for (let i = 0; i < MAX_XDP_RULES; i++) update("wgpc_rules", le(i, 4), ruleBytes(program, i));
  update("wgpc_config", le(0, 4), [...le(any.src4!, 8), ...le(any.dst4!, 8), ...le(any.src6!, 8), ...le(any.dst6!, 8), WGPC_DROP, 0, 0, 0, 0, 0, 0, 0]);
  return `${lines.join("\n")}\n`;
}

/** The same contents for people and tools. */
export function mapJson(program: XdpProgram): string {
  const sets = (family: Family, side: "src" | "dst") => {
    const { entries, any } = lpmEntries(program, family, side);
    return { any: any.toString(2), entries: entries.map((e) => ({ prefix: formatPrefixShort(e.prefix), rules: e.mask.toString(2) })) };
  };
  return `${JSON.stringify(
    {
      iface: program.iface,
      l3Device: program.l3,
      rules: program.rules.map((r, i) => ({
        index: i,
        from: r.label,
        families: [r.match[4] ? 4 : undefined, r.match[6] ? 6 : undefined].filter((f) => f !== undefined),
        proto: r.proto,
        ports: r.ports,
        icmpType: r.icmpType,
        verdict: "drop",
      })),
      src4: sets(4, "src"),
      dst4: sets(4, "dst"),
      src6: sets(6, "src"),
      dst6: sets(6, "dst"),
    },
    null,
    2,
  )}\n`;
}

/**
 * Room in each prefix trie: twice the largest this policy fills, at least
 * 1024, so an update that grows the lists a little needs no reload.
 */
export function trieSize(program: XdpProgram): number {
  const largest = Math.max(
    ...([4, 6] as const).flatMap((f) => (["src", "dst"] as const).map((side) => lpmEntries(program, f, side).entries.length)),
  );
  return Math.max(1024, 2 ** Math.ceil(Math.log2(Math.max(1, largest) * 2)));
}

/** What bpf-runtime/load.sh reads: one line per interface, `IFACE L3 TRIE_SIZE`. */
function interfacesFile(host: HostIr): string {
  return host.early.map((p) => `${p.iface} ${p.l3 ? 1 : 0} ${trieSize(p)}\n`).join("");
}

export const xdpBackend: Backend = {
  name: "xdp",
  description: "the XDP early-drop program with its map contents per hub interface, and a load script",
  emit: (host): Artifact[] => {
    if (host.early.length === 0) return [];
    return [
      artifact("xdp/wgpc_xdp.c", XDP_PROGRAM_C),
      artifact("xdp/wgpc_xdp.h", XDP_HEADER_H),
      artifact("xdp/load.sh", XDP_LOAD_SH, { executable: true }),
      artifact("xdp/interfaces", interfacesFile(host)),
      ...host.early.flatMap((p) => [
        artifact(`xdp/${p.iface}/maps.batch`, mapBatch(p)),
        artifact(`xdp/${p.iface}/maps.json`, mapJson(p)),
      ]),
    ];
  },
};
