// Thread pool: a two-lock queue (Michael & Scott) of task nodes, so
// submitters and workers never take the same lock. Submitters serialise on
// `tail_lock` and append; workers serialise on `head_lock` and take from the
// front; the two meet only at the node between them (a release store of
// `next` and an acquire load of it). Nodes are 64-byte, cache-line aligned
// slots in 64 KiB blocks that the pool keeps until it is destroyed, when they
// go back to a process-wide cache (cell_cache.hpp): a submitter takes them from its own spare list, refilled in one exchange from the
// `returned` stack that workers push used nodes onto (in batches), so the
// steady state allocates nothing but the futures callers ask for, and no
// system call happens under either queue lock. Futures are cells of that
// cache too: a burst of a million queued tasks faults its memory in once per
// process, not once per pool.
//
// Wake-ups: an idle worker puts its own parking slot on the idle stack
// (under `idle_lock`), re-checks the queue, and sleeps on the slot's futex
// word. A submit, after its append, costs one fence and one load of the idle
// stack while every worker is busy; only when a worker is parked does it pop
// that one slot and signal exactly that worker (a system call only if it is
// really asleep). So a burst of submits wakes each idle worker once, and
// busy workers are never woken at all.
//
// Per-worker state (tasks running, completed, failed; the future it runs, so
// terminate can ask it to stop) is written by its worker alone and read by
// weft_pool_stats_get() and weft_pool_terminate(): no shared counter is
// written per task except the queue's own `pushed` and `popped`.
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
#include <type_traits>
#include <vector>

#include <weft/pool.h>
#include <weft/system.h>
#include <weft/thread.h>

#include "internal/boundary.hpp"
#include "internal/cell_cache.hpp"
#include "internal/event_count.hpp"
#include "internal/handle.hpp"
#include "internal/task.hpp"
#include "internal/wait_hook.hpp"
#include "internal/word_lock.hpp"

namespace weft::detail {
namespace {

struct MapJob;

// What one queued task carries (a map chunk when `job` is set: then `arg`
// holds the chunk index and the node holds a job reference).
struct TaskData {
    weft_task_fn fn = nullptr;
    void *arg = nullptr;
    weft_future *future = nullptr;  // the pool's reference, or null
    weft_pool_callback callback = nullptr;
    weft_pool_error_callback error_callback = nullptr;
    void *user_data = nullptr;
    MapJob *job = nullptr;

    size_t chunk() const noexcept { return reinterpret_cast<std::uintptr_t>(arg); }
};

// A queue node: one cache line, so a worker reading one node never pulls the
// line the submitter is writing the next one in.
struct alignas(64) Node {
    std::atomic<Node *> next{nullptr};
    TaskData d;
};
static_assert(sizeof(Node) == 64, "a queue node is one cache line");

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

// An idle worker's parking spot.
struct IdleSlot {
    static constexpr std::uint32_t kSpinning = 0, kSleeping = 1, kSignaled = 2;
    // Checks of the slot before sleeping: a signal that arrives meanwhile
    // costs the submitter a store instead of a futex wake (tens of us on a
    // VM). Measured (W4, 2 vCPUs): 1000 beat 64, 300 and 3000 in both rows.
    static constexpr int kSpins = 1000;
    std::atomic<std::uint32_t> state{kSpinning};
    IdleSlot *next = nullptr;

    void signal() noexcept {
        if (state.exchange(kSignaled, std::memory_order_acq_rel) == kSleeping) futex::wake(&state, 1);
    }

    // Spin a little, then sleep until signalled.
    void park(int spins) noexcept {
        for (int i = 0; i < spins; i++) {
            if (state.load(std::memory_order_acquire) == kSignaled) return;
            futex::cpu_relax();
        }
        std::uint32_t expect = kSpinning;
        if (!state.compare_exchange_strong(expect, kSleeping, std::memory_order_acq_rel)) return;  // signalled
        while (state.load(std::memory_order_acquire) != kSignaled) futex::wait(&state, kSleeping, Deadline::kNever);
    }
};

// A worker's own record. Everything but `readers` is written only by the
// worker (plain increments, no lock) and read by weft_pool_stats_get() and
// weft_pool_terminate().
struct alignas(64) WorkerCtx {
    weft_pool *pool;
    int index;
    std::atomic<std::int64_t> completed{0}, failed{0};
    std::atomic<int> active{0};                      // tasks it runs now (nested ones too)
    std::atomic<weft_future *> running{nullptr};      // the future of its outermost task
    std::atomic<int> readers{0};                     // terminate looking at `running`
    Node *spent = nullptr, *spent_tail = nullptr;    // used nodes not yet returned
    int spent_count = 0;

    WorkerCtx(weft_pool *p, int i) noexcept : pool(p), index(i) {}

    static void bump(std::atomic<std::int64_t> &c) noexcept {
        c.store(c.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
    }
    static void add(std::atomic<int> &c, int d) noexcept {
        c.store(c.load(std::memory_order_relaxed) + d, std::memory_order_relaxed);
    }
};

}  // namespace
}  // namespace weft::detail

using namespace weft::detail;

struct weft_pool : Handle<Magic::pool> {
    // Used nodes go back to the submit side in batches of this many.
    static constexpr int kReturnBatch = 32;
    // Checks of the queue by the one spinning idle worker before it parks
    // (about 10-50 us of `pause`). Measured on the 2-vCPU machines we run on
    // (W4, 3 runnable threads on 2 cores): 1000 beat 100 and 5000, and
    // sched_yield() in the loop did not help.
    static constexpr int kIdleSpins = 1000;

    // ---- submit side ----
    alignas(64) WordLock tail_lock;  // serialises submitters
    Node *tail = nullptr;            // the last node (the dummy when empty)
    Node *spare = nullptr;           // free nodes of the submit side
    std::vector<void *> blocks;      // node blocks (cells::block_alloc), given back at destroy
    std::atomic<std::int64_t> pushed{0};  // written under tail_lock
    std::atomic<bool> closed{false};      // set under tail_lock
    size_t max_queued = 0;
    // ---- worker side ----
    alignas(64) WordLock head_lock;       // serialises takers
    Node *head = nullptr;                 // the dummy: the first task is head->next
    std::atomic<std::int64_t> popped{0};  // written under head_lock
    // ---- meeting points ----
    alignas(64) std::atomic<Node *> returned{nullptr};  // used nodes; workers push, the submit side takes all
    alignas(64) WordLock idle_lock;
    std::atomic<IdleSlot *> idle{nullptr};  // stack of parked workers; changed under idle_lock
    EventCount space;                       // a bounded pool's submitters wait here for room
    std::atomic<int> spinner{0};            // an idle worker spinning for work (at most one)
    // ---- control, under `lock` ----
    alignas(64) WordLock lock;
    std::atomic<int> target_workers{0}, live_workers{0};  // written under the lock
    std::int64_t retired_completed = 0, retired_failed = 0;  // of workers that exited
    std::atomic<std::int64_t> cancelled{0};
    std::vector<WorkerCtx *> contexts;  // live workers, for statistics and terminate
    std::atomic<std::uint32_t> exit_seq{0};
    std::vector<weft_thread *> threads;
    std::string prefix;
    weft_pool_init_fn initializer = nullptr;
    void *initializer_data = nullptr;
    int next_worker_number = 0;

    ~weft_pool() {
        for (void *b : blocks) cells::block_release(b);  // Node is trivially destructible
    }

    // ---- nodes ----
    // Submit side (tail_lock held, or before any worker exists): a free node.
    // Nodes come in blocks from the process-wide cache (cell_cache.hpp),
    // carved in order, and go back to it when the pool is destroyed.
    Node *take_node_locked() {
        Node *n = spare;
        if (!n) n = returned.exchange(nullptr, std::memory_order_acquire);
        if (!n) n = new_block_locked();
        spare = n->next.load(std::memory_order_relaxed);
        return n;
    }
    Node *new_block_locked() {
        static_assert(std::is_trivially_destructible_v<Node>, "blocks are given back without destructors");
        constexpr size_t k = cells::kBlockBytes / sizeof(Node);
        blocks.reserve(blocks.size() + 1);
        void *mem = cells::block_alloc();
        if (!mem) throw std::bad_alloc();
        blocks.push_back(mem);  // reserved: cannot throw
        Node *b = static_cast<Node *>(mem);
        for (size_t i = 0; i < k; i++) new (&b[i]) Node;
        for (size_t i = 0; i + 1 < k; i++) b[i].next.store(&b[i + 1], std::memory_order_relaxed);
        return b;
    }
    // Give the nodes first..last back to the submit side.
    void return_nodes(Node *first, Node *last) noexcept {
        Node *top = returned.load(std::memory_order_relaxed);
        do {
            last->next.store(top, std::memory_order_relaxed);
        } while (!returned.compare_exchange_weak(top, first, std::memory_order_release, std::memory_order_relaxed));
    }
    // A used node: kept by its worker until a batch is full (w may be null).
    void spend(Node *n, WorkerCtx *w) noexcept {
        if (!w) {
            return_nodes(n, n);
            return;
        }
        n->next.store(w->spent, std::memory_order_relaxed);
        if (!w->spent) w->spent_tail = n;
        w->spent = n;
        if (++w->spent_count >= kReturnBatch) flush_spent(w);
    }
    void flush_spent(WorkerCtx *w) noexcept {
        if (!w->spent) return;
        return_nodes(w->spent, w->spent_tail);
        w->spent = w->spent_tail = nullptr;
        w->spent_count = 0;
    }

    // ---- the queue ----
    bool has_work() const noexcept {
        return pushed.load(std::memory_order_acquire) != popped.load(std::memory_order_acquire);
    }

    // Take the first task. A `tracked` task (a worker's outermost) becomes the
    // worker's running future under head_lock, so terminate, which drains the
    // queue under that lock first, sees every task either queued or running.
    bool pop(TaskData &out, WorkerCtx *w, bool tracked) noexcept {
        head_lock.lock_forever();
        Node *h = head;
        Node *n = h->next.load(std::memory_order_acquire);
        if (!n) {
            head_lock.unlock();
            return false;
        }
        out = n->d;
        head = n;  // n is the new dummy; its data is copied out
        popped.store(popped.load(std::memory_order_relaxed) + 1, std::memory_order_release);
        if (w) {
            WorkerCtx::add(w->active, 1);
            if (tracked && out.future) w->running.store(out.future, std::memory_order_relaxed);
        }
        head_lock.unlock();
        spend(h, w);
        if (max_queued) space.notify_all();
        // More queued, a worker parked and none spinning: wake one, so what
        // a spinner let the submitter queue without a wake-up never waits
        // behind this (maybe long) task.
        if (idle.load(std::memory_order_relaxed) && has_work() && !spinner.load(std::memory_order_relaxed)) wake_one();
        return true;
    }

    // Enqueue one task (fill() writes it into a fresh node, under tail_lock).
    template <class Fill>
    weft_status enqueue(const char *func, Deadline &d, Fill &&fill) {
        tail_lock.lock_forever();
        for (;;) {
            if (closed.load(std::memory_order_relaxed)) {
                tail_lock.unlock();
                return fail(WEFT_ECLOSED, "%s: the pool is closed", func);
            }
            if (max_queued == 0 || !full()) break;
            if (d.poll()) {
                tail_lock.unlock();
                return fail(WEFT_ETIMEDOUT, "%s: %zu tasks are queued already (max_queued)", func, max_queued);
            }
            // Announce, then look again: a pop that makes room after the
            // announcement moves the epoch and the wait returns at once.
            std::uint32_t key = space.prepare_wait();
            tail_lock.unlock();
            futex::WaitResult r = futex::WaitResult::woken;
            if (full() && !closed.load(std::memory_order_acquire))
                r = space.wait(key, d.abs());
            else
                space.cancel_wait(key);
            tail_lock.lock_forever();
            if ((r == futex::WaitResult::timed_out || d.expired()) && !closed.load(std::memory_order_relaxed) &&
                full()) {
                tail_lock.unlock();
                return fail(WEFT_ETIMEDOUT, "%s: %zu tasks are queued already (max_queued)", func, max_queued);
            }
        }
        Node *n;
        try {
            n = take_node_locked();
        } catch (...) {
            tail_lock.unlock();
            throw;
        }
        n->next.store(nullptr, std::memory_order_relaxed);
        n->d = TaskData{};
        fill(n->d);
        tail->next.store(n, std::memory_order_release);  // published: a worker may take it now
        tail = n;
        pushed.store(pushed.load(std::memory_order_relaxed) + 1, std::memory_order_release);
        tail_lock.unlock();
        // Pairs with the fence in idle_wait(): either that worker sees our
        // task, or we see its slot.
        std::atomic_thread_fence(std::memory_order_seq_cst);
        if (idle.load(std::memory_order_relaxed) && !spinner.load(std::memory_order_relaxed)) wake_one();
        return WEFT_OK;
    }

    bool full() const noexcept {
        return pushed.load(std::memory_order_relaxed) - popped.load(std::memory_order_acquire) >=
               static_cast<std::int64_t>(max_queued);
    }

    // ---- idle workers ----
    void wake_one() noexcept {
        idle_lock.lock_forever();
        IdleSlot *w = idle.load(std::memory_order_relaxed);
        if (w) idle.store(w->next, std::memory_order_relaxed);
        idle_lock.unlock();
        if (w) w->signal();
    }
    // Take every parked worker off the idle stack and signal it (shutdown,
    // resize). Callers change what workers check (closed, target) first.
    void wake_all() noexcept {
        idle_lock.lock_forever();
        IdleSlot *w = idle.load(std::memory_order_relaxed);
        idle.store(nullptr, std::memory_order_relaxed);
        idle_lock.unlock();
        while (w) {
            IdleSlot *next = w->next;  // read before signal: the worker may reuse its slot at once
            w->signal();
            w = next;
        }
    }
    bool should_stop() const noexcept {
        return closed.load(std::memory_order_acquire) ||
               live_workers.load(std::memory_order_relaxed) > target_workers.load(std::memory_order_relaxed);
    }
    // Park until a submit, shutdown or resize signals this worker, unless
    // there is work or a reason to stop already.
    void idle_wait(WorkerCtx *w) noexcept {
        // One idle worker at a time spins for the next submit before it
        // parks: a steady submitter then never pays a wake-up, and a second
        // spinner would only take the CPU from the submitter.
        if (spinner.load(std::memory_order_relaxed) == 0 && !spinner.exchange(1, std::memory_order_acquire)) {
            bool found = false;
            for (int i = 0; i < kIdleSpins && !found; i++) {
                futex::cpu_relax();
                found = has_work() || should_stop();
            }
            spinner.store(0, std::memory_order_relaxed);
            std::atomic_thread_fence(std::memory_order_seq_cst);  // pairs with enqueue(): see its task, or be seen
            if (found || has_work()) return;
        }
        flush_spent(w);  // the submit side may need them while we sleep
        IdleSlot slot;
        idle_lock.lock_forever();
        slot.next = idle.load(std::memory_order_relaxed);
        const bool first = slot.next == nullptr;  // only the first parked worker spins in park()
        idle.store(&slot, std::memory_order_relaxed);
        idle_lock.unlock();
        std::atomic_thread_fence(std::memory_order_seq_cst);  // pairs with enqueue()
        if (has_work() || should_stop()) {
            idle_lock.lock_forever();
            bool removed = false;
            for (IdleSlot *prev = nullptr, *s = idle.load(std::memory_order_relaxed); s; prev = s, s = s->next) {
                if (s != &slot) continue;
                if (prev)
                    prev->next = s->next;
                else
                    idle.store(s->next, std::memory_order_relaxed);
                removed = true;
                break;
            }
            idle_lock.unlock();
            if (removed) return;
            // Popped by a submitter: its signal is on the way; take it.
        }
        slot.park(first ? IdleSlot::kSpins : 0);
    }

    // ---- running tasks ----
    void run(TaskData &t, WorkerCtx *w, bool tracked) noexcept;
    void cancel_task(TaskData &t) noexcept;
    bool run_one_pending(WorkerCtx *w) noexcept;
    static void *worker_main(void *arg);
    weft_status start_worker_locked();
    weft_status wait_workers(Deadline &d);
    void init_queue() {
        head = tail = take_node_locked();
        head->next.store(nullptr, std::memory_order_relaxed);
    }
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

void weft_pool::cancel_task(TaskData &t) noexcept {
    if (t.job) {
        t.job->cancel(t.chunk());
        t.job->release();
        return;
    }
    if (t.future) {
        weft_future_cancel(t.future);
        weft_future_destroy(t.future);
    }
    if (t.error_callback) t.error_callback(WEFT_ECANCELLED, "the task was cancelled before it ran", t.user_data);
}

// Run one task on worker `w`. A `tracked` task's future is the worker's
// running slot: the worker loop clears the slot and drops the pool's
// reference; an untracked (nested) task drops it here.
void weft_pool::run(TaskData &t, WorkerCtx *w, bool tracked) noexcept {
    if (MapJob *job = t.job) {
        const size_t c = t.chunk();
        int expect = 0;
        bool mine = job->chunk_state[c].compare_exchange_strong(expect, 1, std::memory_order_acq_rel);
        if (mine) {  // else cancelled by the caller's deadline, already ended
            for (size_t i = job->begin(c); i < job->end(c); i++) {
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
            job->chunk_state[c].store(2, std::memory_order_release);
            WorkerCtx::bump(w->completed);
            job->ended(c);
        }
        job->release();
        return;
    }
    weft_future *f = t.future;
    if (f && weft_future_set_running(f) != WEFT_OK) {  // cancelled while queued
        cancelled.fetch_add(1, std::memory_order_relaxed);
        if (t.error_callback) t.error_callback(WEFT_ECANCELLED, "the task was cancelled before it ran", t.user_data);
        if (!tracked) weft_future_destroy(f);
        return;
    }
    bool ok;
    {
        TaskScope scope(f);
        void *r = t.fn(t.arg);
        scope.finish(r, nullptr);
        ok = !scope.failed();
        if (ok) {
            if (t.callback) t.callback(r, t.user_data);
        } else if (t.error_callback) {
            t.error_callback(scope.code(), scope.message() ? scope.message() : "", t.user_data);
        }
    }
    WorkerCtx::bump(w->completed);
    if (!ok) WorkerCtx::bump(w->failed);
    if (f && !tracked) weft_future_destroy(f);
}

bool weft_pool::run_one_pending(WorkerCtx *w) noexcept {
    TaskData t;
    if (!pop(t, w, false)) return false;
    run(t, w, false);  // nested inside a waiting task: not the worker's slot
    WorkerCtx::add(w->active, -1);
    return true;
}

void *weft_pool::worker_main(void *arg) {
    auto *ctx = static_cast<WorkerCtx *>(arg);
    weft_pool *p = ctx->pool;
    tl_worker = ctx;
    WaitHook hook{help_one, ctx};
    WaitHookScope hook_scope(&hook);
    if (p->initializer) p->initializer(p->initializer_data);
    for (;;) {
        TaskData t;
        if (p->pop(t, ctx, true)) {
            p->run(t, ctx, true);
            WorkerCtx::add(ctx->active, -1);
            if (t.future && !t.job) {
                // Clear the slot, then wait out a terminate that may be
                // looking at it, then drop the pool's reference.
                ctx->running.exchange(nullptr, std::memory_order_seq_cst);
                while (ctx->readers.load(std::memory_order_seq_cst)) sched_yield();
                weft_future_destroy(t.future);
            }
            continue;
        }
        if (p->closed.load(std::memory_order_acquire)) {
            if (p->has_work()) continue;
            p->lock.lock_forever();
            break;  // closed and drained: no submit can come any more
        }
        if (p->live_workers.load(std::memory_order_relaxed) > p->target_workers.load(std::memory_order_relaxed)) {
            p->lock.lock_forever();  // resized down: exactly live - target workers leave
            if (p->live_workers.load(std::memory_order_relaxed) > p->target_workers.load(std::memory_order_relaxed))
                break;
            p->lock.unlock();
            continue;
        }
        p->idle_wait(ctx);
    }
    // Leave, with the lock held.
    p->flush_spent(ctx);
    p->live_workers.fetch_sub(1, std::memory_order_relaxed);
    p->retired_completed += ctx->completed.load(std::memory_order_relaxed);
    p->retired_failed += ctx->failed.load(std::memory_order_relaxed);
    p->contexts.erase(std::find(p->contexts.begin(), p->contexts.end(), ctx));
    p->exit_seq.fetch_add(1, std::memory_order_release);
    p->lock.unlock();
    futex::wake_all(&p->exit_seq);
    tl_worker = nullptr;
    delete ctx;
    return nullptr;
}

weft_status weft_pool::start_worker_locked() {
    auto *ctx = new WorkerCtx(this, next_worker_number);
    char name[64];
    std::snprintf(name, sizeof name, "%s-%d", prefix.c_str(), next_worker_number);
    weft_thread_options o = WEFT_THREAD_OPTIONS_INIT;
    o.name = name;
    o.daemon = 1;
    threads.reserve(threads.size() + 1);
    contexts.reserve(contexts.size() + 1);
    weft_thread *t;
    live_workers.fetch_add(1, std::memory_order_relaxed);  // before start: the worker may run and check at once
    weft_status s = weft_thread_spawn(&t, worker_main, ctx, &o);
    if (s != WEFT_OK) {
        live_workers.fetch_sub(1, std::memory_order_relaxed);
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
    while (live_workers.load(std::memory_order_relaxed) > 0) {
        if (d.poll()) break;
        std::uint32_t s = exit_seq.load(std::memory_order_relaxed);
        lock.unlock();
        futex::WaitResult r = futex::wait(&exit_seq, s, d.abs());
        lock.lock_forever();
        if (r == futex::WaitResult::timed_out || d.expired()) break;
    }
    bool done = live_workers.load(std::memory_order_relaxed) == 0;
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
        p->target_workers.store(o.workers ? o.workers : weft_cpu_count(), std::memory_order_relaxed);
        p->prefix = o.name_prefix ? o.name_prefix : "weft-pool";
        p->initializer = o.initializer;
        p->initializer_data = o.initializer_data;
        p->max_queued = o.max_queued;
        p->init_queue();  // before any worker: no lock needed
        p->lock.lock_forever();
        weft_status s = WEFT_OK;
        for (int i = 0; i < p->target_workers.load(std::memory_order_relaxed) && s == WEFT_OK; i++) {
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
    pool->tail_lock.lock_forever();
    pool->closed.store(true, std::memory_order_release);  // after every accepted append
    pool->tail_lock.unlock();
    pool->wake_all();
    pool->space.notify_all();
    if (cancel_pending) {
        // One at a time, so callbacks run outside the queue lock; a worker
        // may take some meanwhile: each task runs or is cancelled, once.
        TaskData t;
        std::int64_t n = 0;
        while (pool->pop(t, nullptr, false)) {
            pool->cancel_task(t);
            n++;
        }
        pool->cancelled.fetch_add(n, std::memory_order_relaxed);
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
        return pool->enqueue("weft_pool_execute", d, [&](TaskData &t) {
            t.fn = fn;
            t.arg = arg;
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
        return pool->enqueue("weft_pool_apply_async", d, [&](TaskData &t) {
            t.fn = fn;
            t.arg = arg;
            t.future = f;
            t.callback = callback;
            t.error_callback = error_callback;
            t.user_data = user_data;
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
            s = pool->enqueue(func, d, [&](TaskData &t) {
                t.job = job;
                t.arg = reinterpret_cast<void *>(static_cast<std::uintptr_t>(c));
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
    bool open = !pool->closed.load(std::memory_order_acquire);
    if (open) return fail(WEFT_ESTATE, "weft_pool_join: the pool is still open; call weft_pool_close first");
    Deadline d(timeout_ns);
    return guarded("weft_pool_join", [&] { return pool->wait_workers(d); });
}

WEFT_API weft_status weft_pool_terminate(weft_pool *pool) noexcept {
    WEFT_CHECK_HANDLE("weft_pool_terminate", pool);
    weft_status s = weft_pool_shutdown(pool, 0, 1);
    if (s != WEFT_OK) return s;
    pool->lock.lock_forever();  // keeps the contexts alive
    for (WorkerCtx *w : pool->contexts) {
        // Announce, then look: the worker clears its slot and then waits
        // for readers before it drops the future (see worker_main).
        w->readers.fetch_add(1, std::memory_order_seq_cst);
        if (weft_future *f = w->running.load(std::memory_order_seq_cst))
            weft_future_cancel(f);  // RUNNING: only raises the cancel request
        w->readers.fetch_sub(1, std::memory_order_release);
    }
    pool->lock.unlock();
    return WEFT_OK;
}

WEFT_API weft_status weft_pool_resize(weft_pool *pool, int workers) noexcept {
    WEFT_CHECK_HANDLE("weft_pool_resize", pool);
    if (workers < 1) return fail(WEFT_EINVAL, "weft_pool_resize: workers is %d; must be at least 1", workers);
    return guarded("weft_pool_resize", [&]() -> weft_status {
        pool->lock.lock_forever();
        if (pool->closed.load(std::memory_order_acquire)) {
            pool->lock.unlock();
            return fail(WEFT_ECLOSED, "weft_pool_resize: the pool is closed");
        }
        pool->target_workers.store(workers, std::memory_order_relaxed);
        weft_status s = WEFT_OK;
        try {
            while (pool->live_workers.load(std::memory_order_relaxed) < workers && s == WEFT_OK)
                s = pool->start_worker_locked();
        } catch (...) {
            pool->lock.unlock();
            throw;
        }
        bool shrink = pool->live_workers.load(std::memory_order_relaxed) > workers;
        pool->lock.unlock();
        if (shrink) pool->wake_all();  // parked extra workers wake and leave
        return s;
    });
}

WEFT_API weft_status weft_pool_stats_get(const weft_pool *pool, weft_pool_stats *stats) noexcept {
    WEFT_CHECK_HANDLE("weft_pool_stats_get", pool);
    if (!stats) return null_arg("weft_pool_stats_get", "stats");
    auto *p = const_cast<weft_pool *>(pool);
    p->lock.lock_forever();
    stats->workers = p->live_workers.load(std::memory_order_relaxed);
    stats->running = 0;
    std::int64_t queued = p->pushed.load(std::memory_order_acquire) - p->popped.load(std::memory_order_acquire);
    stats->queued = queued > 0 ? queued : 0;
    stats->completed = p->retired_completed;
    stats->failed = p->retired_failed;
    for (const WorkerCtx *w : p->contexts) {
        stats->running += w->active.load(std::memory_order_relaxed);
        stats->completed += w->completed.load(std::memory_order_relaxed);
        stats->failed += w->failed.load(std::memory_order_relaxed);
    }
    stats->cancelled = p->cancelled.load(std::memory_order_relaxed);
    p->lock.unlock();
    return WEFT_OK;
}

}  // extern "C"
