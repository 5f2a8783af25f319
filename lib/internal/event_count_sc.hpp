// EventCountSc: the EventCount of event_count.hpp (same protocol, same
// one-word layout), plus a notify for callers whose publication was itself
// a sequentially consistent read-modify-write, which then needs no fence.
//
//   waiter:   key = ec.prepare_wait();            // seq_cst RMW on the word
//             if (ready_sc()) ...                 // seq_cst loads of what the notifier's RMW wrote
//   notifier: x.compare_exchange(..., seq_cst);   // the publication
//             ec.notify_all_after_sc_rmw();        // a seq_cst load of the word, no fence
//
// Both sides' operations are seq_cst, so they fall in one total order: either
// the notifier's load sees the announced waiter and wakes it, or the waiter's
// check comes after the notifier's RMW and sees it. On x86 this saves an
// mfence per notify (the RMW's lock prefix already orders it), which is most
// of the cost of a put or get that found a partner running.
//
// Used by the thread-scope queue of lib/queue.cpp; event_count.hpp stays the
// general tool (a publication by plain or release stores needs its fence).
// lib/queue.cpp also pairs the notify with a sleeper's membarrier(2) when
// the publication was plain stores (see SideOwner there).
#pragma once

#include <atomic>
#include <cstdint>

#include "futex.hpp"

static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__, "EventCountSc keeps the futex word in the low half");

namespace weft::detail {

class EventCountSc {
public:
    std::uint32_t prepare_wait() noexcept {
        return static_cast<std::uint32_t>(word_.fetch_add(kWaiter, std::memory_order_seq_cst));
    }

    void cancel_wait(std::uint32_t key) noexcept { leave(key); }

    // Sleep until notified after `key` was read, or until the absolute
    // monotonic deadline; ends the announced wait either way.
    futex::WaitResult wait(std::uint32_t key, std::int64_t abs_ns) noexcept {
        futex::WaitResult r = futex::wait(epoch(), key, abs_ns, false);
        leave(key);
        return r;
    }

    // Wake every announced waiter, for any publication (fence + load when none).
    void notify_all() noexcept {
        std::atomic_thread_fence(std::memory_order_seq_cst);
        wake_if_waiters(word_.load(std::memory_order_relaxed));
    }

    // Wake every announced waiter, for a publication that was a seq_cst RMW
    // sequenced before this call (one plain load when none wait).
    void notify_all_after_sc_rmw() noexcept { wake_if_waiters(word_.load(std::memory_order_seq_cst)); }

private:
    static constexpr std::uint64_t kWaiter = std::uint64_t{1} << 32;

    std::atomic<std::uint32_t> *epoch() noexcept {
        return reinterpret_cast<std::atomic<std::uint32_t> *>(&word_);
    }

    void wake_if_waiters(std::uint64_t w) noexcept {
        while (w >> 32) {
            std::uint64_t next = static_cast<std::uint32_t>(w + 1);  // epoch + 1, no waiters
            if (word_.compare_exchange_weak(w, next, std::memory_order_seq_cst, std::memory_order_relaxed)) {
                futex::wake_all(epoch(), false);
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
