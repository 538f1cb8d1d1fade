#ifndef QUICXDP_CLIBXDP_H
#define QUICXDP_CLIBXDP_H
#include <bpf/libbpf.h>
#include <bpf/bpf.h>
#include <xdp/libxdp.h>
#include <xdp/xsk.h>
#endif
