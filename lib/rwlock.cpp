// RWLock: a writer-preferring reader/writer lock over one state word.
//
// State word:
//   bits 0..28  READERS   how many readers hold the lock
//   bit 29      R_PARKED  readers may sleep on `rseq`; whoever lets them in wakes them
//   bit 30      W_LOCKED  a writer holds the lock
//   bit 31      W_WAITING at least one writer waits (new readers stay out)
//
// Uncontended paths are one compare-and-swap. Writers that must wait
// register under an internal WordLock (`m`), which keeps W_WAITING equal to
// "waiting_writers > 0"; only they change W_WAITING. Readers sleep on `rseq`,
// writers on `wseq`: a waker changes the state word first and bumps the
// sequence word after, a sleeper reads the sequence word first and the state
// word after, so no wake-up is lost.
#include <new>

#include <weft/rwlock.h>

#include "internal/boundary.hpp"
#include "internal/deadline.hpp"
#include "internal/futex.hpp"
#include "internal/handle.hpp"
#include "internal/word_lock.hpp"

namespace weft::detail {

class RwWord {
public:
    static constexpr std::uint32_t READERS = WEFT_RWLOCK_MAX_READERS;
    static constexpr std::uint32_t R_PARKED = 1u << 29;
    static constexpr std::uint32_t W_LOCKED = 1u << 30;
    static constexpr std::uint32_t W_WAITING = 1u << 31;
    static constexpr int kSpins = 64;

    weft_status read_lock(Deadline &d) noexcept {
        std::uint32_t s = st_.load(std::memory_order_relaxed);
        if (__builtin_expect(!(s & (W_LOCKED | W_WAITING)) && (s & READERS) != READERS, 1) &&
            st_.compare_exchange_weak(s, s + 1, std::memory_order_acquire, std::memory_order_relaxed))
            return WEFT_OK;
        return read_lock_slow(d);
    }

    // WEFT_OK, or WEFT_ESTATE when no reader holds it.
    weft_status read_unlock() noexcept {
        std::uint32_t s = st_.load(std::memory_order_relaxed);
        do {
            if ((s & READERS) == 0) return WEFT_ESTATE;
        } while (!st_.compare_exchange_weak(s, s - 1, std::memory_order_release, std::memory_order_relaxed));
        if (__builtin_expect((s & READERS) == 1 && (s & W_WAITING), 0)) wake_writer();
        return WEFT_OK;
    }

    weft_status write_lock(Deadline &d) noexcept {
        std::uint32_t expect = 0;
        if (__builtin_expect(st_.compare_exchange_strong(expect, W_LOCKED, std::memory_order_acquire,
                                                         std::memory_order_relaxed),
                             1))
            return WEFT_OK;
        return write_lock_slow(d);
    }

    // WEFT_OK, or WEFT_ESTATE when not write-locked.
    weft_status write_unlock() noexcept {
        std::uint32_t expect = W_LOCKED;
        if (__builtin_expect(st_.compare_exchange_strong(expect, 0, std::memory_order_release,
                                                         std::memory_order_relaxed),
                             1))
            return WEFT_OK;
        return write_unlock_slow();
    }

private:
    weft_status read_lock_slow(Deadline &d) noexcept;
    weft_status write_lock_slow(Deadline &d) noexcept;
    weft_status write_unlock_slow() noexcept;
    weft_status writer_gives_up() noexcept;  // m held

    void wake_writer() noexcept {
        wseq_.fetch_add(1, std::memory_order_seq_cst);
        futex::wake(&wseq_, 1);
    }
    void wake_readers() noexcept {
        rseq_.fetch_add(1, std::memory_order_seq_cst);
        futex::wake_all(&rseq_);
    }

    std::atomic<std::uint32_t> st_{0};
    std::atomic<std::uint32_t> rseq_{0};
    std::atomic<std::uint32_t> wseq_{0};
    WordLock m_;                       // guards waiting_writers_ and W_WAITING changes
    std::uint32_t waiting_writers_ = 0;
};

inline weft_status RwWord::read_lock_slow(Deadline &d) noexcept {
    int spins = 0;
    for (;;) {
        std::uint32_t s = st_.load(std::memory_order_seq_cst);
        if (!(s & (W_LOCKED | W_WAITING))) {
            if ((s & READERS) == READERS) return WEFT_EOVERFLOW;
            if (st_.compare_exchange_weak(s, s + 1, std::memory_order_acquire, std::memory_order_relaxed))
                return WEFT_OK;
            continue;
        }
        if (d.poll()) return WEFT_ETIMEDOUT;
        if (spins < kSpins) {
            ++spins;
            futex::cpu_relax();
            continue;
        }
        if (d.expired()) return WEFT_ETIMEDOUT;
        std::uint32_t v = rseq_.load(std::memory_order_seq_cst);
        if (!(s & R_PARKED)) {
            if (!st_.compare_exchange_strong(s, s | R_PARKED, std::memory_order_seq_cst, std::memory_order_relaxed))
                continue;
        } else if (st_.load(std::memory_order_seq_cst) != s) {
            continue;
        }
        (void)futex::wait(&rseq_, v, d.abs());
    }
}

inline weft_status RwWord::write_lock_slow(Deadline &d) noexcept {
    // Brief spin while nobody waits: short read sections end quickly.
    for (int i = 0; i < kSpins; ++i) {
        std::uint32_t s = st_.load(std::memory_order_relaxed);
        if (!(s & (READERS | W_LOCKED))) {
            if (st_.compare_exchange_weak(s, s | W_LOCKED, std::memory_order_acquire, std::memory_order_relaxed))
                return WEFT_OK;
            continue;
        }
        if (d.poll() || (s & W_WAITING)) break;
        futex::cpu_relax();
    }
    if (d.poll()) return WEFT_ETIMEDOUT;

    m_.lock_forever();
    if (++waiting_writers_ == 1) st_.fetch_or(W_WAITING, std::memory_order_seq_cst);
    for (;;) {
        std::uint32_t v = wseq_.load(std::memory_order_seq_cst);
        std::uint32_t s = st_.load(std::memory_order_seq_cst);
        if (!(s & (READERS | W_LOCKED))) {
            std::uint32_t want = s | W_LOCKED;
            if (waiting_writers_ == 1) want &= ~W_WAITING;
            if (st_.compare_exchange_strong(s, want, std::memory_order_acquire, std::memory_order_relaxed)) {
                --waiting_writers_;
                m_.unlock();
                return WEFT_OK;
            }
            continue;
        }
        if (d.expired()) return writer_gives_up();
        m_.unlock();
        (void)futex::wait(&wseq_, v, d.abs());
        m_.lock_forever();
    }
}

// A waiting writer timed out (m held; released here). If it was the last
// one, the readers it held back may enter: clear W_WAITING and wake them.
// Otherwise pass on a wake-up it may have swallowed to another writer.
inline weft_status RwWord::writer_gives_up() noexcept {
    bool wake_r = false;
    if (--waiting_writers_ == 0) {
        std::uint32_t s = st_.load(std::memory_order_relaxed);
        std::uint32_t want;
        do {
            want = s & ~W_WAITING;
            wake_r = (s & R_PARKED) && !(s & W_LOCKED);
            if (wake_r) want &= ~R_PARKED;
        } while (!st_.compare_exchange_weak(s, want, std::memory_order_seq_cst, std::memory_order_relaxed));
        m_.unlock();
        if (wake_r) wake_readers();
    } else {
        m_.unlock();
        wake_writer();
    }
    return WEFT_ETIMEDOUT;
}

inline weft_status RwWord::write_unlock_slow() noexcept {
    std::uint32_t s = st_.load(std::memory_order_relaxed);
    std::uint32_t want;
    bool wake_r;
    do {
        if (!(s & W_LOCKED)) return WEFT_ESTATE;
        want = s & ~W_LOCKED;
        // Writers first; readers only when no writer waits.
        wake_r = !(s & W_WAITING) && (s & R_PARKED);
        if (wake_r) want &= ~R_PARKED;
    } while (!st_.compare_exchange_weak(s, want, std::memory_order_seq_cst, std::memory_order_relaxed));
    if (s & W_WAITING) wake_writer();
    if (wake_r) wake_readers();
    return WEFT_OK;
}

}  // namespace weft::detail

struct weft_rwlock : weft::detail::Handle<weft::detail::Magic::rwlock> {
    weft::detail::RwWord word;
};

using namespace weft::detail;

extern "C" {

WEFT_API weft_status weft_rwlock_create(weft_rwlock **out, const weft_rwlock_options *opts) noexcept {
    if (!out) return null_arg("weft_rwlock_create", "out");
    *out = nullptr;
    if (weft_status s = check_version("weft_rwlock_create", opts, WEFT_RWLOCK_OPTIONS_VERSION)) return s;
    if (opts && opts->flags != 0)
        return fail(WEFT_EINVAL, "weft_rwlock_create: opts->flags is %#x; no flags are defined", opts->flags);
    weft_rwlock *l = new (std::nothrow) weft_rwlock;
    if (!l) return fail(WEFT_ENOMEM, "weft_rwlock_create: out of memory");
    *out = l;
    return WEFT_OK;
}

WEFT_API void weft_rwlock_destroy(weft_rwlock *l) noexcept {
    destroy_handle(l);
}

WEFT_API weft_status weft_rwlock_read_acquire(weft_rwlock *l, int64_t timeout_ns) noexcept {
    WEFT_CHECK_HANDLE("weft_rwlock_read_acquire", l);
    WEFT_CHECK_TIMEOUT("weft_rwlock_read_acquire", timeout_ns);
    Deadline d(timeout_ns);
    weft_status s = l->word.read_lock(d);
    if (__builtin_expect(s == WEFT_EOVERFLOW, 0))
        return fail(WEFT_EOVERFLOW, "weft_rwlock_read_acquire: %u readers hold the lock (%p) already",
                    WEFT_RWLOCK_MAX_READERS, static_cast<void *>(l));
    return s;
}

WEFT_API weft_status weft_rwlock_read_release(weft_rwlock *l) noexcept {
    WEFT_CHECK_HANDLE("weft_rwlock_read_release", l);
    if (l->word.read_unlock() != WEFT_OK)
        return fail(WEFT_ESTATE, "weft_rwlock_read_release: no reader holds the lock (%p)", static_cast<void *>(l));
    return WEFT_OK;
}

WEFT_API weft_status weft_rwlock_write_acquire(weft_rwlock *l, int64_t timeout_ns) noexcept {
    WEFT_CHECK_HANDLE("weft_rwlock_write_acquire", l);
    WEFT_CHECK_TIMEOUT("weft_rwlock_write_acquire", timeout_ns);
    Deadline d(timeout_ns);
    return l->word.write_lock(d);
}

WEFT_API weft_status weft_rwlock_write_release(weft_rwlock *l) noexcept {
    WEFT_CHECK_HANDLE("weft_rwlock_write_release", l);
    if (l->word.write_unlock() != WEFT_OK)
        return fail(WEFT_ESTATE, "weft_rwlock_write_release: the lock (%p) is not write-locked",
                    static_cast<void *>(l));
    return WEFT_OK;
}

}  // extern "C"
