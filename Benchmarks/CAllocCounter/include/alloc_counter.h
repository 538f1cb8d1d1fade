#ifndef QUICXDP_ALLOC_COUNTER_H
#define QUICXDP_ALLOC_COUNTER_H
// Counts heap allocations in a benchmark process: this target defines malloc and friends, which
// take precedence over glibc's for the whole process, count, and forward to glibc.
unsigned long long quic_alloc_count(void);
#endif
