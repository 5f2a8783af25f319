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
//
// Three fixes around glibc 2.36 and GCC 12's TSan (found by the shared dict's
// tests):
// 1. pthread_mutex_trylock answers ENOTRECOVERABLE but leaves the lock word
//    held by the caller (it gives it back only when the caller already held
//    it). The caller's next lock of a recursive mutex then succeeds and every
//    other process blocks instead of hearing ENOTRECOVERABLE. lock() gives
//    the word back. (pthread_mutex_lock and clocklock are right.)
// 2. TSan does not intercept pthread_mutex_clocklock: the lock taken there
//    looks unlocked to it. The call is annotated as a try-lock.
// 3. Under TSan an unlock by a non-holder is answered with WEFT_EPERM before
//    pthread_mutex_unlock runs (TSan reports that call as misuse; glibc
//    answers EPERM itself otherwise). make_consistent() checks the holder,
//    which glibc's pthread_mutex_consistent does not.
#pragma once

#include <cerrno>
#include <climits>
#include <cstdint>
#include <ctime>

#include <linux/futex.h>
#include <pthread.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <weft/error.h>

#include "deadline.hpp"

#if defined(__SANITIZE_THREAD__)
#include <sanitizer/tsan_interface.h>
#define WEFT_ROBUST_TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#include <sanitizer/tsan_interface.h>
#define WEFT_ROBUST_TSAN 1
#endif
#endif

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

    // Whether this thread holds the mutex (also in the owner-died state):
    // the lock word carries the holder's thread id. A system call (gettid):
    // keep it off hot paths.
    bool held_by_me() const noexcept {
        int cur = __atomic_load_n(&m.__data.__lock, __ATOMIC_RELAXED);
        return (cur & FUTEX_TID_MASK) == static_cast<int>(gettid());
    }

    // Lock within `d`: WEFT_OK, WEFT_EOWNERDEAD (held, repair then
    // make_consistent), WEFT_ENOTRECOVERABLE, WEFT_ETIMEDOUT, WEFT_EDEADLK
    // (this thread holds a non-recursive mutex). The uncontended path is
    // one trylock, no clock read.
    weft_status lock(Deadline &d) noexcept {
        int r = pthread_mutex_trylock(&m);
        if (__builtin_expect(r == 0, 1)) return WEFT_OK;
        if (r == ENOTRECOVERABLE) give_back_after_notrecoverable();
        if (r != EBUSY || d.poll()) return status_of(r);
        if (d.infinite()) {
            r = pthread_mutex_lock(&m);
        } else {
            std::int64_t abs = d.abs();
            struct timespec ts;
            ts.tv_sec = static_cast<time_t>(abs / 1000000000);
            ts.tv_nsec = static_cast<long>(abs % 1000000000);
#ifdef WEFT_ROBUST_TSAN
            __tsan_mutex_pre_lock(&m, __tsan_mutex_try_lock);
#endif
            r = pthread_mutex_clocklock(&m, CLOCK_MONOTONIC, &ts);
#ifdef WEFT_ROBUST_TSAN
            __tsan_mutex_post_lock(
                &m, __tsan_mutex_try_lock | ((r == 0 || r == EOWNERDEAD) ? 0u : __tsan_mutex_try_lock_failed), 0);
#endif
        }
        return status_of(r);
    }

    weft_status lock_forever() noexcept {
        Deadline d = Deadline::forever();
        return lock(d);
    }

    // WEFT_OK, or WEFT_EPERM when this thread does not hold it.
    weft_status unlock() noexcept {
#ifdef WEFT_ROBUST_TSAN
        if (!held_by_me()) return WEFT_EPERM;
#endif
        int r = pthread_mutex_unlock(&m);
        return r == 0 ? WEFT_OK : (r == EPERM ? WEFT_EPERM : WEFT_ESYS);
    }

    // After WEFT_EOWNERDEAD and a repair, by the holder: the mutex is
    // normal again. WEFT_EINVAL when it was not in the owner-died state or
    // this thread does not hold it.
    weft_status make_consistent() noexcept {
        if (!held_by_me()) return WEFT_EINVAL;
        return pthread_mutex_consistent(&m) == 0 ? WEFT_OK : WEFT_EINVAL;
    }

private:
    // Fix 1 above: give back a lock word glibc's trylock left held.
    void give_back_after_notrecoverable() noexcept {
        int *word = &m.__data.__lock;
        if (!held_by_me()) return;
        int old = __atomic_exchange_n(word, 0, __ATOMIC_RELEASE);
        if (static_cast<unsigned>(old) & FUTEX_WAITERS)
            (void)syscall(SYS_futex, word, FUTEX_WAKE, INT_MAX, nullptr, nullptr, 0);
    }
};

}  // namespace weft::detail
