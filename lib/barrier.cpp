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
//
// Process scope (multiprocessing.Barrier) keeps the same algorithm in a
// pointer-free BarrierPayload in a shared segment: no waiter list; a waiter
// remembers its generation number, and whoever ends a generation records in
// `ok_bits` (bit gen % 64) whether it ended released or broken. The lock is
// a robust mutex: a process killed inside a critical section makes the next
// locker break the barrier (the state may be half-updated) and go on, so
// every waiter returns WEFT_EBROKEN instead of hanging. A party killed
// before it arrives makes the others time out (as in Python); one killed
// while it waits was already counted as arrived. Waiters' deadlines apply
// while an action runs (as Python's do), so an action whose process dies
// cannot hold them forever.
#include <climits>
#include <new>

#include <weft/barrier.h>

#include "internal/boundary.hpp"
#include "internal/deadline.hpp"
#include "internal/futex.hpp"
#include "internal/handle.hpp"
#include "internal/lock.hpp"
#include "internal/shm.hpp"
#include "internal/word_lock.hpp"

namespace weft::detail {

// A blocked waiter, on its own stack; its result is written under the lock.
struct BarrierWaiter {
    BarrierWaiter *next = nullptr;
    weft_status result = WEFT_OK;
    bool done = false;
};

// The payload of a process-scope barrier (shm::Kind::barrier). Every field
// but `seq` is guarded by `lock`.
struct BarrierPayload {
    RobustMutex lock;
    std::atomic<std::uint32_t> seq;  // futex word: bumped at each state change
    std::uint32_t parties;
    std::uint32_t count;    // arrivals in the current generation
    std::uint32_t waiting;  // of them, blocked
    std::uint64_t gen;      // bumped at every end of a generation
    std::uint64_t ok_bits;  // bit g % 64: generation g ended released (1) or broken (0)
    std::uint32_t broken;
    std::uint32_t in_action;
};
inline constexpr std::uint32_t kBarrierLayout = 1;

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

    weft::detail::BarrierPayload *proc = nullptr;  // process scope: the shared state
    weft::detail::shm::Segment *seg = nullptr;     // its mapping

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

// ---- process scope ------------------------------------------------------

// Locked. End the current generation with `ok` (released) or broken.
void p_end_generation(BarrierPayload *p, bool ok) noexcept {
    std::uint64_t bit = std::uint64_t{1} << (p->gen % 64);
    if (ok)
        p->ok_bits |= bit;
    else
        p->ok_bits &= ~bit;
    p->count = 0;
    p->waiting = 0;
    ++p->gen;
    p->seq.fetch_add(1, std::memory_order_relaxed);
}

void p_break(BarrierPayload *p) noexcept {
    p->broken = 1;
    p_end_generation(p, false);
}

// Take the lock (forever). A holder that died may have left the state
// half-updated: break the barrier (every waiter returns WEFT_EBROKEN), and
// go on. WEFT_OK, or WEFT_ENOTRECOVERABLE (not held) if that ever failed.
weft_status p_lock(const weft_barrier *b, BarrierPayload *p) noexcept {
    weft_status st = p->lock.lock_forever();
    if (__builtin_expect(st == WEFT_OK, 1)) return WEFT_OK;
    if (st == WEFT_EOWNERDEAD) {
        p->in_action = 0;
        p_break(p);
        (void)p->lock.make_consistent();
        return WEFT_OK;
    }
    return fail(st, "weft_barrier: the lock of process-scope barrier %p failed: %s", static_cast<const void *>(b),
                weft_strerror(st));
}

void p_unlock_and_wake(BarrierPayload *p) noexcept {
    (void)p->lock.unlock();
    futex::wake_all(&p->seq, true);
}

// Locked on entry; locked on WEFT_OK return. Sleep until seq changes or `d`.
weft_status p_park(const weft_barrier *b, BarrierPayload *p, Deadline &d) noexcept {
    std::uint32_t v = p->seq.load(std::memory_order_relaxed);
    (void)p->lock.unlock();
    (void)futex::wait(&p->seq, v, d.abs(), true);
    return p_lock(b, p);
}

weft_status p_wait(weft_barrier *b, unsigned *index, std::int64_t timeout_ns) noexcept {
    BarrierPayload *p = b->proc;
    Deadline d(timeout_ns);
    if (weft_status st = p_lock(b, p)) return st;
    for (;;) {
        if (p->broken) {
            (void)p->lock.unlock();
            return broken_error(b);
        }
        if (!p->in_action) break;
        if (d.expired()) {
            p->broken = 1;
            p->seq.fetch_add(1, std::memory_order_relaxed);
            p_unlock_and_wake(p);
            return fail(WEFT_ETIMEDOUT,
                        "weft_barrier_wait: timed out waiting for the barrier's action; the barrier is now broken");
        }
        if (weft_status st = p_park(b, p, d)) return st;
    }

    unsigned place = p->count++;
    if (p->count == p->parties) {
        if (b->action) {
            std::uint64_t my_gen = p->gen;
            p->in_action = 1;
            (void)p->lock.unlock();
            int rc;
            try {
                rc = b->action(b->user_data);
            } catch (...) {
                rc = -1;
            }
            if (weft_status st = p_lock(b, p)) return st;
            p->in_action = 0;
            p->seq.fetch_add(1, std::memory_order_relaxed);
            if (p->gen != my_gen) {
                p_unlock_and_wake(p);
                return broken_error(b);
            }
            if (rc != 0) {
                p_break(p);
                p_unlock_and_wake(p);
                return fail(WEFT_EFAILED, "weft_barrier_wait: the barrier's action returned %d; the barrier is now broken",
                            rc);
            }
        }
        p_end_generation(p, true);
        p_unlock_and_wake(p);
        if (index) *index = place;
        return WEFT_OK;
    }

    std::uint64_t my_gen = p->gen;
    ++p->waiting;
    for (;;) {
        if (p->gen != my_gen) {
            bool ok = p->gen - my_gen <= 64 && (p->ok_bits >> (my_gen % 64)) & 1;
            (void)p->lock.unlock();
            if (!ok) return broken_error(b);
            if (index) *index = place;
            return WEFT_OK;
        }
        if (d.expired()) {
            unsigned arrived = p->count;
            p_break(p);
            p_unlock_and_wake(p);
            return fail(WEFT_ETIMEDOUT,
                        "weft_barrier_wait: timed out with %u of %u parties arrived; the barrier is now broken",
                        arrived, p->parties);
        }
        if (weft_status st = p_park(b, p, d)) return st;
    }
}

constexpr shm::Spec barrier_spec(const char *func) noexcept {
    return shm::Spec{func, shm::Kind::barrier, kBarrierLayout, sizeof(BarrierPayload)};
}

template <class Map>
weft_status attach(weft_barrier *b, const char *func, Map &&map) noexcept {
    shm::Segment *seg = new (std::nothrow) shm::Segment;
    if (!seg) return fail(WEFT_ENOMEM, "%s: out of memory", func);
    if (weft_status st = map(*seg)) {
        delete seg;
        return st;
    }
    b->seg = seg;
    b->proc = static_cast<BarrierPayload *>(seg->data());
    b->parties = b->proc->parties;
    return WEFT_OK;
}

}  // namespace

extern "C" {

WEFT_API weft_status weft_barrier_create(weft_barrier **out, unsigned parties,
                                         const weft_barrier_options *opts) noexcept {
    if (!out) return null_arg("weft_barrier_create", "out");
    *out = nullptr;
    constexpr const char *func = "weft_barrier_create";
    if (parties == 0 || parties > static_cast<unsigned>(INT_MAX))
        return fail(WEFT_EINVAL, "weft_barrier_create: parties is %u; use 1 .. INT_MAX", parties);
    if (weft_status s = check_version_range(func, opts, 1, WEFT_BARRIER_OPTIONS_VERSION)) return s;
    weft_sharing sh = WEFT_SHARING_INIT;
    if (opts && opts->version >= 2) sh = opts->share;
    if (weft_status s = shm::check_sharing(func, sh)) return s;
    if (sh.scope == WEFT_SCOPE_PROCESS && sh.name && opts->action)
        return fail(WEFT_EINVAL,
                    "weft_barrier_create: a named barrier cannot have an action (a function pointer means nothing "
                    "in the processes that open it); use an anonymous one with fork");
    weft_barrier *b = new (std::nothrow) weft_barrier;
    if (!b) return fail(WEFT_ENOMEM, "weft_barrier_create: out of memory");
    b->parties = parties;
    if (opts) {
        b->action = opts->action;
        b->user_data = opts->user_data;
    }
    if (sh.scope == WEFT_SCOPE_PROCESS) {
        weft_status st = attach(b, func, [&](shm::Segment &seg) noexcept {
            return seg.create_with(barrier_spec(func), sh, [parties](void *mem, std::size_t) noexcept {
                BarrierPayload *p = static_cast<BarrierPayload *>(mem);
                p->seq.store(0, std::memory_order_relaxed);
                p->parties = parties;
                return init_robust("weft_barrier_create", p->lock);
            });
        });
        if (st != WEFT_OK) {
            delete b;
            return st;
        }
    }
    *out = b;
    return WEFT_OK;
}

WEFT_API weft_status weft_barrier_open(weft_barrier **out, const char *name) noexcept {
    constexpr const char *func = "weft_barrier_open";
    if (!out) return null_arg(func, "out");
    *out = nullptr;
    if (!name) return null_arg(func, "name");
    weft_barrier *b = new (std::nothrow) weft_barrier;
    if (!b) return fail(WEFT_ENOMEM, "weft_barrier_open: out of memory");
    if (weft_status st = attach(b, func, [&](shm::Segment &seg) noexcept { return seg.open(barrier_spec(func), name); })) {
        delete b;
        return st;
    }
    *out = b;
    return WEFT_OK;
}

WEFT_API void weft_barrier_destroy(weft_barrier *b) noexcept {
    if (!valid(b)) return;
    b->poison();
    delete b->seg;
    delete b;
}

WEFT_API weft_status weft_barrier_wait(weft_barrier *b, unsigned *index, int64_t timeout_ns) noexcept {
    WEFT_CHECK_HANDLE("weft_barrier_wait", b);
    WEFT_CHECK_TIMEOUT("weft_barrier_wait", timeout_ns);
    if (b->proc) return p_wait(b, index, timeout_ns);
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
    if (BarrierPayload *p = b->proc) {
        if (weft_status st = p_lock(b, p)) return st;
        p_break(p);
        p_unlock_and_wake(p);
        return WEFT_OK;
    }
    b->lock.lock_forever();
    b->break_now();
    b->unlock_and_wake();
    return WEFT_OK;
}

WEFT_API weft_status weft_barrier_reset(weft_barrier *b) noexcept {
    WEFT_CHECK_HANDLE("weft_barrier_reset", b);
    if (BarrierPayload *p = b->proc) {
        if (weft_status st = p_lock(b, p)) return st;
        p_end_generation(p, false);
        p->broken = 0;
        p->in_action = 0;  // an action whose process died must not hold newcomers forever
        p_unlock_and_wake(p);
        return WEFT_OK;
    }
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
    if (BarrierPayload *p = b->proc) {
        if (weft_status st = p_lock(b, p)) return st;
        unsigned n = p->waiting;
        (void)p->lock.unlock();
        return static_cast<int>(n);
    }
    b->lock.lock_forever();
    unsigned n = b->waiting;
    b->lock.unlock();
    return static_cast<int>(n);
}

WEFT_API int weft_barrier_broken(const weft_barrier *b) noexcept {
    WEFT_CHECK_HANDLE("weft_barrier_broken", b);
    if (BarrierPayload *p = b->proc) {
        if (weft_status st = p_lock(b, p)) return st;
        bool broken = p->broken != 0;
        (void)p->lock.unlock();
        return broken ? 1 : 0;
    }
    b->lock.lock_forever();
    bool broken = b->broken;
    b->lock.unlock();
    return broken ? 1 : 0;
}

}  // extern "C"
