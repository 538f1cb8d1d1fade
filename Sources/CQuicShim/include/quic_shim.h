#ifndef QUICXDP_SHIM_H
#define QUICXDP_SHIM_H
// The project's only hand-written C for userspace: what Swift cannot call directly.
// Every function carries the `quic_` prefix.
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/vfs.h>
#include <sys/eventfd.h>
#include <sys/mount.h>
#include <sys/ioctl.h>
#include <net/if.h>
#include <linux/if_link.h>
#include <linux/if_xdp.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <linux/neighbour.h>
#include <linux/genetlink.h>
#include <linux/ethtool.h>
#include <linux/sockios.h>
#include <linux/net_tstamp.h>
#include <linux/udp.h>
#include <linux/sock_diag.h>
#include <linux/xdp_diag.h>
#include <netinet/in.h>
#include <poll.h>

// --- AF_XDP TX metadata (Linux 6.8+; Debian 12's linux/if_xdp.h predates it) -------------------
/// struct xdp_umem_reg with tx_metadata_len (include/uapi/linux/if_xdp.h). libxdp 1.3 registers
/// the older layout, so QuicDatapath sets up AF_XDP sockets itself.
struct quic_xdp_umem_reg {
    __u64 addr;
    __u64 len;
    __u32 chunk_size;
    __u32 headroom;
    __u32 flags;
    __u32 tx_metadata_len;
};
/// UMEM flags: compute requested checksums in the kernel (copy mode only); honour tx_metadata_len.
#define QUIC_XDP_UMEM_TX_SW_CSUM (1 << 1)
#define QUIC_XDP_UMEM_TX_METADATA_LEN (1 << 2)
/// TX descriptor option: a struct xsk_tx_metadata sits just before the packet.
#define QUIC_XDP_TX_METADATA (1 << 1)
/// xsk_tx_metadata.flags: checksum [csum_start, end) and store it at csum_start + csum_offset.
#define QUIC_XDP_TXMD_FLAGS_CHECKSUM (1 << 1)
/// struct xsk_tx_metadata, request side (24 bytes; the completion side overlays the union).
struct quic_xsk_tx_metadata {
    __u64 flags;
    __u16 csum_start;
    __u16 csum_offset;
    __u32 reserved;
    __u64 launch_time;
};

// --- OpenSSL macros -------------------------------------------------------------------------
/// OPENSSL_free is a macro over CRYPTO_free(ptr, __FILE__, __LINE__).
void quic_openssl_free(void *ptr);
/// EVP_PKEY_PUBLIC_KEY / EVP_PKEY_KEYPAIR: EVP_PKEY_fromdata selections built from OR-ed macros.
int quic_evp_pkey_selection_public_key(void);
int quic_evp_pkey_selection_keypair(void);
/// STACK_OF(X509) is reached only through the sk_X509_* macros: the untrusted chain handed to
/// X509_STORE_CTX_init. The stack takes ownership of pushed certificates; free releases them all.
struct stack_st_X509;
struct x509_st;
struct stack_st_X509 *quic_x509_stack_new(void);
int quic_x509_stack_push(struct stack_st_X509 *stack, struct x509_st *certificate);
void quic_x509_stack_free(struct stack_st_X509 *stack);

// --- _GNU_SOURCE socket calls --------------------------------------------------------------
/// Same layout as glibc's `struct mmsghdr` (checked by a static assertion in the .c file).
struct quic_mmsghdr {
    struct msghdr msg_hdr;
    unsigned int msg_len;
};
int quic_recvmmsg(int fd, struct quic_mmsghdr *msgs, unsigned int vlen, int flags);
int quic_sendmmsg(int fd, struct quic_mmsghdr *msgs, unsigned int vlen, int flags);
/// setns(2): join the namespace behind `fd` (CLONE_NEWNET for a network namespace).
int quic_setns_net(int fd);

/// ppoll(2) with a timeout in nanoseconds (negative: wait indefinitely); poll(2) only has
/// milliseconds, too coarse for the impairment relay's release times.
int quic_ppoll(struct pollfd *fds, unsigned long nfds, int64_t timeout_ns);

/// Pins the calling thread to one CPU (sched_setaffinity with a CPU_SET, both _GNU_SOURCE/macros).
int quic_pin_current_thread(int cpu);

// --- control-message macros ----------------------------------------------------------------
struct cmsghdr *quic_cmsg_firsthdr(struct msghdr *msg);
struct cmsghdr *quic_cmsg_nxthdr(struct msghdr *msg, struct cmsghdr *cmsg);
unsigned char *quic_cmsg_data(struct cmsghdr *cmsg);
size_t quic_cmsg_space(size_t len);
size_t quic_cmsg_len(size_t len);

#endif
