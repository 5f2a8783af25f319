// EventCount: lets a thread sleep until "something changed" without a lock
// around the condition it waits for (Dmitry Vyukov's eventcount; folly's
// EventCount). A waiter announces itself, re-checks its condition, then
// sleeps on the epoch it read; a notifier that changed the condition bumps
// the epoch and wakes the announced waiters only when there are any.
//
//   waiter:   for (;;) { if (try()) break;
//                        auto key = ec.prepare_wait();
//                        if (try()) { ec.cancel_wait(key); break; }
//                        ec.wait(key, deadline); }
//   notifier: publish(); ec.notify_all();
//
// One 64-bit word holds the epoch (low half, the futex word) and the number
// of announced waiters (high half). A notify that finds waiters resets their
// count to zero while it bumps the epoch, in one CAS, and wakes them all; so
// a burst of notifies costs one system call, not one per notify (the waiter
// may not run again for a while: a second notify must not wake it again).
// A waiter leaving without being notified (timeout, spurious wake-up, cancel)
// takes its count back only while the epoch is still the one it read.
#pragma once

#include <atomic>
#include <cstdint>

#include "futex.hpp"

static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__, "EventCount keeps the futex word in the low half");

namespace weft::detail {

class EventCount {
public:
    std::uint32_t prepare_wait() noexcept {
        return static_cast<std::uint32_t>(word_.fetch_add(kWaiter, std::memory_order_seq_cst));
    }

    void cancel_wait(std::uint32_t key) noexcept { leave(key); }

    // Sleep until notified after `key` was read, or until the absolute
    // monotonic deadline; ends the announced wait either way.
    futex::WaitResult wait(std::uint32_t key, std::int64_t abs_ns, bool shared = false) noexcept {
        futex::WaitResult r = futex::wait(epoch(), key, abs_ns, shared);
        leave(key);
        return r;
    }

    // Wake every announced waiter; costs one fence and one load when none.
    void notify_all(bool shared = false) noexcept {
        // Orders the caller's publication before the waiters check; pairs
        // with the seq_cst increment in prepare_wait().
        std::atomic_thread_fence(std::memory_order_seq_cst);
        wake_if_waiters(word_.load(std::memory_order_relaxed), shared);
    }

    // The same, for a caller whose publication was itself a seq_cst
    // read-modify-write sequenced before this call, and whose waiter checks
    // with seq_cst loads (the thread-scope queue's claims): both sides then
    // fall in one total order, so either this load sees the announced waiter
    // or the waiter's check sees the publication; no fence (on x86 that saves
    // an mfence per put or get that found its partner running).
    void notify_all_after_sc_rmw(bool shared = false) noexcept {
        wake_if_waiters(word_.load(std::memory_order_seq_cst), shared);
    }

private:
    static constexpr std::uint64_t kWaiter = std::uint64_t{1} << 32;

    std::atomic<std::uint32_t> *epoch() noexcept {
        return reinterpret_cast<std::atomic<std::uint32_t> *>(&word_);
    }

    void wake_if_waiters(std::uint64_t w, bool shared) noexcept {
        while (w >> 32) {
            std::uint64_t next = static_cast<std::uint32_t>(w + 1);  // epoch + 1, no waiters
            if (word_.compare_exchange_weak(w, next, std::memory_order_seq_cst, std::memory_order_relaxed)) {
                futex::wake_all(epoch(), shared);
                return;
            }
        }
    }

    void leave(std::uint32_t key) noexcept {
        std::uint64_t w = word_.load(std::memory_order_relaxed);
        while (static_cast<std::uint32_t>(w) == key && (w >> 32)) {
            if (word_.compare_exchange_weak(w, w - kWaiter, std::memory_order_relaxed, std::memory_order_relaxed))
                return;
        }
        // The epoch moved: a notify already took our count.
    }

    std::atomic<std::uint64_t> word_{0};
};

}  // namespace weft::detail
