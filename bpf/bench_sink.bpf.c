// SPDX-License-Identifier: GPL-2.0-only OR BSD-2-Clause
/* Benchmark helper: drops every frame at the receiving end of the veth, so transmit
 * benchmarks measure the sender, not the peer's stack. Not used by quicxdp itself. */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

char LICENSE[] SEC("license") = "Dual BSD/GPL";

SEC("xdp")
int bench_sink(struct xdp_md *ctx)
{
	return XDP_DROP;
}
