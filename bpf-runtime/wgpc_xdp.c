// SPDX-License-Identifier: GPL-2.0-only
/*
 * wgpc's one XDP program: stateless early drop by source, destination,
 * protocol and port, configured only through its maps (see wgpc_xdp.h).
 *
 * Verdicts, in order:
 *   1. frames that are not IPv4 or IPv6 (ARP, LLDP, ...): pass;
 *   2. IP packets it cannot parse: config.unparsed_verdict (drop unless set);
 *   3. ICMPv6 neighbour discovery and router messages (133-137): pass,
 *      whatever the rules say;
 *   4. the first rule (lowest bit) whose source, destination, protocol and
 *      port or ICMP type match: its verdict;
 *   5. otherwise pass: the firewall behind decides.
 *
 * Fragments: a first fragment too short for its L4 header is dropped; a
 * non-first fragment carries no L4 header, so only rules without ports or
 * ICMP types can match it.
 *
 * Build with -DWGPC_L3_DEVICE=1 for devices without an Ethernet header
 * (wg0, tun): the packet then starts with the IP header; and with
 * -DWGPC_LPM_ENTRIES=N for the size of each prefix trie.
 */
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/in.h>
#include <linux/ip.h>
#include <linux/ipv6.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>
#include "wgpc_xdp.h"

#ifndef WGPC_L3_DEVICE
#define WGPC_L3_DEVICE 0
#endif

/* sized by the compiler from the policy, with headroom (load.sh passes it) */
#ifndef WGPC_LPM_ENTRIES
#define WGPC_LPM_ENTRIES 1024
#endif

#define MAX_VLAN_TAGS 2
#define MAX_EXT_HEADERS 8
#define ETH_P_8021AD_ 0x88A8
#define ETH_P_8021Q_ 0x8100

char LICENSE[] SEC("license") = "GPL";

struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(max_entries, WGPC_LPM_ENTRIES);
	__type(key, struct wgpc_lpm4_key);
	__type(value, __u64);
} WGPC_MAP_SRC4 SEC(".maps"), WGPC_MAP_DST4 SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(max_entries, WGPC_LPM_ENTRIES);
	__type(key, struct wgpc_lpm6_key);
	__type(value, __u64);
} WGPC_MAP_SRC6 SEC(".maps"), WGPC_MAP_DST6 SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, WGPC_MAX_RULES);
	__type(key, __u32);
	__type(value, struct wgpc_rule);
} WGPC_MAP_RULES SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct wgpc_config);
} WGPC_MAP_CONFIG SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, WGPC_STATS);
	__type(key, __u32);
	__type(value, struct wgpc_counter);
} WGPC_MAP_RULE_STATS SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LRU_PERCPU_HASH);
	__uint(max_entries, 65536);
	__type(key, struct wgpc_src_key);
	__type(value, __u64);
} WGPC_MAP_SRC_STATS SEC(".maps");

struct vlan_hdr_ {
	__be16 tci;
	__be16 proto;
};

/* what the parser found */
struct packet {
	__u8 family;
	__u8 proto;     /* L4 protocol, after IPv6 extension headers */
	__u8 l4_ok;     /* the L4 header is present (first fragment, long enough) */
	__u8 icmp_type;
	__u16 dport;    /* host byte order */
	__u8 saddr[16];
	__u8 daddr[16];
};

static __always_inline void count(__u32 slot, __u64 bytes)
{
	struct wgpc_counter *c = bpf_map_lookup_elem(&WGPC_MAP_RULE_STATS, &slot);
	if (c) {
		c->packets++;
		c->bytes += bytes;
	}
}

static __always_inline int unparsed(__u64 bytes)
{
	__u32 zero = 0;
	struct wgpc_config *cfg = bpf_map_lookup_elem(&WGPC_MAP_CONFIG, &zero);
	count(WGPC_STAT_UNPARSED, bytes);
	if (cfg && cfg->unparsed_verdict == WGPC_PASS)
		return XDP_PASS;
	return XDP_DROP;
}

/*
 * Reads the L4 fields at l4 if they fit, both in the frame and in the bytes
 * the IP header says it carries (avail): Ethernet padding is not a header.
 * Returns 0 when truncated.
 */
static __always_inline int read_l4(struct packet *p, void *l4, void *end, __s32 avail)
{
	if (p->proto == IPPROTO_TCP || p->proto == IPPROTO_UDP || p->proto == IPPROTO_SCTP) {
		/* the destination port is at offset 2 in all three */
		__u8 *ports = l4;
		if ((void *)(ports + 4) > end || avail < 4)
			return 0;
		p->dport = ((__u16)ports[2] << 8) | ports[3];
	} else if (p->proto == IPPROTO_ICMP || p->proto == IPPROTO_ICMPV6) {
		__u8 *icmp = l4;
		if ((void *)(icmp + 4) > end || avail < 4)
			return 0;
		p->icmp_type = icmp[0];
	}
	p->l4_ok = 1;
	return 1;
}

static __always_inline int parse_ipv4(struct packet *p, void *data, void *end)
{
	struct iphdr *ip = data;
	if ((void *)(ip + 1) > end)
		return 0;
	if (ip->ihl < 5 || ip->version != 4)
		return 0;
	void *l4 = data + ip->ihl * 4;
	if (l4 > end)
		return 0;
	p->family = 4;
	p->proto = ip->protocol;
	__builtin_memcpy(p->saddr, &ip->saddr, 4);
	__builtin_memcpy(p->daddr, &ip->daddr, 4);
	if (bpf_ntohs(ip->frag_off) & 0x1fff)
		return 1; /* not the first fragment: no L4 header here */
	/* a first fragment (or a whole packet) must hold its L4 header */
	__s32 avail = (__s32)bpf_ntohs(ip->tot_len) - ip->ihl * 4;
	return read_l4(p, l4, end, avail) ? 1 : -1;
}

static __always_inline int parse_ipv6(struct packet *p, void *data, void *end)
{
	struct ipv6hdr *ip6 = data;
	if ((void *)(ip6 + 1) > end)
		return 0;
	if (ip6->version != 6)
		return 0;
	p->family = 6;
	__builtin_memcpy(p->saddr, &ip6->saddr, 16);
	__builtin_memcpy(p->daddr, &ip6->daddr, 16);
	__u8 next = ip6->nexthdr;
	void *cursor = ip6 + 1;
	__s32 payload = bpf_ntohs(ip6->payload_len);
	__s32 used = 0;
	/* up to MAX_EXT_HEADERS extension headers, then the upper layer */
#pragma unroll
	for (int i = 0; i <= MAX_EXT_HEADERS; i++) {
		__u8 *ext = cursor;
		if (i == MAX_EXT_HEADERS && (next == IPPROTO_HOPOPTS || next == IPPROTO_ROUTING || next == IPPROTO_DSTOPTS ||
					     next == IPPROTO_AH || next == IPPROTO_FRAGMENT))
			return 0; /* more extension headers than it reads */
		if (next == IPPROTO_HOPOPTS || next == IPPROTO_ROUTING || next == IPPROTO_DSTOPTS) {
			if ((void *)(ext + 2) > end)
				return 0;
			next = ext[0];
			used += (ext[1] + 1) * 8;
			cursor += (ext[1] + 1) * 8;
		} else if (next == IPPROTO_AH) {
			if ((void *)(ext + 2) > end)
				return 0;
			next = ext[0];
			used += (ext[1] + 2) * 4;
			cursor += (ext[1] + 2) * 4;
		} else if (next == IPPROTO_FRAGMENT) {
			if ((void *)(ext + 8) > end)
				return 0;
			next = ext[0];
			__u16 offset = (((__u16)ext[2] << 8) | ext[3]) >> 3;
			used += 8;
			cursor += 8;
			if (offset) {
				p->proto = next;
				return 1; /* not the first fragment */
			}
		} else {
			p->proto = next;
			if (cursor > end)
				return 0;
			return read_l4(p, cursor, end, payload - used) ? 1 : -1;
		}
	}
	return 0;
}

static __always_inline __u64 lookup4(void *map, __u8 *addr)
{
	struct wgpc_lpm4_key key = { .prefixlen = 32 };
	__builtin_memcpy(key.addr, addr, 4);
	__u64 *mask = bpf_map_lookup_elem(map, &key);
	return mask ? *mask : 0;
}

static __always_inline __u64 lookup6(void *map, __u8 *addr)
{
	struct wgpc_lpm6_key key = { .prefixlen = 128 };
	__builtin_memcpy(key.addr, addr, 16);
	__u64 *mask = bpf_map_lookup_elem(map, &key);
	return mask ? *mask : 0;
}

static __always_inline void count_source(struct packet *p)
{
	struct wgpc_src_key key = { .family = p->family };
	__builtin_memcpy(key.addr, p->saddr, 16);
	__u64 *n = bpf_map_lookup_elem(&WGPC_MAP_SRC_STATS, &key);
	if (n) {
		(*n)++;
	} else {
		__u64 one = 1;
		bpf_map_update_elem(&WGPC_MAP_SRC_STATS, &key, &one, BPF_ANY);
	}
}

/* the first rule (lowest bit) that matches, for bpf_loop */
struct rule_walk {
	__u64 candidates;
	__u8 family;
	__u8 proto;
	__u8 l4_ok;
	__u8 icmp_type;
	__u16 dport;
	__u8 verdict; /* 0 while no rule matched */
	__u32 rule;
};

static long check_rule(__u32 i, void *data)
{
	struct rule_walk *w = data;
	if (i >= WGPC_MAX_RULES || !(w->candidates & (1ULL << i)))
		return 0;
	struct wgpc_rule *r = bpf_map_lookup_elem(&WGPC_MAP_RULES, &i);
	if (!r)
		return 1;
	if (!(r->flags & (w->family == 4 ? WGPC_RULE_V4 : WGPC_RULE_V6)))
		return 0;
	if (r->proto && r->proto != w->proto)
		return 0;
	if (r->flags & WGPC_RULE_PORTS && (!w->l4_ok || w->dport < r->port_lo || w->dport > r->port_hi))
		return 0;
	if (r->flags & WGPC_RULE_ICMP_TYPE && (!w->l4_ok || w->icmp_type != r->icmp_type))
		return 0;
	w->verdict = r->verdict;
	w->rule = i;
	return 1;
}

SEC("xdp")
int wgpc_xdp(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *end = (void *)(long)ctx->data_end;
	__u64 bytes = end - data;
	struct packet p = {};
	__u16 ethertype;
	void *l3 = data;

	if (WGPC_L3_DEVICE) {
		__u8 *first = data;
		if ((void *)(first + 1) > end)
			return unparsed(bytes);
		ethertype = (first[0] >> 4) == 4 ? ETH_P_IP : (first[0] >> 4) == 6 ? ETH_P_IPV6 : 0;
	} else {
		struct ethhdr *eth = data;
		if ((void *)(eth + 1) > end)
			return unparsed(bytes);
		ethertype = bpf_ntohs(eth->h_proto);
		l3 = eth + 1;
#pragma unroll
		for (int i = 0; i < MAX_VLAN_TAGS; i++) {
			if (ethertype != ETH_P_8021Q_ && ethertype != ETH_P_8021AD_)
				break;
			struct vlan_hdr_ *vlan = l3;
			if ((void *)(vlan + 1) > end)
				return unparsed(bytes);
			ethertype = bpf_ntohs(vlan->proto);
			l3 = vlan + 1;
		}
		if (ethertype == ETH_P_8021Q_ || ethertype == ETH_P_8021AD_)
			return unparsed(bytes); /* more tags than it reads */
	}

	int parsed;
	if (ethertype == ETH_P_IP)
		parsed = parse_ipv4(&p, l3, end);
	else if (ethertype == ETH_P_IPV6)
		parsed = parse_ipv6(&p, l3, end);
	else {
		count(WGPC_STAT_NON_IP, bytes);
		return XDP_PASS;
	}
	if (parsed == 0)
		return unparsed(bytes);
	if (parsed < 0) {
		/* a (first) fragment too short for its L4 header */
		count(WGPC_STAT_UNPARSED, bytes);
		return XDP_DROP;
	}

	/* neighbour discovery keeps IPv6 working, whatever the rules say */
	if (p.family == 6 && p.proto == IPPROTO_ICMPV6 && p.l4_ok && p.icmp_type >= 133 && p.icmp_type <= 137)
		return XDP_PASS;

	__u32 zero = 0;
	struct wgpc_config *cfg = bpf_map_lookup_elem(&WGPC_MAP_CONFIG, &zero);
	if (!cfg)
		return XDP_PASS;
	__u64 candidates;
	if (p.family == 4)
		candidates = (lookup4(&WGPC_MAP_SRC4, p.saddr) | cfg->any_src4) & (lookup4(&WGPC_MAP_DST4, p.daddr) | cfg->any_dst4);
	else
		candidates = (lookup6(&WGPC_MAP_SRC6, p.saddr) | cfg->any_src6) & (lookup6(&WGPC_MAP_DST6, p.daddr) | cfg->any_dst6);

	struct rule_walk walk = {
		.candidates = candidates,
		.family = p.family,
		.proto = p.proto,
		.l4_ok = p.l4_ok,
		.icmp_type = p.icmp_type,
		.dport = p.dport,
	};
	/* bpf_loop, not a plain loop: 6.1's verifier takes that one for infinite */
	bpf_loop(WGPC_MAX_RULES, check_rule, &walk, 0);
	if (walk.verdict) {
		count(walk.rule, bytes);
		if (walk.verdict == WGPC_DROP) {
			count_source(&p);
			return XDP_DROP;
		}
	}
	return XDP_PASS;
}
