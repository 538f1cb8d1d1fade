/* SPDX-License-Identifier: GPL-2.0-only OR BSD-2-Clause */
/* Types shared by the XDP program and the Swift loader (which mirrors them; keep in sync). */
#ifndef QUICXDP_BPF_H
#define QUICXDP_BPF_H

#include <linux/types.h>

#define QUICXDP_MAX_QUEUES 64
#define QUIC_VERSION_1 0x00000001u /* RFC 9000 §15 */
#define QUIC_VERSION_2 0x6b3343cfu /* RFC 9369 §3.1 */

/* config[0]. min_initial_size: smallest UDP payload accepted for a long-header Initial (1200 for
 * a server, RFC 9000 §14.1; 0 turns the check off, e.g. for a client receiving ACK-only server
 * Initials). */
struct quicxdp_config {
	__u32 min_initial_size;
	__u32 flags; /* reserved, 0 */
};

/* xsk_owners[queue]: written by the user-space port that bound the queue's AF_XDP socket
 * (the XSKMAP cannot be read from user space), cleared when it closes; for `quicxdp status`. */
struct quicxdp_xsk_owner {
	__u32 pid;
	__u32 flags; /* QUICXDP_OWNER_ZEROCOPY */
};
#define QUICXDP_OWNER_ZEROCOPY 1u

/* stats[0], per CPU. Every packet counts in rx_packets and in exactly one verdict counter;
 * QUIC packets = redirected + passed_no_socket + dropped_* (no separate counter: each one costs
 * a write on the per-packet path). */
struct quicxdp_stats {
	__u64 rx_packets;
	__u64 rx_bytes;
	__u64 redirected;            /* handed to the AF_XDP socket of the queue */
	__u64 passed_no_socket;      /* QUIC, but no socket bound on this queue: to the kernel */
	__u64 passed_not_quic;       /* not UDP, or UDP to another port */
	__u64 passed_fragment;       /* IPv4 fragment or IPv6 fragment header */
	__u64 passed_malformed;      /* truncated or inconsistent headers */
	__u64 dropped_empty;         /* UDP to a QUIC port with no payload */
	__u64 dropped_no_fixed_bit;  /* QUIC fixed bit clear (or long header without a version) */
	__u64 dropped_short_initial; /* Initial below min_initial_size */
};

#endif
