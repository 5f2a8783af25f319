// A robust, process-shared pthread mutex living inside a shared memory
// payload: the lock of every process-scope object that must survive the
// death of a holder (Lock, RLock, the queue's and the dict's own locks, the
// lock of a shared Value/Array).
//
// When a holder dies (process or thread), the kernel marks the mutex and
// the next locker gets it with WEFT_EOWNERDEAD: it owns it, the protected
// state may be half-updated, and it must call make_consistent() after
// repairing (or unlock without doing so, which leaves the mutex
// WEFT_ENOTRECOVERABLE for everyone). Objects whose own code can repair its
// state (a queue whose indices are committed last) do it at once and never
// show the code to their callers.
//
// Waits use pthread_mutex_clocklock on CLOCK_MONOTONIC, like every weft
// timeout.
#pragma once

#include <cerrno>
#include <cstdint>
#include <ctime>

#include <pthread.h>

#include <weft/error.h>

#include "deadline.hpp"

namespace weft::detail {

struct RobustMutex {
    pthread_mutex_t m;

    // Initialize in place in a fresh shared payload. Returns an errno value.
    int init(bool recursive = false) noexcept {
        pthread_mutexattr_t a;
        int r = pthread_mutexattr_init(&a);
        if (r) return r;
        r = pthread_mutexattr_setpshared(&a, PTHREAD_PROCESS_SHARED);
        if (!r) r = pthread_mutexattr_setrobust(&a, PTHREAD_MUTEX_ROBUST);
        if (!r && recursive) r = pthread_mutexattr_settype(&a, PTHREAD_MUTEX_RECURSIVE);
        if (!r && !recursive) r = pthread_mutexattr_settype(&a, PTHREAD_MUTEX_ERRORCHECK);
        if (!r) r = pthread_mutex_init(&m, &a);
        pthread_mutexattr_destroy(&a);
        return r;
    }

    // Map a pthread lock result to weft's codes.
    static weft_status status_of(int r) noexcept {
        switch (r) {
        case 0: return WEFT_OK;
        case EOWNERDEAD: return WEFT_EOWNERDEAD;
        case ENOTRECOVERABLE: return WEFT_ENOTRECOVERABLE;
        case ETIMEDOUT:
        case EBUSY: return WEFT_ETIMEDOUT;
        case EDEADLK: return WEFT_EDEADLK;
        case EAGAIN: return WEFT_EOVERFLOW;  // recursion count
        default: return WEFT_ESYS;
        }
    }

    // Lock within `d`: WEFT_OK, WEFT_EOWNERDEAD (held, repair then
    // make_consistent), WEFT_ENOTRECOVERABLE, WEFT_ETIMEDOUT, WEFT_EDEADLK
    // (this thread holds a non-recursive mutex). The uncontended path is
    // one trylock, no clock read.
    weft_status lock(Deadline &d) noexcept {
        int r = pthread_mutex_trylock(&m);
        if (__builtin_expect(r == 0, 1)) return WEFT_OK;
        if (r != EBUSY || d.poll()) return status_of(r);
        if (d.infinite()) {
            r = pthread_mutex_lock(&m);
        } else {
            std::int64_t abs = d.abs();
            struct timespec ts;
            ts.tv_sec = static_cast<time_t>(abs / 1000000000);
            ts.tv_nsec = static_cast<long>(abs % 1000000000);
            r = pthread_mutex_clocklock(&m, CLOCK_MONOTONIC, &ts);
        }
        return status_of(r);
    }

    weft_status lock_forever() noexcept {
        Deadline d = Deadline::forever();
        return lock(d);
    }

    // WEFT_OK, or WEFT_EPERM when this thread does not hold it.
    weft_status unlock() noexcept {
        int r = pthread_mutex_unlock(&m);
        return r == 0 ? WEFT_OK : (r == EPERM ? WEFT_EPERM : WEFT_ESYS);
    }

    // After WEFT_EOWNERDEAD and a repair: the mutex is normal again.
    // WEFT_EINVAL when it was not in the owner-died state or not held.
    weft_status make_consistent() noexcept {
        return pthread_mutex_consistent(&m) == 0 ? WEFT_OK : WEFT_EINVAL;
    }
};

}  // namespace weft::detail
