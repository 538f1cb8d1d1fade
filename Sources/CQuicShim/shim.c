#define _GNU_SOURCE
#include "quic_shim.h"
#include <sched.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/x509.h>

_Static_assert(sizeof(struct quic_mmsghdr) == sizeof(struct mmsghdr), "mmsghdr layout");
_Static_assert(offsetof(struct quic_mmsghdr, msg_len) == offsetof(struct mmsghdr, msg_len), "mmsghdr layout");

void quic_openssl_free(void *ptr) { OPENSSL_free(ptr); }

int quic_evp_pkey_selection_public_key(void) { return EVP_PKEY_PUBLIC_KEY; }
int quic_evp_pkey_selection_keypair(void) { return EVP_PKEY_KEYPAIR; }

struct stack_st_X509 *quic_x509_stack_new(void) { return sk_X509_new_null(); }
int quic_x509_stack_push(struct stack_st_X509 *stack, struct x509_st *certificate) {
    return sk_X509_push(stack, certificate);
}
void quic_x509_stack_free(struct stack_st_X509 *stack) { sk_X509_pop_free(stack, X509_free); }

int quic_recvmmsg(int fd, struct quic_mmsghdr *msgs, unsigned int vlen, int flags) {
    return recvmmsg(fd, (struct mmsghdr *)msgs, vlen, flags, NULL);
}

int quic_sendmmsg(int fd, struct quic_mmsghdr *msgs, unsigned int vlen, int flags) {
    return sendmmsg(fd, (struct mmsghdr *)msgs, vlen, flags);
}

int quic_ppoll(struct pollfd *fds, unsigned long nfds, int64_t timeout_ns) {
    if (timeout_ns < 0) return ppoll(fds, nfds, NULL, NULL);
    struct timespec timeout = {.tv_sec = timeout_ns / 1000000000, .tv_nsec = timeout_ns % 1000000000};
    return ppoll(fds, nfds, &timeout, NULL);
}

int quic_setns_net(int fd) { return setns(fd, CLONE_NEWNET); }

int quic_pin_current_thread(int cpu) {
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(cpu, &set);
    return sched_setaffinity(0, sizeof(set), &set);
}

struct cmsghdr *quic_cmsg_firsthdr(struct msghdr *msg) { return CMSG_FIRSTHDR(msg); }
struct cmsghdr *quic_cmsg_nxthdr(struct msghdr *msg, struct cmsghdr *cmsg) { return CMSG_NXTHDR(msg, cmsg); }
unsigned char *quic_cmsg_data(struct cmsghdr *cmsg) { return CMSG_DATA(cmsg); }
size_t quic_cmsg_space(size_t len) { return CMSG_SPACE(len); }
size_t quic_cmsg_len(size_t len) { return CMSG_LEN(len); }
