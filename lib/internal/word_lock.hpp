// WordLock: a one-word futex lock (yielding a few times before it parks) with a starvation
// hand-off. It is the engine of weft_lock and the internal lock of every
// other primitive. It holds no pointer, so it works in shared memory too
// (construct it there and pass shared = true).
//
// State bits of the word:
//   LOCKED   the lock is held (or being handed to a woken waiter)
//   PARKED   some thread may be asleep on the futex; unlock must wake one
//   HANDOFF  unlock passed ownership to whichever woken waiter claims it
//   STARVING a waiter has waited > kStarveNs; unlock hands off instead of
//            releasing, so a thread that re-locks in a loop cannot keep
//            the lock forever (Go's sync.Mutex starvation mode, reduced).
//
// Uncontended lock and unlock are one compare-and-swap each.
#pragma once

#include <atomic>
#include <cstdint>

#include <sched.h>

#include "deadline.hpp"
#include "futex.hpp"

namespace weft::detail {

class WordLock {
public:
    static constexpr std::uint32_t LOCKED = 1, PARKED = 2, HANDOFF = 4, STARVING = 8;
    // Spins before parking. Measured on the 2-vCPU machines we run on: any
    // spin lost (W2: 100 spins gave 0.6x GMutex's contended throughput, none
    // 0.9-1.0x; W4's pool went 0.4x -> 0.6-0.9x libuv): a spinner pulls the
    // lock's cache line from the owner, and a parked waiter does not. The
    // loop stays for machines where a spin pays; raise this after measuring.
    static constexpr int kSpins = 0;
    // Yields before parking, trying the word after each: unlike a spin, a
    // yielding waiter leaves the line to the owner, and one that never
    // parked leaves PARKED clear, so the owner's unlock makes no futex call.
    // W2: 8 yields 1.73x GMutex's contended throughput (none: 0.93x), min
    // share 45% (none: 36%); W1, W3, W4, W5, W8 unchanged.
    static constexpr int kYields = 8;
    static constexpr std::int64_t kStarveNs = 1000000;  // 1 ms

    bool try_lock() noexcept {
        std::uint32_t s = word_.load(std::memory_order_relaxed);
        while (!(s & LOCKED)) {
            if (word_.compare_exchange_weak(s, s | LOCKED, std::memory_order_acquire, std::memory_order_relaxed))
                return true;
        }
        return false;
    }

    // WEFT_OK or WEFT_ETIMEDOUT. The public entry: the deadline is only made
    // when the lock is contended, so the uncontended path is one CAS.
    weft_status lock_within(std::int64_t timeout_ns, bool shared = false) noexcept {
        std::uint32_t expect = 0;
        if (__builtin_expect(word_.compare_exchange_strong(expect, LOCKED, std::memory_order_acquire,
                                                           std::memory_order_relaxed), 1))
            return WEFT_OK;
        return lock_slow_within(timeout_ns, shared);
    }

    // WEFT_OK or WEFT_ETIMEDOUT.
    weft_status lock(Deadline &deadline, bool shared = false) noexcept {
        std::uint32_t expect = 0;
        if (__builtin_expect(word_.compare_exchange_strong(expect, LOCKED, std::memory_order_acquire,
                                                           std::memory_order_relaxed), 1))
            return WEFT_OK;
        return lock_slow(deadline, shared);
    }

    void lock_forever(bool shared = false) noexcept {
        Deadline d = Deadline::forever();
        (void)lock(d, shared);
    }

    // Release; false (and nothing changed) when the lock was not held.
    bool unlock(bool shared = false) noexcept {
        std::uint32_t expect = LOCKED;
        if (__builtin_expect(word_.compare_exchange_strong(expect, 0, std::memory_order_release,
                                                           std::memory_order_relaxed), 1))
            return true;
        return unlock_slow(shared);
    }

    bool locked() const noexcept { return word_.load(std::memory_order_relaxed) & LOCKED; }

private:
    [[gnu::noinline]] weft_status lock_slow_within(std::int64_t timeout_ns, bool shared) noexcept {
        Deadline d(timeout_ns);
        return lock_slow(d, shared);
    }
    [[gnu::noinline]] weft_status lock_slow(Deadline &deadline, bool shared) noexcept {
        int spins = 0, yields = 0;
        bool parked_once = false;  // after sleeping, assume others sleep too
        bool i_set_starving = false;
        std::int64_t wait_start = 0;
        std::uint32_t s = word_.load(std::memory_order_relaxed);
        for (;;) {
            if (!(s & LOCKED)) {
                std::uint32_t want = s | LOCKED | (parked_once ? PARKED : 0);
                if (i_set_starving) want &= ~STARVING;
                if (word_.compare_exchange_weak(s, want, std::memory_order_acquire, std::memory_order_relaxed))
                    return WEFT_OK;
                continue;
            }
            if (spins < kSpins && !(s & PARKED)) {
                ++spins;
                futex::cpu_relax();
                s = word_.load(std::memory_order_relaxed);
                continue;
            }
            if (yields < kYields && !(s & PARKED)) {
                ++yields;
                sched_yield();
                s = word_.load(std::memory_order_relaxed);
                continue;
            }
            if (deadline.poll()) return WEFT_ETIMEDOUT;
            if (!(s & PARKED)) {
                if (!word_.compare_exchange_weak(s, s | PARKED, std::memory_order_relaxed, std::memory_order_relaxed))
                    continue;
                s |= PARKED;
            }
            if (wait_start == 0) {
                wait_start = monotonic_now();
            } else if (!(s & STARVING) && monotonic_now() - wait_start > kStarveNs) {
                if (word_.compare_exchange_weak(s, s | STARVING, std::memory_order_relaxed, std::memory_order_relaxed)) {
                    s |= STARVING;
                    i_set_starving = true;
                }
                continue;
            }
            futex::WaitResult r = futex::wait(&word_, s, deadline.abs(), shared);
            parked_once = true;
            s = word_.load(std::memory_order_relaxed);
            // Claim a hand-off: the lock stays LOCKED and becomes ours.
            while (s & HANDOFF) {
                std::uint32_t want = (s & ~HANDOFF) | PARKED;
                if (i_set_starving) want &= ~STARVING;
                if (word_.compare_exchange_weak(s, want, std::memory_order_acquire, std::memory_order_relaxed))
                    return WEFT_OK;
            }
            if (r == futex::WaitResult::timed_out || deadline.expired()) {
                // One last chance, then give up; withdraw our starving flag.
                if (!(s & LOCKED)) continue;
                if (i_set_starving) word_.fetch_and(~STARVING, std::memory_order_relaxed);
                return WEFT_ETIMEDOUT;
            }
        }
    }

    [[gnu::noinline]] bool unlock_slow(bool shared) noexcept {
        std::uint32_t s = word_.load(std::memory_order_relaxed);
        for (;;) {
            if (!(s & LOCKED)) return false;
            if ((s & STARVING) && (s & PARKED)) {
                // Hand the lock to a woken waiter: LOCKED stays set.
                if (!word_.compare_exchange_weak(s, s | HANDOFF, std::memory_order_release, std::memory_order_relaxed))
                    continue;
                if (futex::wake(&word_, 1, shared) > 0) return true;
                // Nobody was asleep to take it: release it the plain way unless a
                // waiter already claimed the hand-off.
                s = word_.load(std::memory_order_relaxed);
                while (s & HANDOFF) {
                    if (word_.compare_exchange_weak(s, s & ~(HANDOFF | LOCKED | PARKED), std::memory_order_release,
                                                    std::memory_order_relaxed))
                        return true;
                }
                return true;
            }
            if (word_.compare_exchange_weak(s, s & ~(LOCKED | PARKED), std::memory_order_release,
                                            std::memory_order_relaxed)) {
                if (s & PARKED) futex::wake(&word_, 1, shared);
                return true;
            }
        }
    }

    std::atomic<std::uint32_t> word_{0};
};

}  // namespace weft::detail
