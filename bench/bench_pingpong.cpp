// W5: ping-pong between 2 threads, round trips/s.
// The main thread posts A and waits on B; the partner waits on A and posts
// B. weft_semaphore and weft_event against moodycamel's
// LightweightSemaphore (the goal), sem_t, pthread cond+mutex, GCond+GMutex,
// uv_sem_t and C++20 std::binary_semaphore / std::counting_semaphore.
// Also reported: voluntary context switches per round trip (getrusage), the
// cheapest hint of how often a primitive really goes to sleep.
#include <atomic>
#include <memory>
#include <thread>

#include <pthread.h>
#include <semaphore.h>
#include <sys/resource.h>

#include <weft/common.h>
#include <weft/error.h>
#include <weft/semaphore.h>
#include <weft/event.h>

#if BENCH_HAVE_GLIB
#include <glib.h>
#endif
#if BENCH_HAVE_UV
#include <uv.h>
#endif
#if BENCH_HAVE_MOODYCAMEL
// lightweightsemaphore.h is not self-contained; this header includes it.
#include <concurrentqueue/blockingconcurrentqueue.h>
#endif
#if __has_include(<semaphore>)
#include <semaphore>
#endif

#include "harness.hpp"

namespace bench {
namespace {

// ---- signal adapters: post() wakes one wait() -----------------------------

struct alignas(64) WeftSem {
    weft_semaphore *s = nullptr;
    WeftSem() { BENCH_CHECK(weft_semaphore_create(&s, 0, nullptr) == WEFT_OK, "W5", "weft_semaphore"); }
    ~WeftSem() { weft_semaphore_destroy(s); }
    void post() { BENCH_CHECK(weft_semaphore_release(s, 1) == WEFT_OK, "W5", "weft_semaphore"); }
    void wait() { BENCH_CHECK(weft_semaphore_acquire(s, WEFT_FOREVER) == WEFT_OK, "W5", "weft_semaphore"); }
};

// Python's Event ping-pong: set to signal; the single waiter clears after
// waking (before it signals back, so the flag is down when seen again).
struct alignas(64) WeftEvent {
    weft_event *e = nullptr;
    WeftEvent() { BENCH_CHECK(weft_event_create(&e, nullptr) == WEFT_OK, "W5", "weft_event"); }
    ~WeftEvent() { weft_event_destroy(e); }
    void post() { BENCH_CHECK(weft_event_set(e) == WEFT_OK, "W5", "weft_event"); }
    void wait() {
        BENCH_CHECK(weft_event_wait(e, WEFT_FOREVER) == WEFT_OK, "W5", "weft_event");
        BENCH_CHECK(weft_event_clear(e) == WEFT_OK, "W5", "weft_event");
    }
};

#if BENCH_HAVE_MOODYCAMEL
struct alignas(64) MoodySem {
    moodycamel::LightweightSemaphore s{0};
    void post() { s.signal(); }
    void wait() { BENCH_CHECK(s.wait(), "W5", "moodycamel_lwsem"); }
};
#endif

struct alignas(64) PosixSem {
    sem_t s;
    PosixSem() { BENCH_CHECK(sem_init(&s, 0, 0) == 0, "W5", "sem_t"); }
    ~PosixSem() { sem_destroy(&s); }
    void post() { BENCH_CHECK(sem_post(&s) == 0, "W5", "sem_t"); }
    void wait() {
        while (sem_wait(&s) != 0) BENCH_CHECK(errno == EINTR, "W5", "sem_t");
    }
};

// A counting semaphore from a mutex, a condition and a count: what a C
// programmer writes by hand. Signal after unlock (the faster order).
struct alignas(64) PthreadCond {
    pthread_mutex_t m = PTHREAD_MUTEX_INITIALIZER;
    pthread_cond_t c = PTHREAD_COND_INITIALIZER;
    unsigned count = 0;
    ~PthreadCond() {
        pthread_cond_destroy(&c);
        pthread_mutex_destroy(&m);
    }
    void post() {
        pthread_mutex_lock(&m);
        ++count;
        pthread_mutex_unlock(&m);
        pthread_cond_signal(&c);
    }
    void wait() {
        pthread_mutex_lock(&m);
        while (count == 0) pthread_cond_wait(&c, &m);
        --count;
        pthread_mutex_unlock(&m);
    }
};

#if BENCH_HAVE_GLIB
struct alignas(64) GlibCond {
    GMutex m;
    GCond c;
    unsigned count = 0;
    GlibCond() {
        g_mutex_init(&m);
        g_cond_init(&c);
    }
    ~GlibCond() {
        g_cond_clear(&c);
        g_mutex_clear(&m);
    }
    void post() {
        g_mutex_lock(&m);
        ++count;
        g_mutex_unlock(&m);
        g_cond_signal(&c);
    }
    void wait() {
        g_mutex_lock(&m);
        while (count == 0) g_cond_wait(&c, &m);
        --count;
        g_mutex_unlock(&m);
    }
};
#endif

#if BENCH_HAVE_UV
struct alignas(64) UvSem {
    uv_sem_t s;
    UvSem() { BENCH_CHECK(uv_sem_init(&s, 0) == 0, "W5", "uv_sem"); }
    ~UvSem() { uv_sem_destroy(&s); }
    void post() { uv_sem_post(&s); }
    void wait() { uv_sem_wait(&s); }
};
#endif

#if defined(__cpp_lib_semaphore)
struct alignas(64) StdBinarySem {
    std::binary_semaphore s{0};
    void post() { s.release(); }
    void wait() { s.acquire(); }
};
struct alignas(64) StdCountingSem {
    std::counting_semaphore<> s{0};
    void post() { s.release(); }
    void wait() { s.acquire(); }
};
#endif

long voluntary_switches() {
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return ru.ru_nvcsw;
}

template <class S>
[[gnu::noinline]] std::vector<Metric> w5_run(const char *name) {
    auto a = std::make_unique<S>();
    auto b = std::make_unique<S>();
    std::atomic<bool> quit{false};
    std::thread partner([&] {
        for (;;) {
            a->wait();
            if (quit.load(std::memory_order_acquire)) break;
            b->post();
        }
    });
    for (int i = 0; i < 64; ++i) {  // both threads running and warm
        a->post();
        b->wait();
    }
    const std::int64_t limit = sample_ns(150);
    std::uint64_t n = 0;
    long sw0 = voluntary_switches();
    std::int64_t t0 = now_ns(), t1;
    for (;;) {
        for (int i = 0; i < 16; ++i) {
            a->post();
            b->wait();
        }
        n += 16;
        t1 = now_ns();
        if (t1 - t0 >= limit) break;
    }
    long sw1 = voluntary_switches();
    quit.store(true, std::memory_order_release);
    a->post();
    partner.join();
    (void)name;
    double secs = static_cast<double>(t1 - t0) / 1e9;
    return {
        {"round_trips_per_s", "/s", static_cast<double>(n) / secs},
        {"ctx_switches_per_rt", "sw", static_cast<double>(sw1 - sw0) / static_cast<double>(n)},
    };
}

template <class S>
Impl w5_impl(const char *name, Role role) {
    return Impl{name, role, [name] { return w5_run<S>(name); }};
}

}  // namespace

void register_pingpong(std::vector<Workload> &out) {
    Workload w;
    w.id = "W5";
    w.title = "ping-pong between 2 threads, round trips/s";
    w.primary = "round_trips_per_s";
    w.lower_is_better = false;
    w.goal_kind = Goal::at_least;
    w.goal = 1.0;
    w.goal_text = ">= 1.00x moodycamel LightweightSemaphore";
#if BENCH_HAVE_MOODYCAMEL
    w.goal_peer = "moodycamel_lwsem";
#endif
    w.impls.push_back(w5_impl<WeftSem>("weft_semaphore", Role::weft));
    w.impls.push_back(w5_impl<WeftEvent>("weft_event", Role::weft));
#if BENCH_HAVE_MOODYCAMEL
    w.impls.push_back(w5_impl<MoodySem>("moodycamel_lwsem", Role::peer));
#endif
    w.impls.push_back(w5_impl<PosixSem>("sem_t", Role::peer));
    w.impls.push_back(w5_impl<PthreadCond>("pthread_cond_mutex", Role::peer));
#if BENCH_HAVE_GLIB
    w.impls.push_back(w5_impl<GlibCond>("g_cond_mutex", Role::peer));
#endif
#if BENCH_HAVE_UV
    w.impls.push_back(w5_impl<UvSem>("uv_sem", Role::peer));
#endif
#if defined(__cpp_lib_semaphore)
    w.impls.push_back(w5_impl<StdBinarySem>("std_binary_semaphore", Role::peer));
    w.impls.push_back(w5_impl<StdCountingSem>("std_counting_semaphore", Role::peer));
#endif
    out.push_back(std::move(w));
}

}  // namespace bench
