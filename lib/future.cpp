// Future: Python's concurrent.futures.Future, wait() and as_completed().
//
// One 64-byte cell per future (cell_cache.hpp: cached for reuse). `word` holds the state (bits 0..2),
// SLEEPERS (bit 3: a thread may sleep on this word in weft_future_wait/result)
// and CANCEL_REQ (bit 4: weft_future_cancel() asked a running task to stop;
// it survives the move into the final state). Every
// move into a final state (DONE, FAILED, CANCELLED) happens under `lock` (a
// WordLock), together with detaching the callback list and the waiter list;
// PENDING -> RUNNING is a lock-free compare-and-swap that a finisher under the
// lock also goes through with a CAS, so the races cancel/set_running,
// cancel/set_result and set_result/set_result each have exactly one winner.
// The finisher, after unlocking: wakes the futex sleepers (a system call only
// when SLEEPERS was on), notifies the waiter nodes, runs the callbacks. So
// completing a future nobody waits on is three uncontended CASes, no syscall.
//
// Waiter nodes serve wait_many and as_completed: a Waiter sits on the waiting
// thread's stack (wait_many, up to 16) or inside the iterator, is linked into
// one future's list under that future's lock, and points to a WaitGroup that
// all nodes of one waiting call share. Notifying a node: record FAILED, push
// the node on the group's lock-free done stack, bump the group's `fired`
// counter (the futex word, with a WAITING bit so an idle consumer costs no
// syscall), wake, and finally set the node's `released` flag -- the last
// touch. A waiter always unregisters before it returns: under the future's
// lock it unlinks a node still linked; a node already detached by a finisher
// may still be in flight, so it waits for `released` (a few instructions and
// one syscall away: finishers never block between detaching and releasing).
//
// On a pool worker (a WaitHook is installed, see wait_hook.hpp) every blocking
// wait here runs queued tasks of the worker's pool instead of sleeping, and
// sleeps in slices of 1 ms when none is queued, so tasks that wait on tasks of
// their own pool cannot deadlock it.
#include <atomic>
#include <climits>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <new>

#include <weft/future.h>

#include "internal/boundary.hpp"
#include "internal/cell_cache.hpp"
#include "internal/deadline.hpp"
#include "internal/futex.hpp"
#include "internal/handle.hpp"
#include "internal/task.hpp"
#include "internal/wait_hook.hpp"
#include "internal/word_lock.hpp"

namespace weft::detail {
namespace {

struct WaitGroup;

struct Waiter {
    Waiter *prev = nullptr;  // in the future's list (under its lock)
    Waiter *next = nullptr;
    Waiter *done_next = nullptr;  // in the group's done stack
    WaitGroup *group = nullptr;
    weft_future *future = nullptr;
    std::size_t index = 0;
    bool registered = false;  // owner's view: linked once, must unregister
    bool linked = false;      // under the future's lock
    std::atomic<std::uint32_t> released{0};  // 0 in flight, 1 released, 2 owner sleeps on it
};

struct WaitGroup {
    static constexpr std::uint32_t WAITING = 0x80000000u;
    std::atomic<std::uint32_t> fired{0};  // notifications so far | WAITING
    std::atomic<std::uint32_t> failed{0};
    std::atomic<Waiter *> done{nullptr};
};

struct CallbackNode {
    weft_future_callback cb;
    void *user_data;
    CallbackNode *next;
};

constexpr std::uint32_t kStateMask = 7, kSleepers = 8, kCancelReq = 16;
constexpr std::uint32_t PENDING = WEFT_FUTURE_PENDING, RUNNING = WEFT_FUTURE_RUNNING, DONE = WEFT_FUTURE_DONE,
                        FAILED = WEFT_FUTURE_FAILED, CANCELLED = WEFT_FUTURE_CANCELLED;

constexpr bool is_final(std::uint32_t w) noexcept { return (w & kStateMask) >= DONE; }
constexpr unsigned bit(std::uint32_t state) noexcept { return 1u << state; }

// Spins before sleeping in weft_future_wait (catches a result from a
// running worker without a syscall on either side).
constexpr int kWaitSpins = 100;

// A pool worker that waits (see wait_hook.hpp) runs queued tasks of its pool
// instead of sleeping; when none is queued it sleeps at most this long before
// looking again.
constexpr std::int64_t kHelpSliceNs = 1000000;  // 1 ms

// The absolute time to sleep until: the deadline, or one slice when helping.
std::int64_t sleep_until(Deadline &d, const WaitHook *hook) noexcept {
    std::int64_t abs = d.abs();
    if (!hook) return abs;
    std::int64_t slice = monotonic_now() + kHelpSliceNs;
    return slice < abs ? slice : abs;
}

bool help(WaitHook *hook) noexcept { return hook && hook->run_one(hook->ctx); }

}  // namespace
}  // namespace weft::detail

// One cache line: 64 bytes (checked below), so a million queued futures
// touch as few fresh pages as possible.
struct weft_future : weft::detail::Handle<weft::detail::Magic::future> {
    std::atomic<std::uint32_t> word{weft::detail::PENDING};  // state | SLEEPERS | CANCEL_REQ
    std::atomic<std::uint32_t> refs{1};
    weft::detail::WordLock lock;
    // Written under `lock` before the move into the final state; immutable
    // after. DONE uses `value`/`value_free`, FAILED `err_msg`/`err_code`.
    union {
        struct {
            void *value;
            weft_free_fn value_free;
        } ok;
        struct {
            char *err_msg;  // NULL when the message was empty
            weft_status err_code;
        } err;
    } out{};
    // Under `lock` until detached by the finisher.
    weft_future_callback cb0 = nullptr;  // the first callback, no allocation
    void *ud0 = nullptr;
    weft::detail::CallbackNode *cb_head = nullptr;  // the others, in order
    weft::detail::Waiter *waiters = nullptr;
};
static_assert(sizeof(weft_future) <= weft::detail::cells::kCellSize, "a future is one cell (cell_cache.hpp)");

struct weft_as_completed : weft::detail::Handle<weft::detail::Magic::as_completed> {
    std::size_t n = 0;
    weft_future **fs = nullptr;
    weft::detail::Waiter *nodes = nullptr;
    std::size_t *order = nullptr;  // indices ready to yield: [head, tail)
    std::size_t head = 0, tail = 0;
    weft::detail::WaitGroup group;
};

namespace weft::detail {

TaskState *&current_task() noexcept {
    static thread_local TaskState *cur = nullptr;  // trivial: no TLS constructor
    return cur;
}

namespace {

// What a finisher takes out of the future under the lock.
struct Detached {
    bool sleepers = false;
    bool failed = false;
    weft_future_callback cb0 = nullptr;
    void *ud0 = nullptr;
    CallbackNode *cbs = nullptr;
    Waiter *waiters = nullptr;
};

// Lock held. Move into final state `target` if the state is in `allowed`
// (a mask of bit(state)); `seen` receives the state found. On success the
// lists are detached into `d`. Fields the final state needs must be written
// before the call (the CAS publishes them).
bool finish_locked(weft_future *f, std::uint32_t target, unsigned allowed, std::uint32_t &seen, Detached &d) noexcept {
    std::uint32_t w = f->word.load(std::memory_order_relaxed);
    for (;;) {
        seen = w & kStateMask;
        if (!(allowed & bit(seen))) return false;
        if (f->word.compare_exchange_weak(w, target | (w & kCancelReq), std::memory_order_acq_rel,
                                          std::memory_order_relaxed))
            break;
    }
    d.sleepers = (w & kSleepers) != 0;
    d.failed = target == FAILED;
    d.cb0 = f->cb0;
    d.ud0 = f->ud0;
    d.cbs = f->cb_head;
    f->cb0 = nullptr;
    f->cb_head = nullptr;
    d.waiters = f->waiters;
    f->waiters = nullptr;
    for (Waiter *n = d.waiters; n; n = n->next) n->linked = false;
    return true;
}

void notify(Waiter *w, bool failed) noexcept {
    WaitGroup *g = w->group;
    if (failed) g->failed.store(1, std::memory_order_relaxed);
    Waiter *top = g->done.load(std::memory_order_relaxed);
    do {
        w->done_next = top;
    } while (!g->done.compare_exchange_weak(top, w, std::memory_order_release, std::memory_order_relaxed));
    std::uint32_t s = g->fired.load(std::memory_order_relaxed);
    while (!g->fired.compare_exchange_weak(s, (s & ~WaitGroup::WAITING) + 1, std::memory_order_release,
                                           std::memory_order_relaxed)) {
    }
    if (s & WaitGroup::WAITING) futex::wake_all(&g->fired);
    // The last touch: after this the owner may return and free the node.
    if (w->released.exchange(1, std::memory_order_release) == 2) futex::wake_all(&w->released);
}

// After unlocking: wake sleepers, notify nodes, then run callbacks in order.
void complete(weft_future *f, Detached &d) noexcept {
    if (d.sleepers) futex::wake_all(&f->word);
    for (Waiter *w = d.waiters; w;) {
        Waiter *next = w->next;  // read before the node is released
        notify(w, d.failed);
        w = next;
    }
    if (d.cb0) d.cb0(f, d.ud0);
    for (CallbackNode *c = d.cbs; c;) {
        CallbackNode *next = c->next;
        c->cb(f, c->user_data);
        delete c;
        c = next;
    }
}

// Link `w` into its future's list unless the future is finished already.
bool register_waiter(Waiter &w) noexcept {
    weft_future *f = w.future;
    f->lock.lock_forever();
    if (is_final(f->word.load(std::memory_order_acquire))) {
        f->lock.unlock();
        return false;
    }
    w.prev = nullptr;
    w.next = f->waiters;
    if (f->waiters) f->waiters->prev = &w;
    f->waiters = &w;
    w.linked = true;
    w.registered = true;
    f->lock.unlock();
    return true;
}

// Make sure no finisher touches `w` any more.
void unregister_waiter(Waiter &w) noexcept {
    if (!w.registered) return;
    weft_future *f = w.future;
    f->lock.lock_forever();
    bool linked = w.linked;
    if (linked) {
        if (w.prev)
            w.prev->next = w.next;
        else
            f->waiters = w.next;
        if (w.next) w.next->prev = w.prev;
        w.linked = false;
    }
    f->lock.unlock();
    w.registered = false;
    if (linked) return;
    // Detached by a finisher: wait until it has released the node.
    for (int i = 0; i < 100; ++i) {
        if (w.released.load(std::memory_order_acquire) == 1) return;
        futex::cpu_relax();
    }
    for (;;) {
        std::uint32_t r = 0;
        if (!w.released.compare_exchange_strong(r, 2, std::memory_order_acquire, std::memory_order_acquire)) {
            if (r == 1) return;
        }
        (void)futex::wait(&w.released, 2, Deadline::kNever);
    }
}

void free_future(weft_future *f) noexcept {
    // Last reference: nobody else can reach f. Finish an unfinished one so
    // every callback runs exactly once.
    if (!is_final(f->word.load(std::memory_order_acquire))) {
        Detached d;
        std::uint32_t seen;
        f->lock.lock_forever();
        bool moved = finish_locked(f, CANCELLED, bit(PENDING) | bit(RUNNING), seen, d);
        f->lock.unlock();
        if (moved) complete(f, d);
    }
    std::uint32_t st = f->word.load(std::memory_order_acquire) & kStateMask;
    if (st == DONE && f->out.ok.value_free) f->out.ok.value_free(f->out.ok.value);
    if (st == FAILED) std::free(f->out.err.err_msg);
    f->poison();
    f->~weft_future();
    cells::release(f);
}

weft_status wait_one(weft_future *f, std::int64_t timeout_ns) noexcept {
    std::uint32_t w = f->word.load(std::memory_order_acquire);
    if (is_final(w)) return WEFT_OK;
    if (timeout_ns == 0) return WEFT_ETIMEDOUT;
    WaitHook *hook = current_wait_hook();
    if (!hook) {
        for (int i = 0; i < kWaitSpins; ++i) {
            futex::cpu_relax();
            if (is_final(f->word.load(std::memory_order_acquire))) return WEFT_OK;
        }
    }
    Deadline d(timeout_ns);
    w = f->word.load(std::memory_order_acquire);
    for (;;) {
        if (is_final(w)) return WEFT_OK;
        if (help(hook)) {
            if (d.expired()) return is_final(f->word.load(std::memory_order_acquire)) ? WEFT_OK : WEFT_ETIMEDOUT;
            w = f->word.load(std::memory_order_acquire);
            continue;
        }
        if (!(w & kSleepers)) {
            if (!f->word.compare_exchange_weak(w, w | kSleepers, std::memory_order_acquire, std::memory_order_acquire))
                continue;
            w |= kSleepers;
        }
        if (d.expired()) return WEFT_ETIMEDOUT;
        (void)futex::wait(&f->word, w, sleep_until(d, hook));
        w = f->word.load(std::memory_order_acquire);
    }
}

// Sleep on a group until `fired` moves from `s` (or until `abs_ns`).
// Returns false when `s` had to be reloaded (the caller re-checks first).
bool group_sleep(WaitGroup &g, std::uint32_t s, std::int64_t abs_ns) noexcept {
    if (!(s & WaitGroup::WAITING)) {
        if (!g.fired.compare_exchange_strong(s, s | WaitGroup::WAITING, std::memory_order_acquire,
                                             std::memory_order_acquire))
            return false;
        s |= WaitGroup::WAITING;
    }
    (void)futex::wait(&g.fired, s, abs_ns);
    return true;
}

bool wait_condition(int mode, std::size_t done, std::size_t n, bool any_failed) noexcept {
    switch (mode) {
    case WEFT_WAIT_FIRST_COMPLETED:
        return done > 0;
    case WEFT_WAIT_FIRST_EXCEPTION:
        return any_failed || done == n;
    default:
        return done == n;
    }
}

std::size_t count_done(weft_future *const *fs, std::size_t n, bool *any_failed) noexcept {
    std::size_t done = 0;
    bool failed = false;
    for (std::size_t i = 0; i < n; ++i) {
        std::uint32_t st = fs[i]->word.load(std::memory_order_acquire) & kStateMask;
        if (st >= DONE) ++done;
        if (st == FAILED) failed = true;
    }
    if (any_failed) *any_failed = failed;
    return done;
}

// Move what finishers pushed onto the group's done stack into it->order, in
// the order they were pushed.
void collect(weft_as_completed *it) noexcept {
    Waiter *list = it->group.done.exchange(nullptr, std::memory_order_acquire);
    Waiter *rev = nullptr;
    while (list) {
        Waiter *next = list->done_next;
        list->done_next = rev;
        rev = list;
        list = next;
    }
    for (; rev; rev = rev->done_next) it->order[it->tail++] = rev->index;
}

}  // namespace
}  // namespace weft::detail

using namespace weft::detail;

extern "C" {

WEFT_API weft_status weft_future_create(weft_future **out) noexcept {
    if (!out) return null_arg("weft_future_create", "out");
    *out = nullptr;
    void *mem = cells::alloc();  // 64 bytes, cached for reuse (cell_cache.hpp)
    if (!mem) return fail(WEFT_ENOMEM, "weft_future_create: out of memory");
    weft_future *f = new (mem) weft_future;
    *out = f;
    return WEFT_OK;
}

WEFT_API void weft_future_destroy(weft_future *f) noexcept {
    if (!valid(f)) return;
    if (f->refs.fetch_sub(1, std::memory_order_acq_rel) != 1) return;
    free_future(f);
}

WEFT_API weft_status weft_future_retain(weft_future *f) noexcept {
    WEFT_CHECK_HANDLE("weft_future_retain", f);
    std::uint32_t r = f->refs.load(std::memory_order_relaxed);
    do {
        if (r == 0) return misuse("weft_future_retain", "f", f);
        if (r >= UINT32_MAX - 1)
            return fail(WEFT_EOVERFLOW, "weft_future_retain: the future (%p) has %u references already",
                        static_cast<void *>(f), r);
    } while (!f->refs.compare_exchange_weak(r, r + 1, std::memory_order_relaxed, std::memory_order_relaxed));
    return WEFT_OK;
}

WEFT_API weft_status weft_future_set_running(weft_future *f) noexcept {
    WEFT_CHECK_HANDLE("weft_future_set_running", f);
    std::uint32_t w = f->word.load(std::memory_order_relaxed);
    while ((w & kStateMask) == PENDING) {
        if (f->word.compare_exchange_weak(w, (w & ~kStateMask) | RUNNING, std::memory_order_acquire,
                                          std::memory_order_relaxed))
            return WEFT_OK;
    }
    if ((w & kStateMask) == CANCELLED)
        return fail(WEFT_ECANCELLED, "weft_future_set_running: the future (%p) was cancelled; skip the task",
                    static_cast<void *>(f));
    static const char *const names[] = {"PENDING", "RUNNING", "DONE", "FAILED", "CANCELLED"};
    return fail(WEFT_ESTATE, "weft_future_set_running: the future (%p) is %s, not PENDING", static_cast<void *>(f),
                names[w & kStateMask]);
}

WEFT_API weft_status weft_future_set_result(weft_future *f, void *value, weft_free_fn value_free) noexcept {
    WEFT_CHECK_HANDLE("weft_future_set_result", f);
    Detached d;
    std::uint32_t seen;
    f->lock.lock_forever();
    if (is_final(f->word.load(std::memory_order_relaxed))) {
        f->lock.unlock();
        return fail(WEFT_ESTATE, "weft_future_set_result: the future (%p) is finished already",
                    static_cast<void *>(f));
    }
    f->out.ok.value = value;  // only this thread can finish it now (we hold the lock)
    f->out.ok.value_free = value_free;
    (void)finish_locked(f, DONE, bit(PENDING) | bit(RUNNING), seen, d);
    f->lock.unlock();
    complete(f, d);
    return WEFT_OK;
}

WEFT_API weft_status weft_future_set_error(weft_future *f, weft_status code, const char *message) noexcept {
    WEFT_CHECK_HANDLE("weft_future_set_error", f);
    if (code >= 0)
        return fail(WEFT_EINVAL, "weft_future_set_error: code is %d; use a negative status (a WEFT_E* code)", code);
    char *copy = nullptr;
    if (message && *message) {
        copy = strdup(message);
        if (!copy) return fail(WEFT_ENOMEM, "weft_future_set_error: out of memory copying the message");
    }
    Detached d;
    std::uint32_t seen;
    f->lock.lock_forever();
    if (is_final(f->word.load(std::memory_order_relaxed))) {
        f->lock.unlock();
        std::free(copy);
        return fail(WEFT_ESTATE, "weft_future_set_error: the future (%p) is finished already",
                    static_cast<void *>(f));
    }
    f->out.err.err_code = code;
    f->out.err.err_msg = copy;
    (void)finish_locked(f, FAILED, bit(PENDING) | bit(RUNNING), seen, d);
    f->lock.unlock();
    complete(f, d);
    return WEFT_OK;
}

WEFT_API int weft_future_get_state(const weft_future *f) noexcept {
    WEFT_CHECK_HANDLE("weft_future_get_state", f);
    return static_cast<int>(f->word.load(std::memory_order_acquire) & kStateMask);
}

WEFT_API int weft_future_done(const weft_future *f) noexcept {
    WEFT_CHECK_HANDLE("weft_future_done", f);
    return is_final(f->word.load(std::memory_order_acquire)) ? 1 : 0;
}

WEFT_API weft_status weft_future_wait(weft_future *f, int64_t timeout_ns) noexcept {
    WEFT_CHECK_HANDLE("weft_future_wait", f);
    WEFT_CHECK_TIMEOUT("weft_future_wait", timeout_ns);
    return wait_one(f, timeout_ns);
}

WEFT_API weft_status weft_future_result(weft_future *f, void **value, int64_t timeout_ns) noexcept {
    WEFT_CHECK_HANDLE("weft_future_result", f);
    if (!value) return null_arg("weft_future_result", "value");
    *value = nullptr;
    WEFT_CHECK_TIMEOUT("weft_future_result", timeout_ns);
    weft_status s = wait_one(f, timeout_ns);
    if (s != WEFT_OK) return s;
    switch (f->word.load(std::memory_order_acquire) & kStateMask) {
    case DONE:
        *value = f->out.ok.value;
        return WEFT_OK;
    case FAILED:
        if (f->out.err.err_msg) return fail(f->out.err.err_code, "%s", f->out.err.err_msg);
        return fail(f->out.err.err_code, "the task failed with %s (%d)", weft_status_name(f->out.err.err_code),
                    f->out.err.err_code);
    default:
        return fail(WEFT_ECANCELLED, "weft_future_result: the future (%p) was cancelled", static_cast<void *>(f));
    }
}

WEFT_API weft_status weft_future_error(const weft_future *f, weft_status *code, const char **message) noexcept {
    WEFT_CHECK_HANDLE("weft_future_error", f);
    if (!code) return null_arg("weft_future_error", "code");
    if (!message) return null_arg("weft_future_error", "message");
    if ((f->word.load(std::memory_order_acquire) & kStateMask) != FAILED)
        return fail(WEFT_ESTATE, "weft_future_error: the future (%p) is not FAILED", static_cast<const void *>(f));
    *code = f->out.err.err_code;
    *message = f->out.err.err_msg ? f->out.err.err_msg : "";
    return WEFT_OK;
}

WEFT_API weft_status weft_future_cancel(weft_future *f) noexcept {
    WEFT_CHECK_HANDLE("weft_future_cancel", f);
    Detached d;
    std::uint32_t seen;
    f->lock.lock_forever();
    if (finish_locked(f, CANCELLED, bit(PENDING), seen, d)) {
        f->word.fetch_or(kCancelReq, std::memory_order_release);
        f->lock.unlock();
        complete(f, d);
        return WEFT_OK;
    }
    if (seen == RUNNING) {  // cannot finish while we hold the lock
        f->word.fetch_or(kCancelReq, std::memory_order_release);
        f->lock.unlock();
        return WEFT_EBUSY;
    }
    f->lock.unlock();
    if (seen == CANCELLED) return WEFT_OK;
    return fail(WEFT_ESTATE, "weft_future_cancel: the future (%p) is %s already", static_cast<void *>(f),
                seen == DONE ? "DONE" : "FAILED");
}

WEFT_API int weft_future_cancel_requested(const weft_future *f) noexcept {
    WEFT_CHECK_HANDLE("weft_future_cancel_requested", f);
    std::uint32_t w = f->word.load(std::memory_order_acquire);
    return (w & kCancelReq) != 0 || (w & kStateMask) == CANCELLED ? 1 : 0;
}

WEFT_API weft_status weft_future_add_done_callback(weft_future *f, weft_future_callback cb, void *user_data) noexcept {
    WEFT_CHECK_HANDLE("weft_future_add_done_callback", f);
    if (!cb) return null_arg("weft_future_add_done_callback", "cb");
    f->lock.lock_forever();
    if (is_final(f->word.load(std::memory_order_relaxed))) {
        f->lock.unlock();
        cb(f, user_data);
        return WEFT_OK;
    }
    if (!f->cb0) {
        f->cb0 = cb;
        f->ud0 = user_data;
        f->lock.unlock();
        return WEFT_OK;
    }
    f->lock.unlock();
    // Allocate outside the lock, then look again.
    CallbackNode *node = new (std::nothrow) CallbackNode{cb, user_data, nullptr};
    if (!node) return fail(WEFT_ENOMEM, "weft_future_add_done_callback: out of memory");
    f->lock.lock_forever();
    if (is_final(f->word.load(std::memory_order_relaxed))) {
        f->lock.unlock();
        delete node;
        cb(f, user_data);
        return WEFT_OK;
    }
    CallbackNode **link = &f->cb_head;  // append: callbacks run in the order added
    while (*link) link = &(*link)->next;
    *link = node;
    f->lock.unlock();
    return WEFT_OK;
}

WEFT_API weft_status weft_future_wait_many(weft_future *const *fs, size_t n, int mode, int64_t timeout_ns,
                                           size_t *n_done) noexcept {
    static const char func[] = "weft_future_wait_many";
    if (mode != WEFT_WAIT_FIRST_COMPLETED && mode != WEFT_WAIT_FIRST_EXCEPTION && mode != WEFT_WAIT_ALL_COMPLETED)
        return fail(WEFT_EINVAL, "%s: mode is %d; use a weft_wait_mode", func, mode);
    WEFT_CHECK_TIMEOUT(func, timeout_ns);
    if (n_done) *n_done = 0;
    if (n == 0) return WEFT_OK;
    if (!fs) return fail(WEFT_EINVAL, "%s: fs is NULL but n is %zu", func, n);
    for (size_t i = 0; i < n; ++i)
        if (!valid(fs[i]))
            return fail(WEFT_EMISUSE, "%s: fs[%zu] (%p) is NULL, destroyed or not a future", func, i,
                        static_cast<const void *>(fs[i]));

    bool any_failed;
    size_t done = count_done(fs, n, &any_failed);
    if (wait_condition(mode, done, n, any_failed)) {
        if (n_done) *n_done = done;
        return WEFT_OK;
    }
    if (timeout_ns == 0) {
        if (n_done) *n_done = done;
        return WEFT_ETIMEDOUT;
    }

    constexpr size_t kLocal = 16;
    Waiter local[kLocal];
    Waiter *nodes = local;
    if (n > kLocal) {
        nodes = new (std::nothrow) Waiter[n];
        if (!nodes) return fail(WEFT_ENOMEM, "%s: out of memory for %zu waiter nodes", func, n);
    }
    WaitGroup group;
    size_t pre = 0;
    bool pre_failed = false;
    for (size_t i = 0; i < n; ++i) {
        nodes[i].future = fs[i];
        nodes[i].group = &group;
        nodes[i].index = i;
        if (!register_waiter(nodes[i])) {
            ++pre;
            if ((fs[i]->word.load(std::memory_order_acquire) & kStateMask) == FAILED) pre_failed = true;
        }
    }
    Deadline d(timeout_ns);
    WaitHook *hook = current_wait_hook();
    weft_status status = WEFT_ETIMEDOUT;
    for (;;) {
        std::uint32_t s = group.fired.load(std::memory_order_acquire);
        size_t now_done = pre + (s & ~WaitGroup::WAITING);
        bool failed = pre_failed || group.failed.load(std::memory_order_relaxed);
        if (wait_condition(mode, now_done, n, failed)) {
            status = WEFT_OK;
            break;
        }
        if (d.expired()) break;
        if (help(hook)) continue;
        (void)group_sleep(group, s, sleep_until(d, hook));
    }
    for (size_t i = 0; i < n; ++i) unregister_waiter(nodes[i]);
    if (nodes != local) delete[] nodes;
    if (n_done) *n_done = count_done(fs, n, nullptr);
    return status;
}

WEFT_API weft_status weft_as_completed_create(weft_as_completed **out, weft_future *const *fs, size_t n) noexcept {
    static const char func[] = "weft_as_completed_create";
    if (!out) return null_arg(func, "out");
    *out = nullptr;
    if (n > 0 && !fs) return fail(WEFT_EINVAL, "%s: fs is NULL but n is %zu", func, n);
    for (size_t i = 0; i < n; ++i)
        if (!valid(fs[i]))
            return fail(WEFT_EMISUSE, "%s: fs[%zu] (%p) is NULL, destroyed or not a future", func, i,
                        static_cast<const void *>(fs[i]));
    weft_as_completed *it = new (std::nothrow) weft_as_completed;
    if (!it) return fail(WEFT_ENOMEM, "%s: out of memory", func);
    if (n > 0) {
        it->fs = new (std::nothrow) weft_future *[n];
        it->nodes = new (std::nothrow) Waiter[n];
        it->order = new (std::nothrow) size_t[n];
        if (!it->fs || !it->nodes || !it->order) {
            delete[] it->fs;
            delete[] it->nodes;
            delete[] it->order;
            delete it;
            return fail(WEFT_ENOMEM, "%s: out of memory for %zu futures", func, n);
        }
    }
    for (size_t i = 0; i < n; ++i) {
        weft_status s = weft_future_retain(fs[i]);
        if (s != WEFT_OK) {
            for (size_t j = 0; j < i; ++j) weft_future_destroy(fs[j]);
            delete[] it->fs;
            delete[] it->nodes;
            delete[] it->order;
            delete it;
            return s;
        }
        it->fs[i] = fs[i];
    }
    it->n = n;
    for (size_t i = 0; i < n; ++i) {
        Waiter &w = it->nodes[i];
        w.future = fs[i];
        w.group = &it->group;
        w.index = i;
        if (!register_waiter(w)) it->order[it->tail++] = i;
    }
    *out = it;
    return WEFT_OK;
}

WEFT_API weft_status weft_as_completed_next(weft_as_completed *it, weft_future **f, int64_t timeout_ns) noexcept {
    WEFT_CHECK_HANDLE("weft_as_completed_next", it);
    if (!f) return null_arg("weft_as_completed_next", "f");
    *f = nullptr;
    WEFT_CHECK_TIMEOUT("weft_as_completed_next", timeout_ns);
    if (it->head == it->tail) {
        if (it->head == it->n) return WEFT_ECLOSED;
        collect(it);
    }
    if (it->head == it->tail && timeout_ns != 0) {
        Deadline d(timeout_ns);
        WaitHook *hook = current_wait_hook();
        for (;;) {
            std::uint32_t s = it->group.fired.load(std::memory_order_acquire);
            collect(it);
            if (it->head != it->tail || d.expired()) break;
            if (help(hook)) continue;
            (void)group_sleep(it->group, s, sleep_until(d, hook));
        }
    }
    if (it->head == it->tail) return WEFT_ETIMEDOUT;
    *f = it->fs[it->order[it->head++]];
    return WEFT_OK;
}

WEFT_API void weft_as_completed_destroy(weft_as_completed *it) noexcept {
    if (!valid(it)) return;
    it->poison();
    for (size_t i = 0; i < it->n; ++i) unregister_waiter(it->nodes[i]);
    for (size_t i = 0; i < it->n; ++i) weft_future_destroy(it->fs[i]);
    delete[] it->fs;
    delete[] it->nodes;
    delete[] it->order;
    delete it;
}

WEFT_API weft_status weft_task_fail(weft_status code, const char *message) noexcept {
    if (code >= 0)
        return fail(WEFT_EINVAL, "weft_task_fail: code is %d; use a negative status (a WEFT_E* code)", code);
    TaskState *t = current_task();
    if (!t) return fail(WEFT_ESTATE, "weft_task_fail: the calling thread is not running a task");
    t->failed = true;
    t->code = code;
    std::snprintf(t->message, sizeof t->message, "%s", message ? message : "");
    return WEFT_OK;
}

WEFT_API int weft_task_cancel_requested(void) noexcept {
    TaskState *t = current_task();
    if (!t || !t->future) return 0;
    return weft_future_cancel_requested(t->future) == 1 ? 1 : 0;
}

WEFT_API weft_future *weft_task_current(void) noexcept {
    TaskState *t = current_task();
    return t ? t->future : nullptr;
}

}  // extern "C"
