// CPU counts that honour affinity and cgroup quotas; trimming weft's cache.
#include <sched.h>
#include <unistd.h>

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include <weft/system.h>

#include "internal/cell_cache.hpp"
#include "internal/map_blocks.hpp"

namespace weft::detail {
namespace {

// CPUs allowed by a cgroup quota, or 0 when there is none or it can't be read.
int cgroup_quota_cpus() noexcept {
    // cgroup v2: "/sys/fs/cgroup/cpu.max" holds "max 100000" or "50000 100000".
    // Find our own group from /proc/self/cgroup ("0::/path").
    char group[400] = "";
    if (FILE *f = std::fopen("/proc/self/cgroup", "re")) {
        char line[400];
        while (std::fgets(line, sizeof line, f)) {
            if (std::strncmp(line, "0::", 3) == 0) {
                std::snprintf(group, sizeof group, "%s", line + 3);
                group[std::strcspn(group, "\n")] = '\0';
                break;
            }
        }
        std::fclose(f);
    }
    const char *candidates[2];
    char own[512];
    std::snprintf(own, sizeof own, "/sys/fs/cgroup%s/cpu.max", group);
    candidates[0] = own;
    candidates[1] = "/sys/fs/cgroup/cpu.max";
    for (const char *path : candidates) {
        if (FILE *f = std::fopen(path, "re")) {
            char quota[32] = "";
            long long period = 0;
            int n = std::fscanf(f, "%31s %lld", quota, &period);
            std::fclose(f);
            if (n == 2 && std::strcmp(quota, "max") != 0 && period > 0) {
                long long q = std::atoll(quota);
                if (q > 0) return static_cast<int>((q + period - 1) / period);
            }
            if (n == 2) return 0;  // "max": no quota at this level
        }
    }
    // cgroup v1.
    long long q = -1, p = 0;
    if (FILE *f = std::fopen("/sys/fs/cgroup/cpu/cpu.cfs_quota_us", "re")) {
        if (std::fscanf(f, "%lld", &q) != 1) q = -1;
        std::fclose(f);
    }
    if (FILE *f = std::fopen("/sys/fs/cgroup/cpu/cpu.cfs_period_us", "re")) {
        if (std::fscanf(f, "%lld", &p) != 1) p = 0;
        std::fclose(f);
    }
    if (q > 0 && p > 0) return static_cast<int>((q + p - 1) / p);
    return 0;
}

}  // namespace
}  // namespace weft::detail

extern "C" {

WEFT_API int weft_cpu_count_online(void) noexcept {
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n > 0 ? static_cast<int>(n) : 1;
}

WEFT_API int weft_cpu_count(void) noexcept {
    int n = 0;
    cpu_set_t set;
    if (sched_getaffinity(0, sizeof set, &set) == 0) n = CPU_COUNT(&set);
    if (n <= 0) n = weft_cpu_count_online();
    int quota = weft::detail::cgroup_quota_cpus();
    if (quota > 0 && quota < n) n = quota;
    return n > 0 ? n : 1;
}

WEFT_API size_t weft_memory_trim(void) noexcept {
    return weft::detail::cells::trim() + weft::detail::map_blocks_trim();
}

}  // extern "C"
