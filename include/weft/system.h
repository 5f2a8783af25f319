/**
 * @file system.h
 * @brief Facts about the machine the program runs on.
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

WEFT_END_DECLS

#endif /* WEFT_SYSTEM_H */
