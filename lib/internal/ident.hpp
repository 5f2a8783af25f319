// Thread identity shared by every concept: weft's ident (a process-unique,
// never reused number starting at 1, Python's threading.get_ident()) and the
// kernel's thread id (threading.get_native_id()). Both are cached per thread,
// so reading them costs one TLS load after the first call.
#pragma once

#include <atomic>
#include <cstdint>

#include <sys/syscall.h>
#include <unistd.h>

namespace weft::detail {

inline std::uint64_t next_ident() noexcept {
    static std::atomic<std::uint64_t> counter{0};
    return counter.fetch_add(1, std::memory_order_relaxed) + 1;
}

// weft ident of the calling thread; never 0.
inline std::uint64_t current_ident() noexcept {
    static thread_local std::uint64_t id = 0;
    if (__builtin_expect(id == 0, 0)) id = next_ident();
    return id;
}

// Kernel thread id (gettid) of the calling thread. Not cached: a forked
// child's thread has a new tid while TLS is copied.
inline std::int64_t current_native_id() noexcept { return static_cast<std::int64_t>(syscall(SYS_gettid)); }

}  // namespace weft::detail
