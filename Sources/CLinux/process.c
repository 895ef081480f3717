#define _GNU_SOURCE
#include "CLinux.h"
#include <errno.h>
#include <sched.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

static int network_isolation = -1;

// `sentimentd validate-worker` leaves the host's network before main runs: a network namespace of its own (only a
// loopback interface, down). An unprivileged process needs a user namespace for that, and a user namespace can only
// be entered while the process has a single thread, which is true here and nowhere later (the Swift runtime and
// Dispatch start threads). Under the shipped unit, RestrictNamespaces= refuses both; PrivateNetwork= and
// RestrictAddressFamilies=AF_UNIX keep the whole service off the network instead.
__attribute__((constructor)) static void sentimentd_leave_network_early(int argc, char **argv, char **envp) {
    (void)envp;
    if (argc < 2 || argv == 0 || argv[1] == 0 || strcmp(argv[1], "validate-worker") != 0) return;
    if (unshare(CLONE_NEWNET) == 0 || unshare(CLONE_NEWUSER | CLONE_NEWNET) == 0) {
        network_isolation = 0;
    } else {
        network_isolation = errno;
    }
}

int sentimentd_network_isolation(void) { return network_isolation; }

int sentimentd_thread_id(void) { return (int)syscall(SYS_gettid); }
