// W4: thread pool with 2 workers, 1M empty tasks submitted from one thread
// and then all awaited, tasks/s.
// W4.exec, fire and forget: weft_pool_execute then weft_pool_shutdown(wait)
// against GThreadPool (2 threads, g_thread_pool_free waits), oneTBB
// task_group in a task_arena of concurrency 2 (the submitting thread takes
// one of its slots and helps at wait(): TBB's model), libuv uv_queue_work
// (UV_THREADPOOL_SIZE=2, no after-work callback, loop run to completion) and
// a textbook pool (2 std::threads, std::mutex, std::condition_variable,
// std::deque of function+argument).
// W4.future, a future per task: weft_pool_submit keeping all 1M futures,
// then weft_future_result + weft_future_destroy on each, against libuv with
// an after-work callback (the goal: "at least libuv's callback rate"), the
// textbook pool running std::packaged_task with a std::future each, and
// std::async (a thread per task: 2k tasks, so context only, never the goal).
//
// Every task bumps a per-thread counter; the counters must add up to the
// number of tasks submitted, and each future's value must be its argument.
// Also: bytes per queued task and per queued future (memory probes).
#include <atomic>
#include <condition_variable>
#include <deque>
#include <functional>
#include <future>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include <cstdlib>

#include <weft/common.h>
#include <weft/error.h>
#include <weft/future.h>
#include <weft/pool.h>

#if BENCH_HAVE_GLIB
#include <glib.h>
#endif
#if BENCH_HAVE_UV
#include <uv.h>
#endif
#if BENCH_HAVE_TBB
#include <tbb/task_arena.h>
#include <tbb/task_group.h>
#endif

#include "harness.hpp"

namespace bench {
namespace {

// ---- per-thread task counters -----------------------------------------------

struct alignas(64) CountSlot {
    std::atomic<std::uint64_t> n{0};
};
std::mutex &slots_mutex() {
    static std::mutex m;
    return m;
}
// A deque: slots never move. Never destroyed: peer pools (GLib, TBB, libuv)
// keep their threads until exit.
std::deque<CountSlot> &slots() {
    static auto *s = new std::deque<CountSlot>;
    return *s;
}
thread_local CountSlot *tl_slot = nullptr;

[[gnu::noinline]] CountSlot *new_slot() {
    std::lock_guard<std::mutex> lk(slots_mutex());
    slots().emplace_back();
    return &slots().back();
}
// What every task does: one uncontended increment of its thread's counter.
inline void count_task() {
    CountSlot *s = tl_slot;
    if (__builtin_expect(!s, 0)) s = tl_slot = new_slot();
    s->n.store(s->n.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
}
// Only while no task runs.
void reset_counts() {
    std::lock_guard<std::mutex> lk(slots_mutex());
    for (CountSlot &s : slots()) s.n.store(0, std::memory_order_relaxed);
}
std::uint64_t tasks_ran() {
    std::lock_guard<std::mutex> lk(slots_mutex());
    std::uint64_t t = 0;
    for (CountSlot &s : slots()) t += s.n.load(std::memory_order_acquire);
    return t;
}

inline void *item_of(std::uint64_t v) { return reinterpret_cast<void *>(static_cast<std::uintptr_t>(v)); }

void *weft_task(void *arg) {
    count_task();
    return arg;
}

std::int64_t tasks_per_sample() { return sample_iters(1e6); }

std::vector<Metric> rate(const char *wl, const char *name, std::int64_t n, std::int64_t t0, std::int64_t t1) {
    if (tasks_ran() != static_cast<std::uint64_t>(n)) die(wl, name, "tasks lost or run twice (count differs)");
    double secs = static_cast<double>(t1 - t0) / 1e9;
    return {{"tasks_per_s", "/s", static_cast<double>(n) / secs},
            {"ns_per_task", "ns", static_cast<double>(t1 - t0) / static_cast<double>(n)}};
}

weft_pool *new_weft_pool() {
    weft_pool_options o = WEFT_POOL_OPTIONS_INIT;
    o.workers = 2;
    weft_pool *p = nullptr;
    BENCH_CHECK(weft_pool_create(&p, &o) == WEFT_OK, "W4", "weft_pool");
    return p;
}

// ---- the textbook pool: 2 std::threads, one mutex, one condition ------------

struct FnArg {
    void *(*fn)(void *);
    void *arg;
    void operator()() { fn(arg); }
};

template <class Task>
class StdPool {
public:
    explicit StdPool(int n) {
        for (int i = 0; i < n; ++i) threads_.emplace_back([this] { work(); });
    }
    ~StdPool() { join(); }
    void submit(Task t) {
        {
            std::lock_guard<std::mutex> lk(m_);
            q_.push_back(std::move(t));
        }
        cv_.notify_one();
    }
    // Run what is queued, then stop the threads.
    void join() {
        {
            std::lock_guard<std::mutex> lk(m_);
            stop_ = true;
        }
        cv_.notify_all();
        for (std::thread &t : threads_)
            if (t.joinable()) t.join();
    }

private:
    void work() {
        std::unique_lock<std::mutex> lk(m_);
        for (;;) {
            cv_.wait(lk, [&] { return stop_ || !q_.empty(); });
            if (q_.empty()) return;  // stopping and drained
            Task t = std::move(q_.front());
            q_.pop_front();
            lk.unlock();
            t();
            lk.lock();
        }
    }
    std::mutex m_;
    std::condition_variable cv_;
    std::deque<Task> q_;
    bool stop_ = false;
    std::vector<std::thread> threads_;
};

// ---- W4.exec ------------------------------------------------------------------

std::vector<Metric> exec_weft() {
    const std::int64_t n = tasks_per_sample();
    weft_pool *p = new_weft_pool();
    reset_counts();
    std::int64_t t0 = now_ns();
    for (std::int64_t i = 0; i < n; ++i)
        BENCH_CHECK(weft_pool_execute(p, weft_task, nullptr, WEFT_FOREVER) == WEFT_OK, "W4.exec", "weft_pool");
    BENCH_CHECK(weft_pool_shutdown(p, 1, 0) == WEFT_OK, "W4.exec", "weft_pool");
    std::int64_t t1 = now_ns();
    weft_pool_destroy(p);
    return rate("W4.exec", "weft_pool_execute", n, t0, t1);
}

#if BENCH_HAVE_GLIB
void g_task(gpointer, gpointer) { count_task(); }

std::vector<Metric> exec_glib() {
    const std::int64_t n = tasks_per_sample();
    GThreadPool *p = g_thread_pool_new(g_task, nullptr, 2, FALSE, nullptr);
    BENCH_CHECK(p != nullptr, "W4.exec", "g_thread_pool");
    reset_counts();
    std::int64_t t0 = now_ns();
    for (std::int64_t i = 0; i < n; ++i)
        BENCH_CHECK(g_thread_pool_push(p, item_of(1), nullptr), "W4.exec", "g_thread_pool");  // data must not be NULL
    g_thread_pool_free(p, FALSE, TRUE);  // waits for every queued task
    std::int64_t t1 = now_ns();
    return rate("W4.exec", "g_thread_pool", n, t0, t1);
}
#endif

#if BENCH_HAVE_TBB
std::vector<Metric> exec_tbb() {
    const std::int64_t n = tasks_per_sample();
    tbb::task_arena arena(2);
    arena.initialize();
    reset_counts();
    std::int64_t t0 = now_ns();
    arena.execute([&] {
        tbb::task_group tg;
        for (std::int64_t i = 0; i < n; ++i) tg.run([] { count_task(); });
        tg.wait();
    });
    std::int64_t t1 = now_ns();
    return rate("W4.exec", "tbb_task_group", n, t0, t1);
}
#endif

#if BENCH_HAVE_UV
void uv_task(uv_work_t *) { count_task(); }
std::uint64_t g_uv_after = 0;  // loop thread only
void uv_after(uv_work_t *, int status) {
    if (status == 0) ++g_uv_after;
}

// The requests are the caller's memory in libuv; allocated once, outside
// the timed part (a libuv user embeds them in structs of their own).
std::vector<uv_work_t> &uv_reqs(std::size_t n) {
    static std::vector<uv_work_t> v;
    if (v.size() < n) v.resize(n);
    return v;
}

std::vector<Metric> uv_run_tasks(const char *wl, const char *name, bool with_after) {
    const std::int64_t n = tasks_per_sample();
    std::vector<uv_work_t> &reqs = uv_reqs(static_cast<std::size_t>(n));
    uv_loop_t loop;
    BENCH_CHECK(uv_loop_init(&loop) == 0, wl, name);
    reset_counts();
    g_uv_after = 0;
    std::int64_t t0 = now_ns();
    for (std::int64_t i = 0; i < n; ++i)
        BENCH_CHECK(uv_queue_work(&loop, &reqs[static_cast<std::size_t>(i)], uv_task, with_after ? uv_after : nullptr) == 0,
                    wl, name);
    uv_run(&loop, UV_RUN_DEFAULT);  // returns when every request completed
    std::int64_t t1 = now_ns();
    BENCH_CHECK(uv_loop_close(&loop) == 0, wl, name);
    if (with_after && g_uv_after != static_cast<std::uint64_t>(n)) die(wl, name, "after-work callbacks missing");
    return rate(wl, name, n, t0, t1);
}
#endif

std::vector<Metric> exec_std_pool() {
    const std::int64_t n = tasks_per_sample();
    StdPool<FnArg> pool(2);
    reset_counts();
    std::int64_t t0 = now_ns();
    for (std::int64_t i = 0; i < n; ++i) pool.submit(FnArg{weft_task, nullptr});
    pool.join();
    std::int64_t t1 = now_ns();
    return rate("W4.exec", "std_thread_pool", n, t0, t1);
}

// ---- W4.future ------------------------------------------------------------------

std::vector<Metric> future_weft() {
    const std::int64_t n = tasks_per_sample();
    std::vector<weft_future *> fs(static_cast<std::size_t>(n));
    weft_pool *p = new_weft_pool();
    reset_counts();
    std::int64_t t0 = now_ns();
    for (std::int64_t i = 0; i < n; ++i)
        BENCH_CHECK(weft_pool_submit(p, weft_task, item_of(static_cast<std::uint64_t>(i) + 1),
                                     &fs[static_cast<std::size_t>(i)], WEFT_FOREVER) == WEFT_OK,
                    "W4.future", "weft_pool_submit");
    for (std::int64_t i = 0; i < n; ++i) {
        void *v = nullptr;
        weft_future *f = fs[static_cast<std::size_t>(i)];
        BENCH_CHECK(weft_future_result(f, &v, WEFT_FOREVER) == WEFT_OK, "W4.future", "weft_pool_submit");
        BENCH_CHECK(v == item_of(static_cast<std::uint64_t>(i) + 1), "W4.future", "weft_pool_submit");
        weft_future_destroy(f);
    }
    std::int64_t t1 = now_ns();
    BENCH_CHECK(weft_pool_shutdown(p, 1, 0) == WEFT_OK, "W4.future", "weft_pool_submit");
    weft_pool_destroy(p);
    return rate("W4.future", "weft_pool_submit", n, t0, t1);
}

void *std_task(void *arg) {
    count_task();
    return arg;
}

std::vector<Metric> future_std_pool() {
    const std::int64_t n = tasks_per_sample();
    std::vector<std::future<void *>> fs;
    fs.reserve(static_cast<std::size_t>(n));
    StdPool<std::packaged_task<void *()>> pool(2);
    reset_counts();
    std::int64_t t0 = now_ns();
    for (std::int64_t i = 0; i < n; ++i) {
        void *arg = item_of(static_cast<std::uint64_t>(i) + 1);
        std::packaged_task<void *()> t([arg] { return std_task(arg); });
        fs.push_back(t.get_future());
        pool.submit(std::move(t));
    }
    for (std::int64_t i = 0; i < n; ++i)
        BENCH_CHECK(fs[static_cast<std::size_t>(i)].get() == item_of(static_cast<std::uint64_t>(i) + 1), "W4.future",
                    "std_packaged_task_pool");
    std::int64_t t1 = now_ns();
    pool.join();
    return rate("W4.future", "std_packaged_task_pool", n, t0, t1);
}

std::vector<Metric> future_std_async() {
    // A thread per task (~100-300 us each): 1M would take minutes, so 2k
    // (scaled); the figure is a rate.
    const std::int64_t n = sample_iters(2e3);
    std::vector<std::future<void *>> fs;
    fs.reserve(static_cast<std::size_t>(n));
    reset_counts();
    std::int64_t t0 = now_ns();
    for (std::int64_t i = 0; i < n; ++i)
        fs.push_back(std::async(std::launch::async, std_task, item_of(static_cast<std::uint64_t>(i) + 1)));
    for (std::int64_t i = 0; i < n; ++i)
        BENCH_CHECK(fs[static_cast<std::size_t>(i)].get() == item_of(static_cast<std::uint64_t>(i) + 1), "W4.future",
                    "std_async");
    std::int64_t t1 = now_ns();
    return rate("W4.future", "std_async", n, t0, t1);
}

// ---- memory: tasks queued behind 2 gated workers ----------------------------

std::atomic<bool> g_gate{false};
std::atomic<int> g_gated{0};
void gate_wait() {
    g_gated.fetch_add(1);
    while (!g_gate.load(std::memory_order_acquire)) std::this_thread::sleep_for(std::chrono::microseconds(200));
}
void *weft_gate_task(void *) {
    gate_wait();
    return nullptr;
}
void wait_gated(int n) {
    while (g_gated.load() < n) std::this_thread::sleep_for(std::chrono::microseconds(100));
}

constexpr std::int64_t kQueued = 1000000;

std::vector<Metric> per_task(std::int64_t base, std::int64_t peak, const char *metric, double extra = 0) {
    return {{metric, "B", static_cast<double>(peak - base) / static_cast<double>(kQueued) + extra},
            {"peak_rss", "MiB", static_cast<double>(peak) / 1048576.0}};
}

std::vector<Metric> mem_weft(bool futures) {
    std::vector<weft_future *> fs(futures ? static_cast<std::size_t>(kQueued) : 0);  // zeroed: resident already
    weft_pool *p = new_weft_pool();
    for (int i = 0; i < 2; ++i) BENCH_CHECK(weft_pool_execute(p, weft_gate_task, nullptr, WEFT_FOREVER) == WEFT_OK, "W4", "gate");
    wait_gated(2);
    reset_counts();
    std::int64_t base = current_rss_bytes();
    for (std::int64_t i = 0; i < kQueued; ++i) {
        weft_status s = futures ? weft_pool_submit(p, weft_task, nullptr, &fs[static_cast<std::size_t>(i)], WEFT_FOREVER)
                                : weft_pool_execute(p, weft_task, nullptr, WEFT_FOREVER);
        BENCH_CHECK(s == WEFT_OK, "W4", "weft_pool memory");
    }
    std::int64_t peak = peak_rss_bytes();
    g_gate.store(true, std::memory_order_release);
    for (weft_future *f : fs) {
        BENCH_CHECK(weft_future_wait(f, WEFT_FOREVER) == WEFT_OK, "W4", "weft_pool memory");
        weft_future_destroy(f);
    }
    BENCH_CHECK(weft_pool_shutdown(p, 1, 0) == WEFT_OK, "W4", "weft_pool memory");
    weft_pool_destroy(p);
    if (tasks_ran() != static_cast<std::uint64_t>(kQueued)) die("W4", "weft_pool memory", "tasks lost");
    return per_task(base, peak, futures ? "bytes_per_queued_future" : "bytes_per_queued_task");
}

std::vector<Metric> mem_std_pool() {
    std::vector<std::future<void *>> fs(static_cast<std::size_t>(kQueued));  // written: resident already
    {
        StdPool<std::packaged_task<void *()>> pool(2);
        for (int i = 0; i < 2; ++i) pool.submit(std::packaged_task<void *()>([] {
            gate_wait();
            return static_cast<void *>(nullptr);
        }));
        wait_gated(2);
        reset_counts();
        std::int64_t base = current_rss_bytes();
        for (std::int64_t i = 0; i < kQueued; ++i) {
            std::packaged_task<void *()> t([] { return std_task(nullptr); });
            fs[static_cast<std::size_t>(i)] = t.get_future();
            pool.submit(std::move(t));
        }
        std::int64_t peak = peak_rss_bytes();
        g_gate.store(true, std::memory_order_release);
        for (std::future<void *> &f : fs) f.get();
        pool.join();
        if (tasks_ran() != static_cast<std::uint64_t>(kQueued)) die("W4", "std pool memory", "tasks lost");
        return per_task(base, peak, "bytes_per_queued_future");
    }
}

#if BENCH_HAVE_UV
void uv_gate(uv_work_t *) { gate_wait(); }

std::vector<Metric> mem_uv() {
    std::vector<uv_work_t> reqs(static_cast<std::size_t>(kQueued) + 2);  // zeroed: resident already
    uv_loop_t loop;
    BENCH_CHECK(uv_loop_init(&loop) == 0, "W4", "uv memory");
    for (int i = 0; i < 2; ++i) BENCH_CHECK(uv_queue_work(&loop, &reqs[static_cast<std::size_t>(i)], uv_gate, nullptr) == 0, "W4", "uv");
    wait_gated(2);
    reset_counts();
    g_uv_after = 0;
    std::int64_t base = current_rss_bytes();
    for (std::int64_t i = 0; i < kQueued; ++i)
        BENCH_CHECK(uv_queue_work(&loop, &reqs[static_cast<std::size_t>(i) + 2], uv_task, uv_after) == 0, "W4", "uv");
    std::int64_t peak = peak_rss_bytes();
    g_gate.store(true, std::memory_order_release);
    uv_run(&loop, UV_RUN_DEFAULT);
    BENCH_CHECK(uv_loop_close(&loop) == 0, "W4", "uv memory");
    if (g_uv_after != static_cast<std::uint64_t>(kQueued)) die("W4", "uv memory", "callbacks missing");
    // The request is the caller's memory: count it.
    return per_task(base, peak, "bytes_per_queued_task", static_cast<double>(sizeof(uv_work_t)));
}
#endif

#if BENCH_HAVE_GLIB
void g_gate_task(gpointer data, gpointer) {
    if (data == item_of(2)) gate_wait();
    else count_task();
}

std::vector<Metric> mem_glib() {
    GThreadPool *p = g_thread_pool_new(g_gate_task, nullptr, 2, FALSE, nullptr);
    for (int i = 0; i < 2; ++i) g_thread_pool_push(p, item_of(2), nullptr);
    wait_gated(2);
    reset_counts();
    std::int64_t base = current_rss_bytes();
    for (std::int64_t i = 0; i < kQueued; ++i) g_thread_pool_push(p, item_of(1), nullptr);
    std::int64_t peak = peak_rss_bytes();
    g_gate.store(true, std::memory_order_release);
    g_thread_pool_free(p, FALSE, TRUE);
    if (tasks_ran() != static_cast<std::uint64_t>(kQueued)) die("W4", "glib memory", "tasks lost");
    return per_task(base, peak, "bytes_per_queued_task");
}
#endif

}  // namespace

void register_pool(std::vector<Workload> &out) {
#if BENCH_HAVE_UV
    // libuv reads this once, when its thread pool first starts.
    setenv("UV_THREADPOOL_SIZE", "2", 1);
#endif
    Workload w;
    w.id = "W4.exec";
    w.title = "pool of 2 workers, 1M empty tasks submitted then all awaited, tasks/s";
    w.primary = "tasks_per_s";
    w.lower_is_better = false;
    w.goal_kind = Goal::at_least;
    w.goal = 1.2;
    w.goal_text = ">= 1.20x best peer pool";
    w.rounds_factor = 1;
    w.impls.push_back(Impl{"weft_pool_execute", Role::weft, exec_weft});
#if BENCH_HAVE_GLIB
    w.impls.push_back(Impl{"g_thread_pool", Role::peer, exec_glib});
#endif
#if BENCH_HAVE_TBB
    w.impls.push_back(Impl{"tbb_task_group", Role::peer, exec_tbb, true, "task_arena(2): submitter + 1 worker"});
#endif
#if BENCH_HAVE_UV
    w.impls.push_back(Impl{"uv_queue_work", Role::peer, [] { return uv_run_tasks("W4.exec", "uv_queue_work", false); }});
#endif
    w.impls.push_back(Impl{"std_thread_pool", Role::peer, exec_std_pool, true, "textbook: mutex+condvar+deque"});
    out.push_back(std::move(w));

    Workload f;
    f.id = "W4.future";
    f.title = "pool of 2 workers, 1M tasks each with a future, submitted then all awaited, tasks/s";
    f.primary = "tasks_per_s";
    f.lower_is_better = false;
    f.goal_kind = Goal::at_least;
    f.goal = 1.0;
#if BENCH_HAVE_UV
    f.goal_text = ">= 1.00x libuv callback rate";
    f.goal_peer = "uv_queue_work_cb";
#else
    f.goal_text = ">= 1.00x best peer (libuv missing)";
#endif
    f.impls.push_back(Impl{"weft_pool_submit", Role::weft, future_weft});
#if BENCH_HAVE_UV
    f.impls.push_back(
        Impl{"uv_queue_work_cb", Role::peer, [] { return uv_run_tasks("W4.future", "uv_queue_work_cb", true); }, true,
             "after_work callback per task"});
#endif
    f.impls.push_back(Impl{"std_packaged_task_pool", Role::peer, future_std_pool, true, "textbook pool"});
    f.impls.push_back(Impl{"std_async", Role::peer, future_std_async, false, "a thread per task: 2k tasks"});
    out.push_back(std::move(f));
}

void register_pool_memory(std::vector<MemProbe> &out) {
    out.push_back(MemProbe{"W4", "weft_pool_submit", Role::weft, [] { return mem_weft(true); },
                           "1M futures queued behind 2 gated workers; incl. the future"});
    out.push_back(MemProbe{"W4", "weft_pool_execute", Role::weft, [] { return mem_weft(false); },
                           "1M tasks queued behind 2 gated workers"});
    out.push_back(MemProbe{"W4", "std_packaged_task_pool", Role::peer, mem_std_pool,
                           "1M packaged_tasks queued; incl. shared state"});
#if BENCH_HAVE_UV
    out.push_back(MemProbe{"W4", "uv_queue_work", Role::peer, mem_uv, "1M requests queued; incl. sizeof(uv_work_t)"});
#endif
#if BENCH_HAVE_GLIB
    out.push_back(MemProbe{"W4", "g_thread_pool", Role::peer, mem_glib, "1M tasks queued"});
#endif
}

}  // namespace bench
