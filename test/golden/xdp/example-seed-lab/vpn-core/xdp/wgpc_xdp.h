/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * Shared by the XDP program (wgpc_xdp.c) and wgpc's map encoder
 * (src/backends/xdp/). Changing a layout here means changing the encoder:
 * test/root/xdp.test.ts checks both against each other.
 *
 * Byte order, field by field:
 *   - LPM keys: prefixlen in host byte order (as the kernel's LPM trie
 *     wants it), addr in network byte order (as on the wire);
 *   - rule masks (LPM values, config masks): u64, host byte order, bit i is
 *     rule i; rules are in policy order, the lowest bit that matches wins;
 *   - struct wgpc_rule: ports in host byte order (the program converts the
 *     packet's), everything else single bytes;
 *   - counters: u64, host byte order, one per CPU.
 */
#ifndef WGPC_XDP_H
#define WGPC_XDP_H

#define WGPC_MAX_RULES 64

/* maps, pinned under /sys/fs/bpf/wgpc/<iface>/ */
#define WGPC_MAP_SRC4 wgpc_src4
#define WGPC_MAP_DST4 wgpc_dst4
#define WGPC_MAP_SRC6 wgpc_src6
#define WGPC_MAP_DST6 wgpc_dst6
#define WGPC_MAP_RULES wgpc_rules
#define WGPC_MAP_CONFIG wgpc_config
#define WGPC_MAP_RULE_STATS wgpc_rule_stats
#define WGPC_MAP_SRC_STATS wgpc_src_stats

struct wgpc_lpm4_key {
	__u32 prefixlen;
	__u8 addr[4];
};

struct wgpc_lpm6_key {
	__u32 prefixlen;
	__u8 addr[16];
};

/* rule flags */
#define WGPC_RULE_V4 0x01       /* applies to IPv4 */
#define WGPC_RULE_V6 0x02       /* applies to IPv6 */
#define WGPC_RULE_PORTS 0x04    /* destination port within [port_lo, port_hi] */
#define WGPC_RULE_ICMP_TYPE 0x08 /* ICMP/ICMPv6 type equal to icmp_type */

/* verdicts, as XDP returns them */
#define WGPC_DROP 1 /* XDP_DROP */
#define WGPC_PASS 2 /* XDP_PASS */

struct wgpc_rule {
	__u8 proto; /* 0 = any; IPPROTO_TCP, _UDP, _SCTP, _ICMP, _ICMPV6 */
	__u8 flags;
	__u8 icmp_type;
	__u8 verdict;
	__u16 port_lo;
	__u16 port_hi;
};

struct wgpc_config {
	/* rules that match every source / destination of a family */
	__u64 any_src4;
	__u64 any_dst4;
	__u64 any_src6;
	__u64 any_dst6;
	/* what happens to an IP packet the program cannot parse (truncated
	 * headers, more than two VLAN tags, more than eight IPv6 extension
	 * headers): WGPC_DROP by default */
	__u8 unparsed_verdict;
	__u8 pad[7];
};

/* rule statistics: index = rule; the last two count unparsed and non-IP frames */
#define WGPC_STAT_UNPARSED WGPC_MAX_RULES
#define WGPC_STAT_NON_IP (WGPC_MAX_RULES + 1)
#define WGPC_STATS (WGPC_MAX_RULES + 2)

struct wgpc_counter {
	__u64 packets;
	__u64 bytes;
};

/* per-source drop counters */
struct wgpc_src_key {
	__u8 family; /* 4 or 6 */
	__u8 pad[3];
	__u8 addr[16]; /* network byte order; IPv4 in the first four bytes */
};

#endif
