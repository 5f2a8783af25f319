/**
 * @file system.h
 * @brief Facts about the machine the program runs on, and the memory weft keeps.
 * @since 0.1
 */
#ifndef WEFT_SYSTEM_H
#define WEFT_SYSTEM_H

#include "common.h"

WEFT_BEGIN_DECLS

/**
 * Number of CPUs this process may actually use: the CPUs in its affinity
 * mask, further limited by a cgroup CPU quota (cgroup v2 `cpu.max`, or v1
 * `cpu.cfs_quota_us / cpu.cfs_period_us`, rounded up). This is what a pool
 * should size itself by; Python's `os.process_cpu_count()` counts the same
 * way but ignores quotas.
 * @return at least 1. Read afresh on each call (affinity may change).
 * @since 0.1
 */
WEFT_API int weft_cpu_count(void) WEFT_NOEXCEPT;

/**
 * Number of CPUs configured in the machine, ignoring affinity and quotas
 * (Python's `os.cpu_count()`).
 * @return at least 1.
 * @since 0.1
 */
WEFT_API int weft_cpu_count_online(void) WEFT_NOEXCEPT;

/**
 * Give back to the system the memory weft keeps for reuse (glibc's
 * `malloc_trim()` for weft's own cache).
 *
 * Futures and thread-pool queue nodes come from a process-wide cache of
 * 64 KiB blocks that keeps its peak size: a program that once held a million
 * futures keeps about 64 MB for the next burst, so that burst pays no page
 * faults. Call this when the bursts are over, or before forking many
 * children (fork() copies the page tables of all that memory). It frees
 * every block with no live object in it; objects still alive, and the few
 * cells other threads keep at hand (at most 128 per thread), keep theirs.
 * It walks every cached object (0.1 s per million on a small VM). It also
 * frees the blocks process-pool maps keep for their next chunks (at most
 * 64 MB: a chunk's packed arguments and its results' block, once the caller
 * freed those results). Safe to call from any thread at any time; the caches
 * refill as needed. Under AddressSanitizer futures are not cached (only map
 * blocks are).
 * @return the bytes given back.
 * @since 0.3
 */
WEFT_API size_t weft_memory_trim(void) WEFT_NOEXCEPT;

WEFT_END_DECLS

#endif /* WEFT_SYSTEM_H */
