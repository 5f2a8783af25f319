// Barrier: Python's threading.Barrier.
//
// One internal WordLock guards the state. Each blocked waiter links a node
// on its own stack into the current generation's list; whoever ends the
// generation (the last arrival, a timed-out waiter, abort, reset) writes
// every node's result under the lock, so a waiter can never confuse the end
// of its own generation with a later one. Waiters sleep on one futex word
// (`seq`) that changes whenever a generation ends or an action finishes.
//
// The action runs without the lock held (so it may query or abort the
// barrier); while it runs, newcomers of the next generation wait for it.
#include <climits>
#include <new>

#include <weft/barrier.h>

#include "internal/boundary.hpp"
#include "internal/deadline.hpp"
#include "internal/futex.hpp"
#include "internal/handle.hpp"
#include "internal/word_lock.hpp"

namespace weft::detail {

// A blocked waiter, on its own stack; its result is written under the lock.
struct BarrierWaiter {
    BarrierWaiter *next = nullptr;
    weft_status result = WEFT_OK;
    bool done = false;
};

}  // namespace weft::detail

struct weft_barrier : weft::detail::Handle<weft::detail::Magic::barrier> {
    using Waiter = weft::detail::BarrierWaiter;

    mutable weft::detail::WordLock lock;
    std::atomic<std::uint32_t> seq{0};  // futex word: bumped at each state change
    unsigned parties = 1;
    weft_barrier_action_fn action = nullptr;
    void *user_data = nullptr;

    // Guarded by lock.
    unsigned count = 0;    // arrivals in the current generation
    unsigned waiting = 0;  // of them, blocked in the list
    Waiter *head = nullptr;
    std::uint64_t gen = 0;  // bumped at every end of a generation
    bool broken = false;
    bool in_action = false;

    // Locked. Bump the futex word; the caller wakes after unlocking.
    void bump() noexcept { seq.fetch_add(1, std::memory_order_relaxed); }
    void wake() noexcept { weft::detail::futex::wake_all(&seq); }

    // Locked. Finish the current generation: every waiter gets `result`.
    void end_generation(weft_status result) noexcept {
        for (Waiter *w = head; w != nullptr;) {
            Waiter *next = w->next;
            w->result = result;
            w->done = true;
            w = next;
        }
        head = nullptr;
        waiting = 0;
        count = 0;
        ++gen;
        bump();
    }

    // Locked. Break the barrier: the waiters get WEFT_EBROKEN.
    void break_now() noexcept {
        broken = true;
        end_generation(WEFT_EBROKEN);
    }

    // Locked on entry and on return. Sleep until `seq` changes or the deadline
    // passes (never, with `ignore_deadline`).
    void park(weft::detail::Deadline &d, bool ignore_deadline) noexcept {
        std::uint32_t v = seq.load(std::memory_order_relaxed);
        std::int64_t abs = ignore_deadline ? weft::detail::Deadline::kNever : d.abs();
        lock.unlock();
        (void)weft::detail::futex::wait(&seq, v, abs);
        lock.lock_forever();
    }

    void unlock_and_wake() noexcept {
        lock.unlock();
        wake();
    }
};

using namespace weft::detail;

namespace {

weft_status broken_error(const weft_barrier *b) noexcept {
    return fail(WEFT_EBROKEN, "weft_barrier_wait: the barrier (%p) is broken, or was aborted or reset while waiting",
                static_cast<const void *>(b));
}

}  // namespace

extern "C" {

WEFT_API weft_status weft_barrier_create(weft_barrier **out, unsigned parties,
                                         const weft_barrier_options *opts) noexcept {
    if (!out) return null_arg("weft_barrier_create", "out");
    *out = nullptr;
    if (parties == 0 || parties > static_cast<unsigned>(INT_MAX))
        return fail(WEFT_EINVAL, "weft_barrier_create: parties is %u; use 1 .. INT_MAX", parties);
    if (weft_status s = check_version("weft_barrier_create", opts, WEFT_BARRIER_OPTIONS_VERSION)) return s;
    weft_barrier *b = new (std::nothrow) weft_barrier;
    if (!b) return fail(WEFT_ENOMEM, "weft_barrier_create: out of memory");
    b->parties = parties;
    if (opts) {
        b->action = opts->action;
        b->user_data = opts->user_data;
    }
    *out = b;
    return WEFT_OK;
}

WEFT_API void weft_barrier_destroy(weft_barrier *b) noexcept {
    destroy_handle(b);
}

WEFT_API weft_status weft_barrier_wait(weft_barrier *b, unsigned *index, int64_t timeout_ns) noexcept {
    WEFT_CHECK_HANDLE("weft_barrier_wait", b);
    WEFT_CHECK_TIMEOUT("weft_barrier_wait", timeout_ns);
    Deadline d(timeout_ns);
    b->lock.lock_forever();

    // Newcomers wait while the previous generation's action runs.
    for (;;) {
        if (b->broken) {
            b->lock.unlock();
            return broken_error(b);
        }
        if (!b->in_action) break;
        if (d.expired()) {
            // The running generation has all its parties: only the next one breaks.
            b->broken = true;
            b->bump();
            b->unlock_and_wake();
            return fail(WEFT_ETIMEDOUT,
                        "weft_barrier_wait: timed out waiting for the barrier's action; the barrier is now broken");
        }
        b->park(d, false);
    }

    unsigned place = b->count++;
    if (b->count == b->parties) {
        if (b->action) {
            std::uint64_t my_gen = b->gen;
            b->in_action = true;
            b->lock.unlock();
            int rc;
            bool threw = false;
            try {
                rc = b->action(b->user_data);
            } catch (...) {  // a C++ action: an exception counts as failure
                rc = -1;
                threw = true;
            }
            b->lock.lock_forever();
            b->in_action = false;
            b->bump();
            if (b->gen != my_gen) {  // aborted or reset while the action ran
                b->unlock_and_wake();
                return broken_error(b);
            }
            if (rc != 0) {
                b->break_now();
                b->unlock_and_wake();
                if (threw)
                    return fail(WEFT_EFAILED,
                                "weft_barrier_wait: the barrier's action threw a C++ exception; the barrier is now broken");
                return fail(WEFT_EFAILED, "weft_barrier_wait: the barrier's action returned %d; the barrier is now broken",
                            rc);
            }
        }
        b->end_generation(WEFT_OK);
        b->unlock_and_wake();
        if (index) *index = place;
        return WEFT_OK;
    }

    weft_barrier::Waiter self;
    self.next = b->head;
    b->head = &self;
    ++b->waiting;
    for (;;) {
        if (self.done) {
            weft_status result = self.result;
            b->lock.unlock();
            if (result != WEFT_OK) return broken_error(b);
            if (index) *index = place;
            return WEFT_OK;
        }
        // Once every party arrived and the action runs, timeouts no longer apply.
        if (!b->in_action && d.expired()) {
            unsigned arrived = b->count;
            b->break_now();
            b->unlock_and_wake();
            return fail(WEFT_ETIMEDOUT,
                        "weft_barrier_wait: timed out with %u of %u parties arrived; the barrier is now broken",
                        arrived, b->parties);
        }
        b->park(d, b->in_action);
    }
}

WEFT_API weft_status weft_barrier_abort(weft_barrier *b) noexcept {
    WEFT_CHECK_HANDLE("weft_barrier_abort", b);
    b->lock.lock_forever();
    b->break_now();
    b->unlock_and_wake();
    return WEFT_OK;
}

WEFT_API weft_status weft_barrier_reset(weft_barrier *b) noexcept {
    WEFT_CHECK_HANDLE("weft_barrier_reset", b);
    b->lock.lock_forever();
    b->end_generation(WEFT_EBROKEN);
    b->broken = false;
    b->unlock_and_wake();
    return WEFT_OK;
}

WEFT_API int weft_barrier_parties(const weft_barrier *b) noexcept {
    WEFT_CHECK_HANDLE("weft_barrier_parties", b);
    return static_cast<int>(b->parties);
}

WEFT_API int weft_barrier_n_waiting(const weft_barrier *b) noexcept {
    WEFT_CHECK_HANDLE("weft_barrier_n_waiting", b);
    b->lock.lock_forever();
    unsigned n = b->waiting;
    b->lock.unlock();
    return static_cast<int>(n);
}

WEFT_API int weft_barrier_broken(const weft_barrier *b) noexcept {
    WEFT_CHECK_HANDLE("weft_barrier_broken", b);
    b->lock.lock_forever();
    bool broken = b->broken;
    b->lock.unlock();
    return broken ? 1 : 0;
}

}  // extern "C"
