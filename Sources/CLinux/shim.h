#ifndef SENTIMENTD_CLINUX_SHIM_H
#define SENTIMENTD_CLINUX_SHIM_H
// Linux calls that Swift's Glibc module does not export (they need _GNU_SOURCE). Swift calls them only through
// Sources/SentimentService/Registry/ValidationSandbox.swift.
#define _GNU_SOURCE
#include <sched.h>
#include <errno.h>
#include <unistd.h>
#include <sys/syscall.h>

/// Leaves the host's network: a new network namespace (only a loopback interface, down). Unprivileged
/// processes need a user namespace for that, so one is made first when plain CLONE_NEWNET is refused.
/// Returns 0 on success, else the errno of the last attempt (EPERM under systemd's RestrictNamespaces=).
static inline int sentimentd_leave_network(void) {
    if (unshare(CLONE_NEWNET) == 0) return 0;
    if (unshare(CLONE_NEWUSER | CLONE_NEWNET) == 0) return 0;
    return errno;
}

/// The calling thread's id (its directory under /proc/self/task).
static inline int sentimentd_thread_id(void) { return (int)syscall(SYS_gettid); }
#endif
