// Thread pool: an intrusive FIFO of task nodes under one WordLock, and task
// nodes recycled through a free list under the same lock, so the steady state
// allocates nothing but the futures callers ask for. An idle worker puts its
// own parking slot on an idle stack (under the lock) and spins, yields, then
// sleeps on the slot's futex word; a submit pops one idle slot and signals
// exactly that worker, with a system call only if it is really asleep. So a
// burst of submits wakes each idle worker once, and busy workers are never
// woken at all.
//
// A worker waiting for a future (apply, map, or weft_future_wait inside a task)
// runs queued tasks of its pool meanwhile, through the thread's WaitHook, so
// tasks that wait on each other cannot starve the pool of workers.
#include <sched.h>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <new>
#include <string>
#include <vector>

#include <weft/pool.h>
#include <weft/system.h>
#include <weft/thread.h>

#include "internal/boundary.hpp"
#include "internal/event_count.hpp"
#include "internal/handle.hpp"
#include "internal/task.hpp"
#include "internal/wait_hook.hpp"
#include "internal/word_lock.hpp"

namespace weft::detail {
namespace {

struct MapJob;

struct Task {
    Task *next = nullptr;
    weft_task_fn fn = nullptr;
    void *arg = nullptr;
    weft_future *future = nullptr;  // the pool's reference, or null
    weft_pool_callback callback = nullptr;
    weft_pool_error_callback error_callback = nullptr;
    void *user_data = nullptr;
    MapJob *job = nullptr;  // a map chunk when set (the node holds a job reference)
    size_t chunk = 0;
};

// One map call: chunks write results straight into the caller's array. The
// job lives on the heap with a reference per queued chunk node plus the
// caller's, so a chunk cancelled by the caller's deadline may stay queued
// after the caller returned. Each chunk ends exactly once, by whoever moves
// its state: 0 queued -> 1 running -> 2 done, or 0 queued -> 3 cancelled.
struct MapJob {
    weft_task_fn fn = nullptr;
    void *const *args = nullptr;
    void **results = nullptr;
    size_t n, chunksize = 1, chunks;
    bool unordered = false;
    std::vector<weft_status> codes;
    std::vector<std::string> messages;  // per failed argument
    std::vector<std::atomic<int>> chunk_state;
    std::atomic<size_t> chunks_left;
    std::atomic<int> refs;
    std::atomic<std::uint32_t> progress{0};  // futex word bumped per ended chunk
    WordLock lock;                           // guards `finished`
    std::vector<size_t> finished;            // ended chunks, in order (unordered maps)

    MapJob(size_t n_, size_t chunksize_)
        : n(n_), chunksize(chunksize_), chunks((n_ + chunksize_ - 1) / chunksize_), codes(n_, WEFT_OK),
          messages(n_), chunk_state(chunks), chunks_left(chunks), refs(static_cast<int>(chunks) + 1) {
        finished.reserve(chunks);
    }

    size_t begin(size_t c) const noexcept { return c * chunksize; }
    size_t end(size_t c) const noexcept { return std::min(n, (c + 1) * chunksize); }

    void release() noexcept {
        if (refs.fetch_sub(1, std::memory_order_acq_rel) == 1) delete this;
    }

    // Cancel a chunk that has not started; false when it already started.
    bool cancel(size_t c) noexcept {
        int expect = 0;
        if (!chunk_state[c].compare_exchange_strong(expect, 3, std::memory_order_acq_rel)) return false;
        for (size_t i = begin(c); i < end(c); i++) {
            codes[i] = WEFT_ECANCELLED;
            results[i] = nullptr;
        }
        ended(c);
        return true;
    }

    void ended(size_t c) noexcept {
        lock.lock_forever();
        finished.push_back(c);  // reserved up front: cannot throw
        lock.unlock();
        chunks_left.fetch_sub(1, std::memory_order_acq_rel);
        progress.fetch_add(1, std::memory_order_release);
        futex::wake_all(&progress);
    }
};

}  // namespace
}  // namespace weft::detail

using namespace weft::detail;

namespace weft::detail {
namespace {

// An idle worker's parking spot.
struct IdleSlot {
    static constexpr std::uint32_t kSpinning = 0, kSleeping = 1, kSignaled = 2;
    std::atomic<std::uint32_t> state{kSpinning};
    IdleSlot *next = nullptr;

    void signal() noexcept {
        if (state.exchange(kSignaled, std::memory_order_acq_rel) == kSleeping) futex::wake(&state, 1);
    }

    // Spin, yield, then sleep until signalled.
    void park() noexcept {
        for (int i = 0; i < 200; i++) {
            if (state.load(std::memory_order_acquire) == kSignaled) return;
            futex::cpu_relax();
        }
        for (int i = 0; i < 4; i++) {
            sched_yield();
            if (state.load(std::memory_order_acquire) == kSignaled) return;
        }
        std::uint32_t expect = kSpinning;
        if (!state.compare_exchange_strong(expect, kSleeping, std::memory_order_acq_rel)) return;  // signalled
        while (state.load(std::memory_order_acquire) != kSignaled) futex::wait(&state, kSleeping, Deadline::kNever);
    }
};

// A worker's own record. Its counters are written only by the worker (plain
// increments, no lock) and summed by weft_pool_stats_get().
struct WorkerCtx {
    weft_pool *pool;
    int index;
    std::atomic<std::int64_t> completed{0}, failed{0};

    static void bump(std::atomic<std::int64_t> &c) noexcept {
        c.store(c.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
    }
};

}  // namespace
}  // namespace weft::detail

struct weft_pool : Handle<Magic::pool> {
    WordLock lock;
    Task *head = nullptr, *tail = nullptr, *free_list = nullptr;
    std::int64_t queued = 0;
    size_t max_queued = 0;
    bool closed = false;
    int target_workers = 0, live_workers = 0, running = 0;
    IdleSlot *idle = nullptr;  // stack of parked workers
    std::int64_t retired_completed = 0, retired_failed = 0;  // of workers that exited
    std::atomic<std::int64_t> cancelled{0};
    std::vector<WorkerCtx *> contexts;  // live workers, for statistics
    EventCount space;  // a bounded pool's submitters wait here for room
    std::atomic<std::uint32_t> exit_seq{0};
    std::vector<weft_thread *> threads;
    std::vector<weft_future *> running_futures;  // one slot per worker index (terminate asks them to stop)
    std::string prefix;
    weft_pool_init_fn initializer = nullptr;
    void *initializer_data = nullptr;
    int next_worker_number = 0;

    ~weft_pool() {
        for (Task *t = free_list; t;) {
            Task *n = t->next;
            delete t;
            t = n;
        }
    }

    // ---- queue, under the lock ----
    Task *new_node_locked() {
        if (Task *t = free_list) {
            free_list = t->next;
            *t = Task{};
            return t;
        }
        return new Task;
    }
    void recycle_locked(Task *t) noexcept {
        t->next = free_list;
        free_list = t;
    }
    void push_locked(Task *t) noexcept {
        t->next = nullptr;
        if (tail)
            tail->next = t;
        else
            head = t;
        tail = t;
        queued++;
    }
    Task *pop_locked() noexcept {
        Task *t = head;
        if (!t) return nullptr;
        head = t->next;
        if (!head) tail = nullptr;
        queued--;
        if (max_queued) space.notify_all();
        return t;
    }

    // Enqueue a filled-in node (fill() runs under the lock on a fresh node).
    template <class Fill>
    weft_status enqueue(const char *func, Deadline &d, Fill &&fill) {
        lock.lock_forever();
        for (;;) {
            if (closed) {
                lock.unlock();
                return fail(WEFT_ECLOSED, "%s: the pool is closed", func);
            }
            if (max_queued == 0 || static_cast<size_t>(queued) < max_queued) break;
            if (d.poll()) {
                lock.unlock();
                return fail(WEFT_ETIMEDOUT, "%s: %zu tasks are queued already (max_queued)", func, max_queued);
            }
            // Announced under the lock, so a pop that makes room after this
            // point moves the epoch and the wait returns at once.
            std::uint32_t key = space.prepare_wait();
            lock.unlock();
            futex::WaitResult r = space.wait(key, d.abs());
            lock.lock_forever();
            if ((r == futex::WaitResult::timed_out || d.expired()) && !closed && static_cast<size_t>(queued) >= max_queued) {
                lock.unlock();
                return fail(WEFT_ETIMEDOUT, "%s: %zu tasks are queued already (max_queued)", func, max_queued);
            }
        }
        Task *t;
        try {
            t = new_node_locked();
        } catch (...) {
            lock.unlock();
            throw;
        }
        fill(t);
        push_locked(t);
        IdleSlot *w = idle;
        if (w) idle = w->next;
        lock.unlock();
        if (w) w->signal();
        return WEFT_OK;
    }

    // Under the lock: take every parked worker off the idle stack (to signal
    // after unlocking: shutdown, resize).
    IdleSlot *take_idle_locked() noexcept {
        IdleSlot *all = idle;
        idle = nullptr;
        return all;
    }
    static void signal_all(IdleSlot *w) noexcept {
        while (w) {
            IdleSlot *next = w->next;  // read before signal: the worker may reuse its slot at once
            w->signal();
            w = next;
        }
    }

    // ---- running tasks ----
    void run(Task *t, WorkerCtx *w, bool tracked) noexcept;
    void cancel_task(Task *t) noexcept;
    bool run_one_pending(WorkerCtx *w) noexcept;
    static void *worker_main(void *arg);
    weft_status start_worker_locked();
    weft_status wait_workers(Deadline &d);
};

namespace weft::detail {
namespace {

// The pool a thread works for, so waits inside tasks help it.
thread_local WorkerCtx *tl_worker = nullptr;

bool help_one(void *ctx) noexcept {
    auto *w = static_cast<WorkerCtx *>(ctx);
    return w->pool->run_one_pending(w);
}

}  // namespace
}  // namespace weft::detail

void weft_pool::cancel_task(Task *t) noexcept {
    if (t->job) {
        t->job->cancel(t->chunk);
        t->job->release();
        return;
    }
    if (t->future) {
        weft_future_cancel(t->future);
        weft_future_destroy(t->future);
    }
    if (t->error_callback) t->error_callback(WEFT_ECANCELLED, "the task was cancelled before it ran", t->user_data);
}

// Run one task on worker `w`. A `tracked` task's future is the worker's
// running slot: the worker loop clears the slot and drops the pool's
// reference; an untracked (nested) task drops it here.
void weft_pool::run(Task *t, WorkerCtx *w, bool tracked) noexcept {
    if (MapJob *job = t->job) {
        int expect = 0;
        bool mine = job->chunk_state[t->chunk].compare_exchange_strong(expect, 1, std::memory_order_acq_rel);
        if (mine) {  // else cancelled by the caller's deadline, already ended
            for (size_t i = job->begin(t->chunk); i < job->end(t->chunk); i++) {
                TaskScope scope(nullptr);
                void *r = job->fn(job->args[i]);
                if (scope.failed()) {
                    job->codes[i] = scope.code();
                    try {
                        job->messages[i] = scope.message() ? scope.message() : "";
                    } catch (...) {
                    }
                    job->results[i] = nullptr;
                } else {
                    job->results[i] = r;
                }
            }
            job->chunk_state[t->chunk].store(2, std::memory_order_release);
            WorkerCtx::bump(w->completed);
            job->ended(t->chunk);
        }
        job->release();
        return;
    }
    weft_future *f = t->future;
    if (f && weft_future_set_running(f) != WEFT_OK) {  // cancelled while queued
        cancelled.fetch_add(1, std::memory_order_relaxed);
        if (t->error_callback) t->error_callback(WEFT_ECANCELLED, "the task was cancelled before it ran", t->user_data);
        if (!tracked) weft_future_destroy(f);
        return;
    }
    bool ok;
    {
        TaskScope scope(f);
        void *r = t->fn(t->arg);
        scope.finish(r, nullptr);
        ok = !scope.failed();
        if (ok) {
            if (t->callback) t->callback(r, t->user_data);
        } else if (t->error_callback) {
            t->error_callback(scope.code(), scope.message() ? scope.message() : "", t->user_data);
        }
    }
    WorkerCtx::bump(w->completed);
    if (!ok) WorkerCtx::bump(w->failed);
    if (f && !tracked) weft_future_destroy(f);
}

bool weft_pool::run_one_pending(WorkerCtx *w) noexcept {
    lock.lock_forever();
    Task *t = pop_locked();
    if (t) running++;
    lock.unlock();
    if (!t) return false;
    Task copy = *t;
    run(&copy, w, false);  // nested inside a waiting task: not the worker's slot
    lock.lock_forever();
    running--;
    recycle_locked(t);
    lock.unlock();
    return true;
}

void *weft_pool::worker_main(void *arg) {
    auto *ctx = static_cast<WorkerCtx *>(arg);
    weft_pool *p = ctx->pool;
    tl_worker = ctx;
    WaitHook hook{help_one, ctx};
    WaitHookScope hook_scope(&hook);
    if (p->initializer) p->initializer(p->initializer_data);
    Task *done = nullptr;
    weft_future *done_future = nullptr;  // the pool's reference, dropped once the slot is clear
    const auto slot_index = static_cast<size_t>(ctx->index);
    p->lock.lock_forever();
    for (;;) {
        if (done) {
            p->running--;
            p->running_futures[slot_index] = nullptr;
            p->recycle_locked(done);
            done = nullptr;
        }
        if (p->live_workers > p->target_workers) break;  // resized down
        if (Task *t = p->pop_locked()) {
            p->running++;
            p->running_futures[slot_index] = t->future;
            p->lock.unlock();
            if (done_future) weft_future_destroy(done_future);
            p->run(t, ctx, true);
            done = t;
            done_future = t->future;
            p->lock.lock_forever();
            continue;
        }
        if (p->closed) break;
        IdleSlot slot;
        slot.next = p->idle;
        p->idle = &slot;
        p->lock.unlock();
        if (done_future) weft_future_destroy(done_future);
        done_future = nullptr;
        slot.park();  // returns once popped off the idle stack and signalled
        p->lock.lock_forever();
    }
    p->live_workers--;
    p->retired_completed += ctx->completed.load(std::memory_order_relaxed);
    p->retired_failed += ctx->failed.load(std::memory_order_relaxed);
    p->contexts.erase(std::find(p->contexts.begin(), p->contexts.end(), ctx));
    p->exit_seq.fetch_add(1, std::memory_order_release);
    p->lock.unlock();
    futex::wake_all(&p->exit_seq);
    if (done_future) weft_future_destroy(done_future);
    tl_worker = nullptr;
    delete ctx;
    return nullptr;
}

weft_status weft_pool::start_worker_locked() {
    auto *ctx = new WorkerCtx{this, next_worker_number};
    char name[64];
    std::snprintf(name, sizeof name, "%s-%d", prefix.c_str(), next_worker_number);
    weft_thread_options o = WEFT_THREAD_OPTIONS_INIT;
    o.name = name;
    o.daemon = 1;
    if (running_futures.size() <= static_cast<size_t>(next_worker_number))
        running_futures.resize(static_cast<size_t>(next_worker_number) + 1, nullptr);
    threads.reserve(threads.size() + 1);
    contexts.reserve(contexts.size() + 1);
    weft_thread *t;
    live_workers++;  // before start: the worker may run and check at once
    weft_status s = weft_thread_spawn(&t, worker_main, ctx, &o);
    if (s != WEFT_OK) {
        live_workers--;
        delete ctx;
        return s;
    }
    next_worker_number++;
    threads.push_back(t);
    contexts.push_back(ctx);  // reserved above; the worker needs our lock before it can leave
    return WEFT_OK;
}

weft_status weft_pool::wait_workers(Deadline &d) {
    lock.lock_forever();
    while (live_workers > 0) {
        if (d.poll()) break;
        std::uint32_t s = exit_seq.load(std::memory_order_relaxed);
        lock.unlock();
        futex::WaitResult r = futex::wait(&exit_seq, s, d.abs());
        lock.lock_forever();
        if (r == futex::WaitResult::timed_out || d.expired()) break;
    }
    bool done = live_workers == 0;
    std::vector<weft_thread *> ts;
    if (done) ts.swap(threads);
    lock.unlock();
    for (weft_thread *t : ts) {
        weft_thread_join(t, nullptr, WEFT_FOREVER);  // already returned or about to
        weft_thread_destroy(t);
    }
    return done ? WEFT_OK : WEFT_ETIMEDOUT;
}

namespace {

weft_status check_fn(const char *func, weft_task_fn fn) {
    return fn ? WEFT_OK : null_arg(func, "fn");
}

}  // namespace

extern "C" {

WEFT_API weft_status weft_pool_create(weft_pool **out, const weft_pool_options *opts) noexcept {
    if (!out) return null_arg("weft_pool_create", "out");
    *out = nullptr;
    weft_pool_options o = WEFT_POOL_OPTIONS_INIT;
    if (weft_status s = check_version("weft_pool_create", opts, WEFT_POOL_OPTIONS_VERSION)) return s;
    if (opts) o = *opts;
    if (o.workers < 0) return fail(WEFT_EINVAL, "weft_pool_create: opts->workers is %d; use 0 (CPU count) or more", o.workers);
    return guarded("weft_pool_create", [&]() -> weft_status {
        auto *p = new weft_pool;
        p->target_workers = o.workers ? o.workers : weft_cpu_count();
        p->prefix = o.name_prefix ? o.name_prefix : "weft-pool";
        p->initializer = o.initializer;
        p->initializer_data = o.initializer_data;
        p->max_queued = o.max_queued;
        p->lock.lock_forever();
        weft_status s = WEFT_OK;
        for (int i = 0; i < p->target_workers && s == WEFT_OK; i++) {
            try {
                s = p->start_worker_locked();
            } catch (...) {
                s = fail(WEFT_ENOMEM, "weft_pool_create: out of memory");
            }
        }
        p->lock.unlock();
        if (s != WEFT_OK) {
            weft_status keep = s;
            weft_error saved = *weft_last_error();
            weft_pool_destroy(p);
            return fail(keep, "%s", saved.message);
        }
        *out = p;
        return WEFT_OK;
    });
}

WEFT_API weft_status weft_pool_shutdown(weft_pool *pool, int wait, int cancel_pending) noexcept {
    WEFT_CHECK_HANDLE("weft_pool_shutdown", pool);
    if (wait && tl_worker && tl_worker->pool == pool)
        return fail(WEFT_EDEADLK, "weft_pool_shutdown: waiting from one of the pool's own tasks would deadlock");
    Task *list = nullptr;
    pool->lock.lock_forever();
    pool->closed = true;
    if (cancel_pending) {
        list = pool->head;
        pool->head = pool->tail = nullptr;
        pool->queued = 0;
    }
    IdleSlot *idle = pool->take_idle_locked();
    pool->lock.unlock();
    weft_pool::signal_all(idle);
    pool->space.notify_all();
    std::int64_t n = 0;
    while (list) {
        Task *next = list->next;
        pool->cancel_task(list);
        delete list;
        list = next;
        n++;
    }
    if (n) {
        pool->lock.lock_forever();
        pool->cancelled += n;
        pool->lock.unlock();
    }
    if (!wait) return WEFT_OK;
    Deadline d = Deadline::forever();
    return guarded("weft_pool_shutdown", [&] { return pool->wait_workers(d); });
}

WEFT_API void weft_pool_destroy(weft_pool *pool) noexcept {
    if (!valid(pool)) return;
    if (tl_worker && tl_worker->pool == pool) return;  // documented misuse: cannot free itself
    weft_pool_shutdown(pool, 1, 0);
    pool->poison();
    delete pool;
}

WEFT_API weft_status weft_pool_submit(weft_pool *pool, weft_task_fn fn, void *arg, weft_future **future,
                                      int64_t timeout_ns) noexcept {
    if (!future) return null_arg("weft_pool_submit", "future");
    return weft_pool_apply_async(pool, fn, arg, future, timeout_ns, nullptr, nullptr, nullptr);
}

WEFT_API weft_status weft_pool_execute(weft_pool *pool, weft_task_fn fn, void *arg, int64_t timeout_ns) noexcept {
    WEFT_CHECK_HANDLE("weft_pool_execute", pool);
    if (weft_status s = check_fn("weft_pool_execute", fn)) return s;
    WEFT_CHECK_TIMEOUT("weft_pool_execute", timeout_ns);
    Deadline d(timeout_ns);
    return guarded("weft_pool_execute", [&] {
        return pool->enqueue("weft_pool_execute", d, [&](Task *t) {
            t->fn = fn;
            t->arg = arg;
        });
    });
}

WEFT_API weft_status weft_pool_apply_async(weft_pool *pool, weft_task_fn fn, void *arg, weft_future **future,
                                           int64_t timeout_ns, weft_pool_callback callback,
                                           weft_pool_error_callback error_callback, void *user_data) noexcept {
    WEFT_CHECK_HANDLE("weft_pool_apply_async", pool);
    if (weft_status s = check_fn("weft_pool_apply_async", fn)) return s;
    WEFT_CHECK_TIMEOUT("weft_pool_apply_async", timeout_ns);
    if (future) *future = nullptr;
    weft_future *f;
    if (weft_status s = weft_future_create(&f)) return s;
    if (future && weft_future_retain(f) != WEFT_OK) {
        weft_future_destroy(f);
        return weft_last_error()->code;
    }
    Deadline d(timeout_ns);
    weft_status s = guarded("weft_pool_apply_async", [&] {
        return pool->enqueue("weft_pool_apply_async", d, [&](Task *t) {
            t->fn = fn;
            t->arg = arg;
            t->future = f;
            t->callback = callback;
            t->error_callback = error_callback;
            t->user_data = user_data;
        });
    });
    if (s != WEFT_OK) {
        weft_error saved = *weft_last_error();
        weft_future_destroy(f);
        if (future) weft_future_destroy(f);
        return fail(s, "%s", saved.message);
    }
    if (future) *future = f;
    return WEFT_OK;
}

WEFT_API weft_status weft_pool_apply(weft_pool *pool, weft_task_fn fn, void *arg, void **result) noexcept {
    weft_future *f;
    if (weft_status s = weft_pool_submit(pool, fn, arg, &f, WEFT_FOREVER)) return s;
    void *value = nullptr;  // on a worker, the wait runs queued tasks (WaitHook)
    weft_status s = weft_future_result(f, &value, WEFT_FOREVER);
    if (result) *result = s == WEFT_OK ? value : nullptr;
    weft_future_destroy(f);
    return s;
}

namespace {

weft_status run_map(const char *func, weft_pool *pool, weft_task_fn fn, void *const *args, size_t n, void **results,
                    size_t chunksize, int64_t timeout_ns, weft_pool_result_fn on_result, void *user_data) {
    WEFT_CHECK_HANDLE(func, pool);
    if (weft_status s = check_fn(func, fn)) return s;
    WEFT_CHECK_TIMEOUT(func, timeout_ns);
    if (n > 0 && !args) return null_arg(func, "args");
    if (n == 0) return WEFT_OK;
    std::vector<void *> own_results;
    if (!results) {
        own_results.resize(n);
        results = own_results.data();
    }
    if (chunksize == 0) {
        weft_pool_stats st;
        weft_pool_stats_get(pool, &st);
        size_t per = static_cast<size_t>(std::max(1, st.workers)) * 4;
        chunksize = std::max<size_t>(1, (n + per - 1) / per);
    }
    MapJob *job = new MapJob(n, chunksize);
    job->fn = fn;
    job->args = args;
    job->results = results;
    job->unordered = on_result != nullptr;
    const size_t chunks = job->chunks;
    Deadline d(timeout_ns);
    size_t submitted = 0;
    weft_status s = WEFT_OK;
    for (; submitted < chunks; submitted++) {
        size_t c = submitted;
        try {
            s = pool->enqueue(func, d, [&](Task *t) {
                t->job = job;
                t->chunk = c;
            });
        } catch (...) {
            s = fail(WEFT_ENOMEM, "%s: out of memory", func);
        }
        if (s != WEFT_OK) break;
    }
    weft_error submit_error = *weft_last_error();
    for (size_t c = submitted; c < chunks; c++) {  // never queued: cancelled, and their references dropped
        job->cancel(c);
        job->release();
    }
    // Wait for every chunk to end, reporting ended ones as they come
    // (unordered), and helping the pool when called from one of its workers.
    size_t reported = 0;
    bool timed_out = false;
    std::vector<size_t> ready;
    for (;;) {
        std::uint32_t seen = job->progress.load(std::memory_order_acquire);
        if (on_result) {
            ready.clear();
            job->lock.lock_forever();
            ready.assign(job->finished.begin() + static_cast<std::ptrdiff_t>(reported), job->finished.end());
            job->lock.unlock();
            for (size_t c : ready)
                for (size_t i = job->begin(c); i < job->end(c); i++)
                    on_result(i, job->codes[i] == WEFT_OK ? results[i] : nullptr, job->codes[i], user_data);
            reported += ready.size();
        }
        if (job->chunks_left.load(std::memory_order_acquire) == 0 && (!on_result || reported == chunks)) break;
        if (!timed_out && d.expired()) {
            timed_out = true;  // cancel what has not started; running chunks finish
            for (size_t c = 0; c < submitted; c++) job->cancel(c);
            continue;
        }
        if (tl_worker && tl_worker->pool->run_one_pending(tl_worker)) continue;
        std::int64_t abs = timed_out ? Deadline::kNever : d.abs();
        if (tl_worker) abs = std::min(abs, monotonic_now() + WEFT_MSEC);
        futex::wait(&job->progress, seen, abs);
    }
    weft_status first = WEFT_OK;
    size_t first_i = 0;
    for (size_t i = 0; i < n && first == WEFT_OK; i++)
        if (job->codes[i] != WEFT_OK && job->codes[i] != WEFT_ECANCELLED) {
            first = job->codes[i];
            first_i = i;
        }
    std::string first_message = first != WEFT_OK ? job->messages[first_i] : std::string();
    job->release();
    if (first != WEFT_OK) return fail(first, "%s: call %zu failed: %s", func, first_i, first_message.c_str());
    if (timed_out) return fail(WEFT_ETIMEDOUT, "%s: not every call finished in time", func);
    if (s != WEFT_OK) return fail(s, "%s", submit_error.message);
    return WEFT_OK;
}

}  // namespace

WEFT_API weft_status weft_pool_map(weft_pool *pool, weft_task_fn fn, void *const *args, size_t n, void **results,
                                   size_t chunksize, int64_t timeout_ns) noexcept {
    if (n > 0 && !results) return null_arg("weft_pool_map", "results");
    return guarded("weft_pool_map", [&] {
        return run_map("weft_pool_map", pool, fn, args, n, results, chunksize, timeout_ns, nullptr, nullptr);
    });
}

WEFT_API weft_status weft_pool_map_unordered(weft_pool *pool, weft_task_fn fn, void *const *args, size_t n,
                                             size_t chunksize, int64_t timeout_ns, weft_pool_result_fn on_result,
                                             void *user_data) noexcept {
    if (!on_result) return null_arg("weft_pool_map_unordered", "on_result");
    return guarded("weft_pool_map_unordered", [&] {
        return run_map("weft_pool_map_unordered", pool, fn, args, n, nullptr, chunksize, timeout_ns, on_result,
                       user_data);
    });
}

WEFT_API weft_status weft_pool_close(weft_pool *pool) noexcept {
    WEFT_CHECK_HANDLE("weft_pool_close", pool);
    return weft_pool_shutdown(pool, 0, 0);
}

WEFT_API weft_status weft_pool_join(weft_pool *pool, int64_t timeout_ns) noexcept {
    WEFT_CHECK_HANDLE("weft_pool_join", pool);
    WEFT_CHECK_TIMEOUT("weft_pool_join", timeout_ns);
    if (tl_worker && tl_worker->pool == pool)
        return fail(WEFT_EDEADLK, "weft_pool_join: joining from one of the pool's own tasks would deadlock");
    pool->lock.lock_forever();
    bool open = !pool->closed;
    pool->lock.unlock();
    if (open) return fail(WEFT_ESTATE, "weft_pool_join: the pool is still open; call weft_pool_close first");
    Deadline d(timeout_ns);
    return guarded("weft_pool_join", [&] { return pool->wait_workers(d); });
}

WEFT_API weft_status weft_pool_terminate(weft_pool *pool) noexcept {
    WEFT_CHECK_HANDLE("weft_pool_terminate", pool);
    weft_status s = weft_pool_shutdown(pool, 0, 1);
    if (s != WEFT_OK) return s;
    pool->lock.lock_forever();
    for (weft_future *f : pool->running_futures)
        if (f) weft_future_cancel(f);  // RUNNING: only raises the cancel request
    pool->lock.unlock();
    return WEFT_OK;
}

WEFT_API weft_status weft_pool_resize(weft_pool *pool, int workers) noexcept {
    WEFT_CHECK_HANDLE("weft_pool_resize", pool);
    if (workers < 1) return fail(WEFT_EINVAL, "weft_pool_resize: workers is %d; must be at least 1", workers);
    return guarded("weft_pool_resize", [&]() -> weft_status {
        pool->lock.lock_forever();
        if (pool->closed) {
            pool->lock.unlock();
            return fail(WEFT_ECLOSED, "weft_pool_resize: the pool is closed");
        }
        pool->target_workers = workers;
        weft_status s = WEFT_OK;
        try {
            while (pool->live_workers < workers && s == WEFT_OK) s = pool->start_worker_locked();
        } catch (...) {
            pool->lock.unlock();
            throw;
        }
        IdleSlot *idle = pool->live_workers > workers ? pool->take_idle_locked() : nullptr;
        pool->lock.unlock();
        weft_pool::signal_all(idle);
        return s;
    });
}

WEFT_API weft_status weft_pool_stats_get(const weft_pool *pool, weft_pool_stats *stats) noexcept {
    WEFT_CHECK_HANDLE("weft_pool_stats_get", pool);
    if (!stats) return null_arg("weft_pool_stats_get", "stats");
    auto *p = const_cast<weft_pool *>(pool);
    p->lock.lock_forever();
    stats->workers = p->live_workers;
    stats->running = p->running;
    stats->queued = p->queued;
    stats->completed = p->retired_completed;
    stats->failed = p->retired_failed;
    for (const WorkerCtx *w : p->contexts) {
        stats->completed += w->completed.load(std::memory_order_relaxed);
        stats->failed += w->failed.load(std::memory_order_relaxed);
    }
    stats->cancelled = p->cancelled.load(std::memory_order_relaxed);
    p->lock.unlock();
    return WEFT_OK;
}

}  // extern "C"
