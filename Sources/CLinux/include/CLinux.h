#ifndef SENTIMENTD_CLINUX_H
#define SENTIMENTD_CLINUX_H
// Linux process controls that Swift's Glibc module does not export (they need _GNU_SOURCE), for sentimentd's
// child processes. Swift calls them only through Sources/SentimentService/Daemon/ProcessLimits.swift.

/// What leaving the network did for `sentimentd validate-worker`, which leaves it at process start (see
/// process.c): 0 when the process is in a network namespace of its own, else the errno of the last attempt;
/// -1 when this process is not a validation worker.
int sentimentd_network_isolation(void);

/// The calling thread's id (its directory under /proc/self/task).
int sentimentd_thread_id(void);
#endif
