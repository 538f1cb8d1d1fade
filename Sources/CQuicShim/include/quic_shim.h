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
