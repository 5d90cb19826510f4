#ifndef POS_WORKER_SUPPORT_H
#define POS_WORKER_SUPPORT_H

#include <stdint.h>

/**
 * Confines the calling (worker) process before it loads a plugin: no new privileges, killed
 * when its parent dies, no core dumps, no file descriptors above `keep_fd`, and the optional
 * limits (0 = none): address space in bytes (RLIMIT_AS) and CPU seconds (RLIMIT_CPU).
 * Returns 0, or a negative errno naming the step that failed. Written in C because prctl is
 * variadic and cannot be called from Swift.
 */
int pos_worker_confine(int keep_fd, uint64_t address_space_bytes, uint64_t cpu_seconds);

#endif
