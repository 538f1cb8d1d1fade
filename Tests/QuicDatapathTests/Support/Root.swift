import Glibc

/// Real-kernel tests need root (namespaces, XDP, AF_XDP, BPF_PROG_TEST_RUN); without it they
/// report themselves skipped with this reason.
let isRoot = geteuid() == 0
let rootReason: Comment = "needs root: creates network namespaces, loads XDP programs and AF_XDP sockets"

import Testing
