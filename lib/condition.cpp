// Condition: Python's threading.Condition with exact notify(n) semantics.
//
// Each waiter puts a node living on its own stack at the tail of a FIFO list
// (protected by an internal WordLock, `guard`) while it still holds the user
// lock, releases the user lock, and sleeps on the node's own futex word.
// notify(n) pops at most n nodes from the head and marks each NOTIFIED, in
// the order the waiters arrived. A waiter that times out takes the guard and
// unlinks itself, unless a notify already marked it: a marked node counts as
// woken (it returns WEFT_OK), so notify(n) never wakes fewer than it could.
//
// The node's state: WAITING (queued, not asleep), SLEEPING (asleep on the
// futex: the notifier must wake it), NOTIFIED. A notifier wakes with a
// system call only a SLEEPING node. After marking NOTIFIED it touches the
// node only through the futex wake of its address, which the waiter may
// already have left: at worst a spurious wake-up of some other futex waiter,
// which every weft wait tolerates.
//
// Process scope (multiprocessing.Condition) has no list: nodes on stacks
// cannot be shared, and a pthread_cond_t in shared memory can be wedged for
// everyone by a waiter that dies inside pthread_cond_wait. Instead a futex
// sequence word `seq` in the segment (CondPayload): wait reads seq with the
// lock held, releases the lock, sleeps on the futex while seq is unchanged
// (or until the deadline), then re-acquires the lock; notify(n) bumps seq
// and wakes n sleepers, notify_all bumps it and wakes all. A notifier holds
// the lock, so every sleeper it can wake read seq before the bump: no lost
// wake-up. A waiter that had released the lock but not yet slept when the
// bump came returns at once, so notify(n) may wake more than n (spurious
// wake-ups, which Python's Condition allows). A waiter that dies asleep
// leaves nothing behind but one in `waiters`, which only costs notifies a
// futex wake. The lock is a robust process-scope Lock or RLock, so a waiter
// that re-acquires it from a dead holder returns WEFT_EOWNERDEAD.
#include <atomic>
#include <climits>
#include <cstdint>
#include <new>

#include <weft/condition.h>

#include "internal/boundary.hpp"
#include "internal/deadline.hpp"
#include "internal/futex.hpp"
#include "internal/handle.hpp"
#include "internal/lock.hpp"
#include "internal/rlock.hpp"
#include "internal/shm.hpp"
#include "internal/word_lock.hpp"

namespace weft::detail {

struct CondWaiter {
    static constexpr std::uint32_t WAITING = 0, SLEEPING = 1, NOTIFIED = 2;
    std::atomic<std::uint32_t> state{WAITING};
    CondWaiter *prev = nullptr;
    CondWaiter *next = nullptr;
};

// The payload of a process-scope condition (shm::Kind::condition): its own
// lock (used unless an anonymous condition was given one) and the sequence
// word its waiters sleep on.
struct CondPayload {
    LockPayload lock;
    std::atomic<std::uint32_t> seq;
    std::atomic<std::uint32_t> waiters;  // announced sleepers; stale (too high) after a waiter died
};
inline constexpr std::uint32_t kCondLayout = 1;

}  // namespace weft::detail

struct weft_condition : weft::detail::Handle<weft::detail::Magic::condition> {
    weft_lock *lock = nullptr;    // exactly one of lock and rlock is set
    weft_rlock *rlock = nullptr;
    bool owns_lock = false;
    weft::detail::WordLock guard;  // protects head and tail
    weft::detail::CondWaiter *head = nullptr;
    weft::detail::CondWaiter *tail = nullptr;
    weft::detail::CondPayload *proc = nullptr;  // process scope: the shared state
    weft::detail::shm::Segment *seg = nullptr;  // its mapping
};

namespace weft::detail {
namespace {

// Does the caller hold the user lock? (rlock: owns it; a thread-scope lock:
// it is locked; a process-scope lock: the calling thread holds it.)
bool held(const weft_condition *c) noexcept {
    if (c->rlock) return c->rlock->owned_by_caller();
    if (c->lock->robust) return held_by_caller(*c->lock->robust);
    return weft_lock_locked(c->lock) == 1;
}

weft_status not_held(const char *func, const weft_condition *c) noexcept {
    if (c->rlock)
        return fail(WEFT_EPERM, "%s: the caller does not own the rlock (%p) of condition %p", func,
                    static_cast<const void *>(c->rlock), static_cast<const void *>(c));
    return fail(WEFT_EPERM, "%s: the lock (%p) of condition %p is not held", func,
                static_cast<const void *>(c->lock), static_cast<const void *>(c));
}

void enqueue(weft_condition *c, CondWaiter *w) noexcept {
    c->guard.lock_forever();
    w->prev = c->tail;
    w->next = nullptr;
    if (c->tail)
        c->tail->next = w;
    else
        c->head = w;
    c->tail = w;
    c->guard.unlock();
}

void unlink(weft_condition *c, CondWaiter *w) noexcept {
    if (w->prev)
        w->prev->next = w->next;
    else
        c->head = w->next;
    if (w->next)
        w->next->prev = w->prev;
    else
        c->tail = w->prev;
    w->prev = w->next = nullptr;
}

// Wake at most n waiters, oldest first. Caller holds the user lock.
void wake(weft_condition *c, int n) noexcept {
    if (n <= 0) return;
    c->guard.lock_forever();
    while (n > 0 && c->head) {
        CondWaiter *w = c->head;
        c->head = w->next;
        if (c->head)
            c->head->prev = nullptr;
        else
            c->tail = nullptr;
        w->prev = w->next = nullptr;
        std::uint32_t old = w->state.exchange(CondWaiter::NOTIFIED, std::memory_order_release);
        if (old == CondWaiter::SLEEPING) futex::wake(&w->state, 1);
        --n;
    }
    c->guard.unlock();
}

// Release the user lock fully; returns what restore() needs (rlock depth).
int release_all(weft_condition *c) noexcept {
    if (c->rlock) return c->rlock->release_save();
    (void)weft_lock_release(c->lock);
    return 0;
}

// Take the lock back: WEFT_OK, or (a process-scope lock) WEFT_EOWNERDEAD
// (held) or WEFT_ENOTRECOVERABLE (not held), with the detail set.
weft_status restore(weft_condition *c, int saved, const char *func) noexcept {
    if (c->rlock) return c->rlock->acquire_restore(saved, func);
    if (c->lock->robust) {
        Deadline d = Deadline::forever();
        return robust_acquire(func, c->lock, *c->lock->robust, d);
    }
    return weft_lock_acquire(c->lock, WEFT_FOREVER);
}

// One process-scope wait (see the top of this file). WEFT_OK when woken
// (perhaps spuriously), WEFT_ETIMEDOUT, or restore()'s failure.
weft_status wait_process(weft_condition *c, Deadline &d, const char *func) noexcept {
    CondPayload *p = c->proc;
    std::uint32_t seq = p->seq.load(std::memory_order_acquire);
    p->waiters.fetch_add(1, std::memory_order_relaxed);  // under the lock: a notifier sees it
    int saved = release_all(c);
    bool woken;
    if (d.poll()) {
        woken = p->seq.load(std::memory_order_acquire) != seq;
    } else {
        for (;;) {
            futex::WaitResult r = futex::wait(&p->seq, seq, d.abs(), true);
            if (r == futex::WaitResult::woken || p->seq.load(std::memory_order_acquire) != seq) {
                woken = true;
                break;
            }
            if (r == futex::WaitResult::timed_out || d.expired()) {
                woken = false;
                break;
            }
        }
    }
    p->waiters.fetch_sub(1, std::memory_order_relaxed);
    weft_status st = restore(c, saved, func);
    if (st != WEFT_OK) return st;
    return woken ? WEFT_OK : WEFT_ETIMEDOUT;
}

// Process scope: bump seq, wake up to n sleepers. Caller holds the lock.
void wake_process(weft_condition *c, int n) noexcept {
    CondPayload *p = c->proc;
    p->seq.fetch_add(1, std::memory_order_release);
    if (p->waiters.load(std::memory_order_relaxed) > 0) futex::wake(&p->seq, n, true);
}

// One wait; the caller holds the lock and has checked arguments.
// WEFT_OK when notified, WEFT_ETIMEDOUT when the deadline passed first (or
// restore()'s failure).
weft_status wait_once(weft_condition *c, Deadline &d, const char *func) noexcept {
    if (c->proc) return wait_process(c, d, func);
    CondWaiter node;
    enqueue(c, &node);
    int saved = release_all(c);
    bool notified = false;
    for (;;) {
        std::uint32_t st = node.state.load(std::memory_order_acquire);
        if (st == CondWaiter::NOTIFIED) {
            notified = true;
            break;
        }
        if (d.poll() || d.expired()) {
            c->guard.lock_forever();
            if (node.state.load(std::memory_order_acquire) == CondWaiter::NOTIFIED) {
                notified = true;  // a notify picked us first: count as woken
            } else {
                unlink(c, &node);
            }
            c->guard.unlock();
            break;
        }
        if (st == CondWaiter::WAITING) {
            if (!node.state.compare_exchange_weak(st, CondWaiter::SLEEPING, std::memory_order_acquire,
                                                  std::memory_order_acquire))
                continue;
        }
        (void)futex::wait(&node.state, CondWaiter::SLEEPING, d.abs());
    }
    weft_status st = restore(c, saved, func);
    if (st != WEFT_OK) return st;
    return notified ? WEFT_OK : WEFT_ETIMEDOUT;
}

constexpr shm::Spec cond_spec(const char *func) noexcept {
    return shm::Spec{func, shm::Kind::condition, kCondLayout, sizeof(CondPayload)};
}

// Map (create or open) a process-scope condition's segment into `c`; with
// `own_lock`, c->lock becomes a handle over the segment's own lock.
template <class Map>
weft_status attach(weft_condition *c, bool own_lock, const char *func, Map &&map) noexcept {
    shm::Segment *seg = new (std::nothrow) shm::Segment;
    if (!seg) return fail(WEFT_ENOMEM, "%s: out of memory", func);
    if (weft_status st = map(*seg)) {
        delete seg;
        return st;
    }
    CondPayload *p = static_cast<CondPayload *>(seg->data());
    if (own_lock) {
        weft_lock *l = make_borrowed_lock(&p->lock.m);
        if (!l) {
            delete seg;
            return fail(WEFT_ENOMEM, "%s: out of memory", func);
        }
        c->lock = l;
        c->owns_lock = true;
    }
    c->seg = seg;
    c->proc = p;
    return WEFT_OK;
}

}  // namespace
}  // namespace weft::detail

using namespace weft::detail;

extern "C" {

WEFT_API weft_status weft_condition_create(weft_condition **out, const weft_condition_options *opts) noexcept {
    if (!out) return null_arg("weft_condition_create", "out");
    *out = nullptr;
    constexpr const char *func = "weft_condition_create";
    if (weft_status s = check_version_range(func, opts, 1, WEFT_CONDITION_OPTIONS_VERSION)) return s;
    weft_lock *lock = opts ? opts->lock : nullptr;
    weft_rlock *rlock = opts ? opts->rlock : nullptr;
    if (lock && rlock)
        return fail(WEFT_EINVAL, "weft_condition_create: opts->lock and opts->rlock are both set; give at most one");
    if (lock && weft_lock_locked(lock) < 0)
        return misuse("weft_condition_create", "opts->lock", lock);
    if (rlock && !valid(rlock)) return misuse("weft_condition_create", "opts->rlock", rlock);
    weft_sharing sh = WEFT_SHARING_INIT;
    if (opts && opts->version >= 2) sh = opts->share;
    if (weft_status s = shm::check_sharing(func, sh)) return s;
    bool process = sh.scope == WEFT_SCOPE_PROCESS;
    if (process && sh.name && (lock || rlock))
        return fail(WEFT_EINVAL,
                    "weft_condition_create: a named condition uses its own lock (an opener finds it there); "
                    "leave opts->lock and opts->rlock NULL");
    if (process && ((lock && !lock->robust) || (rlock && !rlock->proc)))
        return fail(WEFT_EINVAL, "weft_condition_create: a process-scope condition needs a process-scope %s",
                    lock ? "lock" : "rlock");
    weft_condition *c = new (std::nothrow) weft_condition;
    if (!c) return fail(WEFT_ENOMEM, "weft_condition_create: out of memory");
    if (process) {
        weft_status st = attach(c, !lock && !rlock, func, [&](shm::Segment &seg) noexcept {
            return seg.create_with(cond_spec(func), sh, [](void *p, std::size_t) noexcept {
                CondPayload *cp = static_cast<CondPayload *>(p);
                cp->seq.store(0, std::memory_order_relaxed);
                cp->waiters.store(0, std::memory_order_relaxed);
                return init_robust("weft_condition_create", cp->lock.m);
            });
        });
        if (st != WEFT_OK) {
            delete c;
            return st;
        }
        if (!c->owns_lock) {
            c->lock = lock;
            c->rlock = rlock;
        }
        *out = c;
        return WEFT_OK;
    }
    if (!lock && !rlock) {
        weft_status st = weft_lock_create(&lock, nullptr);
        if (st != WEFT_OK) {
            delete c;
            return fail(st, "weft_condition_create: cannot create its lock: %s", weft_strerror(st));
        }
        c->owns_lock = true;
    }
    c->lock = lock;
    c->rlock = rlock;
    *out = c;
    return WEFT_OK;
}

WEFT_API weft_status weft_condition_open(weft_condition **out, const char *name) noexcept {
    constexpr const char *func = "weft_condition_open";
    if (!out) return null_arg(func, "out");
    *out = nullptr;
    if (!name) return null_arg(func, "name");
    weft_condition *c = new (std::nothrow) weft_condition;
    if (!c) return fail(WEFT_ENOMEM, "weft_condition_open: out of memory");
    if (weft_status st = attach(c, true, func, [&](shm::Segment &seg) noexcept {
            return seg.open(cond_spec(func), name);
        })) {
        delete c;
        return st;
    }
    *out = c;
    return WEFT_OK;
}

WEFT_API void weft_condition_destroy(weft_condition *c) noexcept {
    if (!valid(c)) return;
    c->poison();
    if (c->owns_lock) weft_lock_destroy(c->lock);  // before its mapping goes
    delete c->seg;
    delete c;
}

WEFT_API weft_status weft_condition_acquire(weft_condition *c, int64_t timeout_ns) noexcept {
    WEFT_CHECK_HANDLE("weft_condition_acquire", c);
    WEFT_CHECK_TIMEOUT("weft_condition_acquire", timeout_ns);
    if (c->rlock) return weft_rlock_acquire(c->rlock, timeout_ns);
    return weft_lock_acquire(c->lock, timeout_ns);
}

WEFT_API weft_status weft_condition_release(weft_condition *c) noexcept {
    WEFT_CHECK_HANDLE("weft_condition_release", c);
    weft_status st = c->rlock ? weft_rlock_release(c->rlock) : weft_lock_release(c->lock);
    if (st == WEFT_EPERM || st == WEFT_ESTATE) return not_held("weft_condition_release", c);
    return st;
}

WEFT_API weft_status weft_condition_wait(weft_condition *c, int64_t timeout_ns) noexcept {
    WEFT_CHECK_HANDLE("weft_condition_wait", c);
    WEFT_CHECK_TIMEOUT("weft_condition_wait", timeout_ns);
    if (!held(c)) return not_held("weft_condition_wait", c);
    Deadline d(timeout_ns);
    (void)d.abs();  // fix the deadline at entry
    return wait_once(c, d, "weft_condition_wait");
}

WEFT_API weft_status weft_condition_wait_for(weft_condition *c, weft_predicate_fn pred, void *user_data,
                                             int64_t timeout_ns) noexcept {
    WEFT_CHECK_HANDLE("weft_condition_wait_for", c);
    if (!pred) return null_arg("weft_condition_wait_for", "pred");
    WEFT_CHECK_TIMEOUT("weft_condition_wait_for", timeout_ns);
    if (!held(c)) return not_held("weft_condition_wait_for", c);
    if (pred(user_data)) return WEFT_OK;
    if (timeout_ns == 0) return WEFT_ETIMEDOUT;
    Deadline d(timeout_ns);
    (void)d.abs();  // one deadline for the whole wait
    for (;;) {
        weft_status st = wait_once(c, d, "weft_condition_wait_for");
        if (st != WEFT_OK && st != WEFT_ETIMEDOUT) return st;  // the lock's owner died
        if (pred(user_data)) return WEFT_OK;
        if (st == WEFT_ETIMEDOUT || d.expired()) return WEFT_ETIMEDOUT;
    }
}

WEFT_API weft_status weft_condition_notify(weft_condition *c, int n) noexcept {
    WEFT_CHECK_HANDLE("weft_condition_notify", c);
    if (n < 0) return fail(WEFT_EINVAL, "weft_condition_notify: n is %d; use 0 or more", n);
    if (!held(c)) return not_held("weft_condition_notify", c);
    if (c->proc) {
        if (n > 0) wake_process(c, n);
        return WEFT_OK;
    }
    wake(c, n);
    return WEFT_OK;
}

WEFT_API weft_status weft_condition_notify_all(weft_condition *c) noexcept {
    WEFT_CHECK_HANDLE("weft_condition_notify_all", c);
    if (!held(c)) return not_held("weft_condition_notify_all", c);
    if (c->proc) {
        wake_process(c, INT_MAX);
        return WEFT_OK;
    }
    wake(c, INT_MAX);
    return WEFT_OK;
}

WEFT_API weft_status weft_condition_mark_consistent(weft_condition *c) noexcept {
    WEFT_CHECK_HANDLE("weft_condition_mark_consistent", c);
    if (c->rlock) return weft_rlock_mark_consistent(c->rlock);
    return weft_lock_mark_consistent(c->lock);
}

}  // extern "C"
