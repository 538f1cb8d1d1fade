// SPDX-License-Identifier: GPL-2.0-only OR BSD-2-Clause
/*
 * quicxdp: steer QUIC packets for the configured UDP ports into AF_XDP sockets.
 *
 * Parses Ethernet (plus one 802.1Q/802.1ad tag), IPv4 (with options) or IPv6 (no extension
 * headers), and UDP. For a destination port in `ports`:
 *   - the QUIC fixed bit must be set (RFC 9000 §17.2, §17.3; RFC 9287 greasing is not
 *     negotiated by this server), except in Version Negotiation packets (version 0) whose
 *     first-byte bits are unused (RFC 9000 §17.2.1);
 *   - a long-header Initial (v1 type 0, RFC 9000 §17.2.2; v2 type 1, RFC 9369 §3.2), or a long
 *     header of a version this program does not know, in a UDP payload smaller than
 *     config.min_initial_size is dropped (RFC 9000 §14.1 and §5.2.2: servers MUST discard them);
 *   - otherwise bpf_redirect_map(&xsks, rx_queue_index, XDP_PASS): with no socket bound on this
 *     queue the packet goes to the kernel stack.
 * Everything else is XDP_PASS, untouched. Stated verdicts for odd packets (each counted):
 *   truncated Ethernet/VLAN/IP/UDP header, IPv4 IHL < 5, IPv4 total length or UDP length that
 *   disagree with the frame:                          XDP_PASS (the kernel validates and drops)
 *   IPv4 fragments (first or later), IPv6 with an extension header before UDP:  XDP_PASS
 *   UDP to a QUIC port with an empty payload:         XDP_DROP (not a QUIC packet)
 */
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/in.h>
#include <linux/ip.h>
#include <linux/ipv6.h>
#include <linux/udp.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

#include "quicxdp.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

/* One AF_XDP socket per receive queue, keyed by queue index. */
struct {
	__uint(type, BPF_MAP_TYPE_XSKMAP);
	__uint(max_entries, QUICXDP_MAX_QUEUES);
	__type(key, __u32);
	__type(value, __u32);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} xsks SEC(".maps");

/* Who bound each queue's socket; never read by the program (see quicxdp.h). */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, QUICXDP_MAX_QUEUES);
	__type(key, __u32);
	__type(value, struct quicxdp_xsk_owner);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} xsk_owners SEC(".maps");

/* ports[p] != 0 when UDP destination port p (host byte order) carries QUIC. An array indexed
 * by port rather than a hash: the verifier inlines array lookups, which keeps the program
 * within 1.3x of a bare bpf_redirect_map (see Benchmarks/DatapathBench). Read it with
 * `quicxdp status` or `bpftool map lookup pinned .../ports key <port as 4 bytes>`. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 65536);
	__type(key, __u32);
	__type(value, __u8);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} ports SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct quicxdp_config);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} config SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct quicxdp_stats);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} stats SEC(".maps");

/* A parse position; every helper checks `pos + size <= end` before it reads. */
struct cursor {
	void *pos;
	void *end;
};

static __always_inline void *cursor_take(struct cursor *c, __u32 size)
{
	void *start = c->pos;

	if (start + size > c->end)
		return NULL;
	c->pos = start + size;
	return start;
}

/* Returns the EtherType in network order after at most one VLAN tag, or 0 if truncated. */
static __always_inline __be16 parse_ethernet(struct cursor *c)
{
	struct ethhdr *eth = cursor_take(c, sizeof(*eth));
	__be16 proto;

	if (!eth)
		return 0;
	proto = eth->h_proto;
	if (proto == bpf_htons(ETH_P_8021Q) || proto == bpf_htons(ETH_P_8021AD)) {
		struct vlan_tag { __be16 tci; __be16 proto; } *tag = cursor_take(c, sizeof(*tag));

		if (!tag)
			return 0;
		proto = tag->proto;
	}
	return proto;
}

enum parse_result { PARSE_UDP, PARSE_OTHER, PARSE_MALFORMED, PARSE_FRAGMENT };

/* IPv4 with options (RFC 791). Leaves the cursor at the transport header. */
static __always_inline enum parse_result parse_ipv4(struct cursor *c)
{
	struct iphdr *ip = cursor_take(c, sizeof(*ip));
	__u32 header_size;

	if (!ip)
		return PARSE_MALFORMED;
	if (ip->ihl < 5 || ip->version != 4)
		return PARSE_MALFORMED;
	header_size = ip->ihl * 4;
	if ((void *)ip + header_size > c->end)
		return PARSE_MALFORMED;
	/* The total length is not checked here: the UDP length is checked against the frame
	 * below, and the AF_XDP port re-validates every header (EthernetFrame.parseUDP). */
	if (ip->protocol != IPPROTO_UDP)
		return PARSE_OTHER;
	/* More-fragments set or a fragment offset: the kernel reassembles. */
	if (ip->frag_off & bpf_htons(0x3fff))
		return PARSE_FRAGMENT;
	c->pos = (void *)ip + header_size;
	return PARSE_UDP;
}

/* IPv6 (RFC 8200) without extension headers before UDP. */
static __always_inline enum parse_result parse_ipv6(struct cursor *c)
{
	struct ipv6hdr *ip6 = cursor_take(c, sizeof(*ip6));

	if (!ip6)
		return PARSE_MALFORMED;
	if (ip6->version != 6)
		return PARSE_MALFORMED;
	if (c->pos + bpf_ntohs(ip6->payload_len) > c->end)
		return PARSE_MALFORMED;
	if (ip6->nexthdr == IPPROTO_FRAGMENT)
		return PARSE_FRAGMENT;
	if (ip6->nexthdr != IPPROTO_UDP)
		return PARSE_OTHER;
	return PARSE_UDP;
}

static __always_inline int is_initial_or_unknown_long(__u8 first, __be32 version)
{
	__u8 type = (first >> 4) & 3;

	if (version == bpf_htonl(QUIC_VERSION_1))
		return type == 0;
	if (version == bpf_htonl(QUIC_VERSION_2))
		return type == 1;
	return 1;
}

SEC("xdp")
int quicxdp(struct xdp_md *ctx)
{
	struct cursor c = { .pos = (void *)(long)ctx->data, .end = (void *)(long)ctx->data_end };
	__u32 zero = 0;
	struct quicxdp_stats *st = bpf_map_lookup_elem(&stats, &zero);
	struct quicxdp_config *cfg;
	enum parse_result parsed;
	struct udphdr *udp;
	__u32 udp_len;
	__u8 *first, *is_quic;
	__be16 proto;

	if (!st)
		return XDP_PASS;
	st->rx_packets++;
	st->rx_bytes += c.end - c.pos;

	proto = parse_ethernet(&c);
	if (proto == bpf_htons(ETH_P_IP))
		parsed = parse_ipv4(&c);
	else if (proto == bpf_htons(ETH_P_IPV6))
		parsed = parse_ipv6(&c);
	else if (proto == 0)
		parsed = PARSE_MALFORMED;
	else
		parsed = PARSE_OTHER;

	if (parsed == PARSE_OTHER)
		goto pass;
	if (parsed == PARSE_FRAGMENT) {
		st->passed_fragment++;
		return XDP_PASS;
	}
	if (parsed == PARSE_MALFORMED)
		goto malformed;

	udp = cursor_take(&c, sizeof(*udp));
	if (!udp)
		goto malformed;
	is_quic = bpf_map_lookup_elem(&ports, &(__u32){ bpf_ntohs(udp->dest) });
	if (!is_quic || !*is_quic)
		goto pass;

	udp_len = bpf_ntohs(udp->len);
	if (udp_len < sizeof(*udp) || (void *)udp + udp_len > c.end)
		goto malformed;

	first = cursor_take(&c, 1);
	if (!first || udp_len == sizeof(*udp)) {
		st->dropped_empty++;
		return XDP_DROP;
	}
	if (*first & 0x80) {
		__be32 *version = cursor_take(&c, sizeof(*version));

		if (!version) {
			st->dropped_no_fixed_bit++; /* a long header needs its version */
			return XDP_DROP;
		}
		if (*version != 0) {
			if (!(*first & 0x40)) {
				st->dropped_no_fixed_bit++;
				return XDP_DROP;
			}
			cfg = bpf_map_lookup_elem(&config, &zero);
			if (cfg && udp_len - sizeof(*udp) < cfg->min_initial_size &&
			    is_initial_or_unknown_long(*first, *version)) {
				st->dropped_short_initial++;
				return XDP_DROP;
			}
		}
	} else if (!(*first & 0x40)) {
		st->dropped_no_fixed_bit++;
		return XDP_DROP;
	}

	if (bpf_redirect_map(&xsks, ctx->rx_queue_index, XDP_PASS) == XDP_REDIRECT) {
		st->redirected++;
		return XDP_REDIRECT;
	}
	st->passed_no_socket++;
	return XDP_PASS;

malformed:
	st->passed_malformed++;
	return XDP_PASS;
pass:
	st->passed_not_quic++;
	return XDP_PASS;
}

/*
 * Baseline for the benchmark: the least an AF_XDP steering program can do.
 * Not attached by the loader.
 */
SEC("xdp")
int quicxdp_baseline(struct xdp_md *ctx)
{
	return bpf_redirect_map(&xsks, ctx->rx_queue_index, XDP_PASS);
}
