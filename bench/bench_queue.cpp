// W3: bounded queue of capacity 1024, 8-byte items (void *), 1 producer 1
// consumer (W3.1p1c) and 2 producers 2 consumers (W3.2p2c), items/s.
// weft_queue against oneTBB concurrent_bounded_queue, moodycamel's
// BlockingReaderWriterCircularBuffer (SPSC, so 1P1C only), a textbook ring
// (std::mutex + two std::condition_variable), and, for context only since
// they are unbounded, moodycamel's BlockingConcurrentQueue and GAsyncQueue.
// The goal names bounded blocking queues: the unbounded ones never count as
// the goal's peer. Boost has no header-only blocking bounded queue here
// (sync_bounded_queue needs libboost-thread; boost::lockfree never blocks).
//
// A sample moves N items: producer p puts p*N/P + 1 .. (p+1)*N/P, consumer c
// takes exactly N/C items; the sum and count of what arrived must be exact.
// Also: the queue's memory (peak RSS of a run; bytes per queued item).
#include <atomic>
#include <condition_variable>
#include <deque>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include <sys/resource.h>

#include <weft/common.h>
#include <weft/error.h>
#include <weft/queue.h>

#if BENCH_HAVE_GLIB
#include <glib.h>
#endif
#if BENCH_HAVE_MOODYCAMEL
#include <concurrentqueue/blockingconcurrentqueue.h>
#endif
#if BENCH_HAVE_RWQUEUE
#include <readerwriterqueue/readerwritercircularbuffer.h>
#endif
#if BENCH_HAVE_TBB
#include <tbb/concurrent_queue.h>
#endif

#include "harness.hpp"

namespace bench {
namespace {

constexpr std::size_t kCapacity = 1024;

// ---- queue adapters: Q(capacity) (0 = unbounded), put(x), get() ----------

struct WeftQueue {
    weft_queue *q = nullptr;
    explicit WeftQueue(std::size_t cap) {
        weft_queue_options o = WEFT_QUEUE_OPTIONS_INIT;
        o.capacity = cap;
        BENCH_CHECK(weft_queue_create(&q, &o) == WEFT_OK, "W3", "weft_queue");
    }
    ~WeftQueue() { weft_queue_destroy(q); }
    void put(void *x) { BENCH_CHECK(weft_queue_put(q, x, WEFT_FOREVER) == WEFT_OK, "W3", "weft_queue"); }
    void *get() {
        void *x = nullptr;
        BENCH_CHECK(weft_queue_get(q, &x, WEFT_FOREVER) == WEFT_OK, "W3", "weft_queue");
        return x;
    }
};

#if BENCH_HAVE_TBB
struct TbbQueue {
    tbb::concurrent_bounded_queue<void *> q;
    explicit TbbQueue(std::size_t cap) {
        if (cap) q.set_capacity(static_cast<std::ptrdiff_t>(cap));
    }
    void put(void *x) { q.push(x); }
    void *get() {
        void *x = nullptr;
        q.pop(x);
        return x;
    }
};
#endif

#if BENCH_HAVE_RWQUEUE
struct MoodyCircular {  // single producer, single consumer
    moodycamel::BlockingReaderWriterCircularBuffer<void *> q;
    explicit MoodyCircular(std::size_t cap) : q(cap) {}
    void put(void *x) { q.wait_enqueue(x); }
    void *get() {
        void *x = nullptr;
        q.wait_dequeue(x);
        return x;
    }
};
#endif

#if BENCH_HAVE_MOODYCAMEL
struct MoodyConcurrent {  // unbounded
    moodycamel::BlockingConcurrentQueue<void *> q;
    explicit MoodyConcurrent(std::size_t) {}
    void put(void *x) { BENCH_CHECK(q.enqueue(x), "W3", "moodycamel_bcq"); }
    void *get() {
        void *x = nullptr;
        q.wait_dequeue(x);
        return x;
    }
};
#endif

#if BENCH_HAVE_GLIB
struct GlibAsyncQueue {  // unbounded; items must not be NULL
    GAsyncQueue *q;
    explicit GlibAsyncQueue(std::size_t) : q(g_async_queue_new()) {}
    ~GlibAsyncQueue() { g_async_queue_unref(q); }
    void put(void *x) { g_async_queue_push(q, x); }
    void *get() { return g_async_queue_pop(q); }
};
#endif

// The textbook bounded buffer: a ring under one mutex, "not full" and "not
// empty" conditions, notify after unlock.
struct TextbookRing {
    std::mutex m;
    std::condition_variable not_empty, not_full;
    std::vector<void *> buf;
    std::size_t head = 0, n = 0;
    explicit TextbookRing(std::size_t cap) : buf(cap) { BENCH_CHECK(cap > 0, "W3", "textbook_ring"); }
    void put(void *x) {
        std::unique_lock<std::mutex> lk(m);
        not_full.wait(lk, [&] { return n < buf.size(); });
        buf[(head + n) % buf.size()] = x;
        ++n;
        lk.unlock();
        not_empty.notify_one();
    }
    void *get() {
        std::unique_lock<std::mutex> lk(m);
        not_empty.wait(lk, [&] { return n > 0; });
        void *x = buf[head];
        head = (head + 1) % buf.size();
        --n;
        lk.unlock();
        not_full.notify_one();
        return x;
    }
};

// Its unbounded cousin, for the bytes-per-item figure only.
struct TextbookDeque {
    std::mutex m;
    std::condition_variable not_empty;
    std::deque<void *> d;
    explicit TextbookDeque(std::size_t) {}
    void put(void *x) {
        {
            std::lock_guard<std::mutex> lk(m);
            d.push_back(x);
        }
        not_empty.notify_one();
    }
    void *get() {
        std::unique_lock<std::mutex> lk(m);
        not_empty.wait(lk, [&] { return !d.empty(); });
        void *x = d.front();
        d.pop_front();
        return x;
    }
};

long voluntary_switches() {
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);  // all threads of the process
    return ru.ru_nvcsw;
}

inline void *item_of(std::uint64_t v) { return reinterpret_cast<void *>(static_cast<std::uintptr_t>(v)); }
inline std::uint64_t value_of(void *x) { return static_cast<std::uint64_t>(reinterpret_cast<std::uintptr_t>(x)); }

std::int64_t items_per_sample() {
    std::int64_t n = sample_iters(2e5);
    return n < 4 ? 4 : n - n % 4;  // divisible by producers and consumers
}

// One run: P producers, C consumers, N items through a fresh queue.
template <class Q>
[[gnu::noinline]] std::vector<Metric> w3_run(const char *wl, const char *name, int producers, int consumers) {
    auto q = std::make_unique<Q>(kCapacity);
    const std::int64_t n = items_per_sample();
    const std::uint64_t per_p = static_cast<std::uint64_t>(n / producers);
    const std::uint64_t per_c = static_cast<std::uint64_t>(n / consumers);
    struct alignas(64) Got {
        std::uint64_t count = 0, sum = 0;
    };
    std::vector<Got> got(static_cast<std::size_t>(consumers));
    std::atomic<int> ready{0};
    std::atomic<bool> go{false};
    std::vector<std::thread> ts;
    for (int c = 0; c < consumers; ++c)
        ts.emplace_back([&, c] {
            ready.fetch_add(1);
            while (!go.load(std::memory_order_acquire)) std::this_thread::yield();
            std::uint64_t cnt = 0, sum = 0;
            for (std::uint64_t i = 0; i < per_c; ++i) {
                sum += value_of(q->get());
                ++cnt;
            }
            got[static_cast<std::size_t>(c)].count = cnt;
            got[static_cast<std::size_t>(c)].sum = sum;
        });
    for (int p = 0; p < producers; ++p)
        ts.emplace_back([&, p] {
            ready.fetch_add(1);
            while (!go.load(std::memory_order_acquire)) std::this_thread::yield();
            const std::uint64_t base = static_cast<std::uint64_t>(p) * per_p;
            for (std::uint64_t i = 1; i <= per_p; ++i) q->put(item_of(base + i));
        });
    while (ready.load() < producers + consumers) std::this_thread::yield();
    long sw0 = voluntary_switches();
    std::int64_t t0 = now_ns();
    go.store(true, std::memory_order_release);
    for (std::thread &t : ts) t.join();
    std::int64_t t1 = now_ns();
    long sw1 = voluntary_switches();
    std::uint64_t cnt = 0, sum = 0;
    for (const Got &g : got) {
        cnt += g.count;
        sum += g.sum;
    }
    const std::uint64_t total = static_cast<std::uint64_t>(n);
    if (cnt != total || sum != total * (total + 1) / 2) die(wl, name, "items lost or duplicated (count or sum differs)");
    double secs = static_cast<double>(t1 - t0) / 1e9;
    return {
        {"items_per_s", "/s", static_cast<double>(n) / secs},
        {"ctx_switches_per_kitem", "sw", static_cast<double>(sw1 - sw0) * 1000.0 / static_cast<double>(n)},
    };
}

template <class Q>
Impl w3_impl(const char *wl, const char *name, int p, int c, bool bounded = true) {
    return Impl{name, Role::peer, [=] { return w3_run<Q>(wl, name, p, c); }, bounded,
                bounded ? std::string() : std::string("unbounded: not a goal peer")};
}

Workload w3_workload(const char *id, const char *title, int p, int c) {
    Workload w;
    w.id = id;
    w.title = title;
    w.primary = "items_per_s";
    w.lower_is_better = false;
    w.goal_kind = Goal::at_least;
    w.goal = 1.5;
    w.goal_text = ">= 1.50x best bounded blocking peer";
    Impl weft = w3_impl<WeftQueue>(id, "weft_queue", p, c);
    weft.role = Role::weft;
    w.impls.push_back(std::move(weft));
#if BENCH_HAVE_TBB
    w.impls.push_back(w3_impl<TbbQueue>(id, "tbb_bounded_queue", p, c));
#endif
#if BENCH_HAVE_RWQUEUE
    if (p == 1 && c == 1) w.impls.push_back(w3_impl<MoodyCircular>(id, "moodycamel_circular", p, c));
#endif
    w.impls.push_back(w3_impl<TextbookRing>(id, "textbook_ring", p, c));
#if BENCH_HAVE_MOODYCAMEL
    w.impls.push_back(w3_impl<MoodyConcurrent>(id, "moodycamel_bcq", p, c, false));
#endif
#if BENCH_HAVE_GLIB
    w.impls.push_back(w3_impl<GlibAsyncQueue>(id, "g_async_queue", p, c, false));
#endif
    return w;
}

// ---- memory ---------------------------------------------------------------

// Peak RSS of one W3 1P1C run (in a fresh child), and its growth over the
// child's resident size before the queue existed.
template <class Q>
std::vector<Metric> mem_run(const char *name) {
    std::int64_t base = current_rss_bytes();
    std::vector<Metric> ms = w3_run<Q>("W3", name, 1, 1);
    std::int64_t peak = peak_rss_bytes();
    return {{"peak_rss", "MiB", static_cast<double>(peak) / 1048576.0},
            {"rss_growth", "KiB", static_cast<double>(peak - base) / 1024.0}};
}

// Bytes per queued item: 1M items put by one thread into a queue of
// `capacity` (0 = unbounded), (peak RSS - RSS before) / 1M; then drained and
// checked.
template <class Q>
std::vector<Metric> mem_per_item(const char *name, std::size_t capacity) {
    constexpr std::uint64_t kItems = 1000000;
    std::int64_t base = current_rss_bytes();
    std::uint64_t sum = 0;
    {
        auto q = std::make_unique<Q>(capacity);
        for (std::uint64_t i = 1; i <= kItems; ++i) q->put(item_of(i));
        std::int64_t peak = peak_rss_bytes();
        for (std::uint64_t i = 1; i <= kItems; ++i) sum += value_of(q->get());
        if (sum != kItems * (kItems + 1) / 2) die("queue", name, "items lost (sum differs)");
        return {{"bytes_per_queued_item", "B", static_cast<double>(peak - base) / static_cast<double>(kItems)},
                {"peak_rss", "MiB", static_cast<double>(peak) / 1048576.0}};
    }
}

template <class Q>
MemProbe run_probe(const char *name, Role role, const char *note = "") {
    return MemProbe{"W3", name, role, [name] { return mem_run<Q>(name); }, note};
}

template <class Q>
MemProbe item_probe(const char *name, Role role, std::size_t capacity, const char *note) {
    return MemProbe{"queue", name, role, [name, capacity] { return mem_per_item<Q>(name, capacity); }, note};
}

}  // namespace

void register_queue(std::vector<Workload> &out) {
    out.push_back(w3_workload("W3.1p1c", "bounded queue (1024) of void *, 1 producer 1 consumer, items/s", 1, 1));
    out.push_back(w3_workload("W3.2p2c", "bounded queue (1024) of void *, 2 producers 2 consumers, items/s", 2, 2));
}

void register_queue_memory(std::vector<MemProbe> &out) {
    out.push_back(run_probe<WeftQueue>("weft_queue", Role::weft, "one W3.1p1c run"));
#if BENCH_HAVE_TBB
    out.push_back(run_probe<TbbQueue>("tbb_bounded_queue", Role::peer, "one W3.1p1c run"));
#endif
#if BENCH_HAVE_RWQUEUE
    out.push_back(run_probe<MoodyCircular>("moodycamel_circular", Role::peer, "one W3.1p1c run"));
#endif
    out.push_back(run_probe<TextbookRing>("textbook_ring", Role::peer, "one W3.1p1c run"));
#if BENCH_HAVE_MOODYCAMEL
    out.push_back(run_probe<MoodyConcurrent>("moodycamel_bcq", Role::peer, "one W3.1p1c run; unbounded"));
#endif
#if BENCH_HAVE_GLIB
    out.push_back(run_probe<GlibAsyncQueue>("g_async_queue", Role::peer, "one W3.1p1c run; unbounded"));
#endif
    out.push_back(item_probe<WeftQueue>("weft_queue_unbounded", Role::weft, 0, "1M items queued; unbounded"));
    out.push_back(item_probe<WeftQueue>("weft_queue_bounded_2p20", Role::weft, std::size_t{1} << 20,
                                        "1M items in a bounded ring of 2^20 slots"));
#if BENCH_HAVE_TBB
    out.push_back(item_probe<TbbQueue>("tbb_bounded_queue", Role::peer, 0, "1M items queued; no capacity set"));
#endif
#if BENCH_HAVE_MOODYCAMEL
    out.push_back(item_probe<MoodyConcurrent>("moodycamel_bcq", Role::peer, 0, "1M items queued"));
#endif
#if BENCH_HAVE_GLIB
    out.push_back(item_probe<GlibAsyncQueue>("g_async_queue", Role::peer, 0, "1M items queued"));
#endif
    out.push_back(item_probe<TextbookDeque>("std_deque_mutex", Role::peer, 0, "1M items queued"));
}

}  // namespace bench
