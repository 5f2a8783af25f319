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
//
// The clean paths are inline, not calls into glibc (W1.process, W9): taking
// a free mutex and giving back one the caller holds normally do here exactly
// what glibc's robust paths do, on the same pthread_mutex_t and the same
// per-thread robust list (the kernel ABI: the robust_list_head glibc
// registered, found once per thread with get_robust_list), and leave every
// other case to glibc: a waiter (FUTEX_WAITERS), a dead owner, a
// not-recoverable or inconsistent mutex, a recursive one, a non-holder's
// unlock. So the state is always one glibc itself would have written, and
// glibc's and the inline paths mix freely. A contended lock sleeps in glibc
// at once (see lock_contended). The inline paths are off under TSan (which
// must see glibc's calls) and when the kernel's robust list is not glibc's
// usual one; the cached tid they use is renewed in a child of fork() (not
// of a raw clone or _Fork, after which weft must not be used).
#pragma once

#include <cerrno>
#include <climits>
#include <cstddef>
#include <cstdint>
#include <ctime>

#include <linux/futex.h>
#include <pthread.h>
#include <sched.h>
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

// ---- the calling thread's kernel tid, cached --------------------------------

// initial-exec: one %fs-relative load, no __tls_get_addr call from the .so.
inline thread_local pid_t tl_tid [[gnu::tls_model("initial-exec")]] = 0;

// A forked child's only thread has a new tid while its TLS is a copy: the
// child handler (registered at the first use, never at load time) forgets it.
// (The robust list head stays: the child's thread keeps its TCB address.)
inline void forget_tid_in_child() noexcept { tl_tid = 0; }

[[gnu::cold, gnu::noinline]] inline pid_t find_tid() noexcept {
    static const int registered = pthread_atfork(nullptr, nullptr, forget_tid_in_child);
    (void)registered;
    tl_tid = static_cast<pid_t>(syscall(SYS_gettid));
    return tl_tid;
}

inline pid_t current_tid() noexcept {
    pid_t t = tl_tid;
    return __builtin_expect(t != 0, 1) ? t : find_tid();
}

// ---- the calling thread's robust list (kernel ABI), cached -----------------

// The robust_list_head glibc registered for this thread; kRobustNoHead when
// the inline paths must not be used (no list, or not glibc's layout).
inline thread_local struct robust_list_head *tl_robust_head [[gnu::tls_model("initial-exec")]] = nullptr;
inline struct robust_list_head *const kRobustNoHead = reinterpret_cast<struct robust_list_head *>(1);

// The kernel finds a mutex word at this offset from a list entry, which is
// the address of the mutex's __list.__next (glibc's futex_offset).
inline constexpr long kRobustFutexOffset = static_cast<long>(offsetof(pthread_mutex_t, __data.__lock)) -
                                           static_cast<long>(offsetof(pthread_mutex_t, __data.__list.__next));

[[gnu::cold, gnu::noinline]] inline struct robust_list_head *find_robust_head() noexcept {
    struct robust_list_head *h = nullptr;
    std::size_t len = 0;
    long r = syscall(SYS_get_robust_list, 0, &h, &len);
    if (r != 0 || !h || len != sizeof(struct robust_list_head) || h->futex_offset != kRobustFutexOffset)
        h = kRobustNoHead;
    tl_robust_head = h;
    return h;
}

inline struct robust_list_head *robust_head() noexcept {
    struct robust_list_head *h = tl_robust_head;
    if (__builtin_expect(h == nullptr, 0)) h = find_robust_head();
    return h;
}

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
    // the lock word carries the holder's thread id.
    bool held_by_me() const noexcept {
        int cur = __atomic_load_n(&m.__data.__lock, __ATOMIC_RELAXED);
        return (cur & FUTEX_TID_MASK) == static_cast<int>(current_tid());
    }

    // Take the mutex when it is free and in the normal state, inline; false
    // (nothing changed) otherwise: then glibc's paths decide. Every store is
    // one glibc's robust lock makes, in its order: announce the operation in
    // list_op_pending (a death now is still seen by the kernel), take the
    // word, link the mutex into the robust list, clear the announcement.
    bool try_lock_inline() noexcept {
#ifdef WEFT_ROBUST_TSAN
        return false;
#else
        struct robust_list_head *h = robust_head();
        if (__builtin_expect(h == kRobustNoHead || !inline_kind(), 0)) return false;
        // Read before the compare-and-swap (as glibc does): a held word then
        // costs a shared copy of its line, not taking the line from the holder.
        if (__atomic_load_n(&m.__data.__lock, __ATOMIC_RELAXED) != 0) return false;
        pid_t tid = current_tid();
        auto *entry = reinterpret_cast<struct robust_list *>(&m.__data.__list.__next);
        h->list_op_pending = entry;
        __atomic_signal_fence(__ATOMIC_SEQ_CST);
        int expected = 0;
        if (!__atomic_compare_exchange_n(&m.__data.__lock, &expected, tid, false, __ATOMIC_ACQUIRE,
                                         __ATOMIC_RELAXED)) {
            h->list_op_pending = nullptr;
            return false;
        }
        if (__builtin_expect(m.__data.__owner == kNotRecoverable, 0)) return give_back_not_recoverable(h);
        m.__data.__count = 1;
        // Link at the head of the list (glibc's ENQUEUE_MUTEX). List pointers
        // point at entries' __next; an entry's __prev is the word before it.
        // The head's own __prev slot is glibc's and never read: left alone.
        auto *first = reinterpret_cast<struct robust_list *>(reinterpret_cast<std::uintptr_t>(h->list.next) & ~1ul);
        if (first != &h->list) reinterpret_cast<void **>(first)[-1] = entry;
        m.__data.__list.__next = reinterpret_cast<__pthread_internal_list *>(h->list.next);
        m.__data.__list.__prev = reinterpret_cast<__pthread_internal_list *>(&h->list);
        __atomic_signal_fence(__ATOMIC_SEQ_CST);
        h->list.next = entry;
        __atomic_signal_fence(__ATOMIC_SEQ_CST);
        h->list_op_pending = nullptr;
        m.__data.__owner = tid;
        ++m.__data.__nusers;
        return true;
#endif
    }

    // Give back a mutex the caller holds in the normal state, inline (glibc's
    // robust unlock: announce, unlink, release the word, wake one waiter if
    // the word says there are any); false (nothing changed) otherwise.
    bool unlock_inline() noexcept {
#ifdef WEFT_ROBUST_TSAN
        return false;
#else
        struct robust_list_head *h = robust_head();
        if (__builtin_expect(h == kRobustNoHead || !inline_kind(), 0)) return false;
        int cur = __atomic_load_n(&m.__data.__lock, __ATOMIC_RELAXED);
        if (__builtin_expect((cur & FUTEX_TID_MASK) != current_tid() || m.__data.__owner == kInconsistent, 0))
            return false;
        auto *entry = reinterpret_cast<struct robust_list *>(&m.__data.__list.__next);
        h->list_op_pending = entry;
        __atomic_signal_fence(__ATOMIC_SEQ_CST);
        // Unlink (glibc's DEQUEUE_MUTEX), again leaving the head's __prev alone.
        auto *next = reinterpret_cast<struct robust_list *>(
            reinterpret_cast<std::uintptr_t>(m.__data.__list.__next) & ~1ul);
        auto *prev = reinterpret_cast<struct robust_list *>(
            reinterpret_cast<std::uintptr_t>(m.__data.__list.__prev) & ~1ul);
        if (next != &h->list) reinterpret_cast<void **>(next)[-1] = m.__data.__list.__prev;
        prev->next = reinterpret_cast<struct robust_list *>(m.__data.__list.__next);
        __atomic_signal_fence(__ATOMIC_SEQ_CST);
        m.__data.__list.__prev = nullptr;
        m.__data.__list.__next = nullptr;
        m.__data.__owner = 0;
        --m.__data.__nusers;
        release_word();
        __atomic_signal_fence(__ATOMIC_SEQ_CST);
        h->list_op_pending = nullptr;
        return true;
#endif
    }

    // Lock within `d`: WEFT_OK, WEFT_EOWNERDEAD (held, repair then
    // make_consistent), WEFT_ENOTRECOVERABLE, WEFT_ETIMEDOUT, WEFT_EDEADLK
    // (this thread holds a non-recursive mutex). The uncontended path is
    // one compare-and-swap, no clock read, no call.
    weft_status lock(Deadline &d) noexcept {
        if (__builtin_expect(try_lock_inline(), 1)) return WEFT_OK;
        return lock_contended(d);
    }

    // lock() after its inline attempt failed: a few yields first, then
    // glibc, which waits and answers every unusual state (owner died, not
    // recoverable, the caller holds it). Between the yields the word is tried
    // once each (the inline path): a holder's critical section is usually
    // over by then, and a waiter that never slept leaves FUTEX_WAITERS clear,
    // so the holder's unlock makes no futex call either. Measured in W9 (two
    // processes on two cores): 4 to 16 yields 2.0-2.2x the robust pthread
    // mutex (and 1.6x Boost's spinning interprocess_mutex), against 0.98x
    // when sleeping at once; a spin on the word without yielding (20 or 100
    // reads, or with back-off) measured no better than sleeping (the spinner
    // takes the line from the holder). With more waiters than cores a yield
    // lets the holder run. Bounded: a long hold costs kYields syscalls.
    static constexpr int kYields = 8;
    [[gnu::noinline]] weft_status lock_contended(Deadline &d) noexcept {
        int r;
        if (!d.poll() && inline_usable()) {
            for (int i = 0; i < kYields; i++) {
                sched_yield();
                if (try_lock_inline()) return WEFT_OK;
            }
        }
        if (d.poll() || !inline_usable()) {
            // A poll's answer, or the uncontended path without the inline one.
            r = pthread_mutex_trylock(&m);
            if (r == ENOTRECOVERABLE) give_back_after_notrecoverable();
            if (r != EBUSY || d.poll()) return status_of(r);
        }
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
        if (__builtin_expect(unlock_inline(), 1)) return WEFT_OK;
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
    // glibc's private __owner values of a robust mutex (nptl/pthreadP.h).
    static constexpr int kInconsistent = INT_MAX;
    static constexpr int kNotRecoverable = INT_MAX - 1;

    bool inline_usable() noexcept {
#ifdef WEFT_ROBUST_TSAN
        return false;
#else
        return robust_head() != kRobustNoHead && inline_kind();
#endif
    }

    // The inline paths serve robust normal and error-checking mutexes
    // (PTHREAD_MUTEX_ROBUST_NORMAL_NP = 16, | PTHREAD_MUTEX_ERRORCHECK = 2;
    // the process-shared bit 128 aside); recursive ones count in glibc.
    bool inline_kind() const noexcept {
        int k = __atomic_load_n(&m.__data.__kind, __ATOMIC_RELAXED) & 127;
        return k == (16 | PTHREAD_MUTEX_NORMAL) || k == (16 | PTHREAD_MUTEX_ERRORCHECK);
    }

    // Set the word to 0 and wake one waiter if it had FUTEX_WAITERS (a
    // shared futex: robust mutexes always use those).
    void release_word() noexcept {
        int old = __atomic_exchange_n(&m.__data.__lock, 0, __ATOMIC_RELEASE);
        if (__builtin_expect(static_cast<unsigned>(old) & FUTEX_WAITERS, 0)) wake_one();
    }

    // Out of line, so the inline paths stay small (no registers to save).
    [[gnu::cold, gnu::noinline]] void wake_one() noexcept {
        (void)syscall(SYS_futex, &m.__data.__lock, FUTEX_WAKE, 1, nullptr, nullptr, 0);
    }

    // try_lock_inline took a not-recoverable mutex: give the word back
    // untouched (glibc's lock then answers ENOTRECOVERABLE).
    [[gnu::cold, gnu::noinline]] bool give_back_not_recoverable(struct robust_list_head *h) noexcept {
        release_word();
        __atomic_signal_fence(__ATOMIC_SEQ_CST);
        h->list_op_pending = nullptr;
        return false;
    }

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
