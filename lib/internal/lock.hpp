// The lock's object and the process-scope half shared by lock.cpp,
// rlock.cpp and condition.cpp.
//
// A thread-scope weft_lock is a WordLock inline in the handle (one CAS to
// take, one to give back). A process-scope one is a RobustMutex in a shared
// segment; the handle points at it (`robust`), and the fast path of every
// entry is one test of that pointer, predicted "thread scope".
//
// Ownership in process scope: a robust mutex belongs to the thread that took
// it (the kernel's robust-futex protocol keeps that thread's kernel tid in
// the mutex word, and reports the owner's death through it). So "does the
// caller hold it" is `holder_tid(m) == current_tid()`, without a system call.
#pragma once

#include <climits>
#include <cstdint>

#include <linux/futex.h>
#include <pthread.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <weft/lock.h>

#include "error.hpp"
#include "handle.hpp"
#include "robust_mutex.hpp"
#include "shm.hpp"
#include "word_lock.hpp"

namespace weft::detail {

// The calling thread's kernel tid, cached: current_tid() (robust_mutex.hpp).

// ---- robust mutex state, read without taking it ------------------------------

// The kernel tid in the robust mutex word (the robust-futex ABI: glibc keeps
// the owner's tid there, the kernel clears it and sets FUTEX_OWNER_DIED when
// the owner dies); 0 when nobody holds it.
inline pid_t holder_tid(const RobustMutex &m) noexcept {
    return static_cast<pid_t>(__atomic_load_n(&m.m.__data.__lock, __ATOMIC_RELAXED) & FUTEX_TID_MASK);
}

inline bool held_by_caller(const RobustMutex &m) noexcept { return holder_tid(m) == current_tid(); }

// ---- payloads ------------------------------------------------------------

// A named or anonymous process-scope Lock (shm::Kind::lock).
struct LockPayload {
    RobustMutex m;
};
inline constexpr std::uint32_t kLockLayout = 1;

// Initialize a fresh payload mutex; a WEFT_* code naming `func`.
inline weft_status init_robust(const char *func, RobustMutex &m, bool recursive = false) noexcept {
    int r = m.init(recursive);
    if (r != 0) return fail_sys(WEFT_ESYS, r, "%s: cannot initialize the process-shared mutex", func);
    return WEFT_OK;
}

// Take a process-scope mutex within `timeout_ns`, with the error detail
// every caller wants. `what` names the object for messages ("lock", "rlock").
// WEFT_OK; WEFT_EOWNERDEAD (held: the previous holder died);
// WEFT_ENOTRECOVERABLE; WEFT_ETIMEDOUT; WEFT_EDEADLK (the caller holds it).
weft_status robust_acquire(const char *func, const void *handle, RobustMutex &m, Deadline &d) noexcept;

// Release a process-scope mutex the caller holds (checked first): WEFT_OK;
// WEFT_ESTATE when nobody holds it; WEFT_EPERM when another thread does.
weft_status robust_release(const char *func, const void *handle, RobustMutex &m) noexcept;

// After WEFT_EOWNERDEAD and a repair: WEFT_OK, or WEFT_ESTATE when the
// caller does not hold it or it is not in the owner-died state.
weft_status robust_mark_consistent(const char *func, const void *handle, RobustMutex &m) noexcept;

}  // namespace weft::detail

struct weft_lock : weft::detail::Handle<weft::detail::Magic::lock> {
    weft::detail::WordLock word;                // thread scope
    weft::detail::RobustMutex *robust = nullptr;  // process scope: the mutex in shared memory
    weft::detail::shm::Segment *seg = nullptr;  // the segment this handle maps (NULL for thread
                                                // scope and for a condition's own lock)
};

namespace weft::detail {

// A handle over a mutex that lives in another object's segment (a
// process-scope condition's own lock); the caller keeps the mapping alive.
weft_lock *make_borrowed_lock(RobustMutex *m) noexcept;

}  // namespace weft::detail
