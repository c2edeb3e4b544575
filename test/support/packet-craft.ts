// Raw frames for BPF_PROG_TEST_RUN: Ethernet (with 802.1Q/802.1ad tags) or
// a bare L3 packet, IPv4 (with options and fragments) or IPv6 (with
// extension headers and fragments), TCP/UDP/ICMP/ICMPv6 headers.
import type { Family } from "../../src/net/address.js";

export interface Craft {
  readonly family: Family;
  readonly saddr: bigint;
  readonly daddr: bigint;
  /** IP protocol number of the L4 header */
  readonly proto: number;
  readonly dport?: number;
  readonly icmpType?: number;
  /** no Ethernet header: the packet starts with IP (wg0, tun) */
  readonly l3?: boolean;
  /** VLAN tags, outermost first: 0x88a8 (802.1ad) or 0x8100 (802.1Q) */
  readonly vlans?: readonly number[];
  /** IPv4 option bytes (a multiple of 4) */
  readonly ipv4Options?: number;
  /** IPv6 extension headers before L4, by next-header number (0, 43, 60, 51) */
  readonly ipv6Ext?: readonly number[];
  /** a fragment: the first one, or a later one (no L4 header) */
  readonly fragment?: "first" | "later";
  /** cut the L4 header after this many bytes */
  readonly truncateL4?: number;
  /** the IP length fields end before L4, whose bytes follow as frame padding */
  readonly l4AsPadding?: boolean;
}

const bytesOf = (value: bigint, n: number) => {
  const out: number[] = [];
  for (let i = n - 1; i >= 0; i--) out.push(Number((value >> BigInt(i * 8)) & 0xffn));
  return out;
};

function l4Header(c: Craft): number[] {
  if (c.proto === 6) return [0x30, 0x39, (c.dport! >> 8) & 0xff, c.dport! & 0xff, 0, 0, 0, 1, 0, 0, 0, 0, 0x50, 0x02, 0xff, 0xff, 0, 0, 0, 0];
  if (c.proto === 17 || c.proto === 132) return [0x30, 0x39, (c.dport! >> 8) & 0xff, c.dport! & 0xff, 0, 8, 0, 0, ...(c.proto === 132 ? [0, 0, 0, 0] : [])];
  if (c.proto === 1 || c.proto === 58) return [c.icmpType ?? 8, 0, 0, 0, 0, 1, 0, 1];
  return [0xde, 0xad, 0xbe, 0xef];
}

export function craft(c: Craft): Buffer {
  let l4 = c.fragment === "later" ? [0xaa, 0xbb, 0xcc, 0xdd, 0xee, 0xff, 0x11, 0x22] : l4Header(c);
  if (c.truncateL4 !== undefined) l4 = l4.slice(0, c.truncateL4);
  let l3: number[];
  if (c.family === 4) {
    const options = new Array(c.ipv4Options ?? 0).fill(1); // NOP options
    const ihl = 5 + options.length / 4;
    const total = ihl * 4 + (c.l4AsPadding ? 0 : l4.length);
    // first fragment: MF set, offset 0; later fragment: offset 185 (1480 bytes)
    const frag = c.fragment === "first" ? 0x2000 : c.fragment === "later" ? 185 : 0x4000;
    l3 = [0x40 | ihl, 0, total >> 8, total & 0xff, 0, 1, frag >> 8, frag & 0xff, 64, c.proto, 0, 0, ...bytesOf(c.saddr, 4), ...bytesOf(c.daddr, 4), ...options];
  } else {
    const chain = [...(c.ipv6Ext ?? []), ...(c.fragment ? [44] : [])];
    const ext: number[] = [];
    chain.forEach((kind, i) => {
      const next = chain[i + 1] ?? c.proto;
      if (kind === 44) {
        const offset = c.fragment === "later" ? 185 << 3 : 0x0001; // M flag on the first
        ext.push(next, 0, offset >> 8, offset & 0xff, 0, 0, 0, 7);
      } else if (kind === 51) ext.push(next, 1, 0, 0, 0, 0, 0, 1, 0, 0, 0, 1); // AH: (1+2)*4 = 12 bytes
      else ext.push(next, 0, 1, 4, 0, 0, 0, 0); // hop-by-hop/routing/dest options: 8 bytes with a PadN
    });
    const payload = ext.length + (c.l4AsPadding ? 0 : l4.length);
    const first = chain[0] ?? c.proto;
    l3 = [0x60, 0, 0, 0, payload >> 8, payload & 0xff, first, c.proto === 58 && (c.icmpType ?? 0) >= 133 ? 255 : 64, ...bytesOf(c.saddr, 16), ...bytesOf(c.daddr, 16), ...ext];
  }
  const packet = [...l3, ...l4];
  if (c.l3) return Buffer.from(packet);
  // Ethernet: dst, src, then each tag's TPID+TCI, then the ethertype
  const ethertype = c.family === 4 ? 0x0800 : 0x86dd;
  const header = [0x02, 0, 0, 0, 0, 1, 0x02, 0, 0, 0, 0, 2];
  // each tag: its TCI, then the type of what follows (the next tag's TPID, or IP)
  const vlans = c.vlans ?? [];
  const vlanPart: number[] = vlans.length > 0 ? bytesOf(BigInt(vlans[0]!), 2) : [];
  vlans.forEach((_, i) => vlanPart.push(0, 10 + i, ...bytesOf(BigInt(vlans[i + 1] ?? ethertype), 2)));
  const frame = vlans.length > 0 ? [...header, ...vlanPart, ...packet] : [...header, ...bytesOf(BigInt(ethertype), 2), ...packet];
  return Buffer.from(frame);
}

/** An Ethernet frame that is not IP (ARP request). */
export function arpFrame(): Buffer {
  return Buffer.from([0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x02, 0, 0, 0, 0, 2, 0x08, 0x06, 0, 1, 0x08, 0, 6, 4, 0, 1, 2, 0, 0, 0, 0, 2, 192, 0, 2, 1, 0, 0, 0, 0, 0, 0, 192, 0, 2, 2]);
}
