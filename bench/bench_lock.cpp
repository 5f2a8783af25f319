// W1: uncontended lock+unlock, ns per pair.
// W2: 2 threads increment one counter under one lock for a fixed time:
//     increments/s, exact final count, each thread's share.
// weft_lock against pthread (default and adaptive), std::mutex, GMutex and
// uv_mutex_t; a raw atomic compare-and-swap pair is W1's physical reference.
// W1.process: the same for process-scope locks: a process-scope weft_lock
// against a robust process-shared pthread mutex and Boost.Interprocess's
// interprocess_mutex, each living in a shared mapping.
// W9: 2 forked processes increment one counter in shared memory under one
// process lock for a fixed time: increments/s, exact final count.
#include <atomic>
#include <cerrno>
#include <memory>
#include <mutex>
#include <new>
#include <thread>

#include <pthread.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include <boost/interprocess/sync/interprocess_mutex.hpp>

#include <weft/error.h>
#include <weft/lock.h>

#if BENCH_HAVE_GLIB
#include <glib.h>
#endif
#if BENCH_HAVE_UV
#include <uv.h>
#endif

#include "harness.hpp"

namespace bench {
namespace {

// ---- lock adapters: construct = init, destruct = destroy ----------------

struct alignas(64) WeftLock {
    weft_lock *l = nullptr;
    WeftLock() { BENCH_CHECK(weft_lock_create(&l, nullptr) == WEFT_OK, "lock", "weft_lock"); }
    ~WeftLock() { weft_lock_destroy(l); }
    void lock() { BENCH_CHECK(weft_lock_acquire(l, WEFT_FOREVER) == WEFT_OK, "lock", "weft_lock"); }
    void unlock() { BENCH_CHECK(weft_lock_release(l) == WEFT_OK, "lock", "weft_lock"); }
};

struct alignas(64) PthreadDefault {
    pthread_mutex_t m;
    PthreadDefault() { BENCH_CHECK(pthread_mutex_init(&m, nullptr) == 0, "lock", "pthread_mutex"); }
    ~PthreadDefault() { pthread_mutex_destroy(&m); }
    void lock() { BENCH_CHECK(pthread_mutex_lock(&m) == 0, "lock", "pthread_mutex"); }
    void unlock() { BENCH_CHECK(pthread_mutex_unlock(&m) == 0, "lock", "pthread_mutex"); }
};

struct alignas(64) PthreadAdaptive {
    pthread_mutex_t m;
    PthreadAdaptive() {
        pthread_mutexattr_t a;
        pthread_mutexattr_init(&a);
        pthread_mutexattr_settype(&a, PTHREAD_MUTEX_ADAPTIVE_NP);
        BENCH_CHECK(pthread_mutex_init(&m, &a) == 0, "lock", "pthread_adaptive");
        pthread_mutexattr_destroy(&a);
    }
    ~PthreadAdaptive() { pthread_mutex_destroy(&m); }
    void lock() { BENCH_CHECK(pthread_mutex_lock(&m) == 0, "lock", "pthread_adaptive"); }
    void unlock() { BENCH_CHECK(pthread_mutex_unlock(&m) == 0, "lock", "pthread_adaptive"); }
};

struct alignas(64) StdMutex {
    std::mutex m;
    void lock() { m.lock(); }
    void unlock() { m.unlock(); }
};

#if BENCH_HAVE_GLIB
struct alignas(64) GlibMutex {
    GMutex m;
    GlibMutex() { g_mutex_init(&m); }
    ~GlibMutex() { g_mutex_clear(&m); }
    void lock() { g_mutex_lock(&m); }
    void unlock() { g_mutex_unlock(&m); }
};
#endif

#if BENCH_HAVE_UV
struct alignas(64) UvMutex {
    uv_mutex_t m;
    UvMutex() { BENCH_CHECK(uv_mutex_init(&m) == 0, "lock", "uv_mutex"); }
    ~UvMutex() { uv_mutex_destroy(&m); }
    void lock() { uv_mutex_lock(&m); }
    void unlock() { uv_mutex_unlock(&m); }
};
#endif

// The physical reference: one CAS to take, one CAS to give back (what
// weft_lock's uncontended path is made of), inlined, no call.
struct alignas(64) RawCas {
    std::atomic<std::uint32_t> w{0};
    void lock() {
        std::uint32_t e = 0;
        while (!w.compare_exchange_strong(e, 1, std::memory_order_acquire, std::memory_order_relaxed)) e = 0;
    }
    void unlock() {
        std::uint32_t e = 1;
        BENCH_CHECK(w.compare_exchange_strong(e, 0, std::memory_order_release, std::memory_order_relaxed), "W1",
                    "raw_cas");
    }
};

// ---- process-scope lock adapters (placed in a shared mapping) --------------

struct alignas(64) WeftPLock {
    weft_lock *l = nullptr;
    WeftPLock() {
        weft_lock_options o = WEFT_LOCK_OPTIONS_INIT;
        o.share.scope = WEFT_SCOPE_PROCESS;
        BENCH_CHECK(weft_lock_create(&l, &o) == WEFT_OK, "lock", "weft_lock_process");
    }
    ~WeftPLock() { weft_lock_destroy(l); }
    void lock() { BENCH_CHECK(weft_lock_acquire(l, WEFT_FOREVER) == WEFT_OK, "lock", "weft_lock_process"); }
    void unlock() { BENCH_CHECK(weft_lock_release(l) == WEFT_OK, "lock", "weft_lock_process"); }
};

// The robust process-shared mutex a C programmer would write by hand (what
// weft's process-scope lock is built on), with the owner-died check.
struct alignas(64) PthreadRobust {
    pthread_mutex_t m;
    PthreadRobust() {
        pthread_mutexattr_t a;
        pthread_mutexattr_init(&a);
        pthread_mutexattr_setpshared(&a, PTHREAD_PROCESS_SHARED);
        pthread_mutexattr_setrobust(&a, PTHREAD_MUTEX_ROBUST);
        BENCH_CHECK(pthread_mutex_init(&m, &a) == 0, "lock", "pthread_robust");
        pthread_mutexattr_destroy(&a);
    }
    ~PthreadRobust() { pthread_mutex_destroy(&m); }
    void lock() {
        int r = pthread_mutex_lock(&m);
        if (__builtin_expect(r == EOWNERDEAD, 0)) r = pthread_mutex_consistent(&m);
        BENCH_CHECK(r == 0, "lock", "pthread_robust");
    }
    void unlock() { BENCH_CHECK(pthread_mutex_unlock(&m) == 0, "lock", "pthread_robust"); }
};

struct alignas(64) BoostIpMutex {
    boost::interprocess::interprocess_mutex m;
    void lock() { m.lock(); }
    void unlock() { m.unlock(); }
};

// A shared anonymous mapping holding one T, constructed in place.
template <class T>
struct SharedBox {
    void *mem;
    T *obj;
    SharedBox() {
        mem = mmap(nullptr, sizeof(T), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
        BENCH_CHECK(mem != MAP_FAILED, "lock", "mmap");
        obj = new (mem) T;
    }
    ~SharedBox() {
        obj->~T();
        munmap(mem, sizeof(T));
    }
};

// ---- W1 -------------------------------------------------------------------

template <class L>
[[gnu::noinline]] std::vector<Metric> w1_run() {
    auto l = std::make_unique<L>();
    const std::int64_t n = sample_iters(5e5);
    std::int64_t t0 = now_ns();
    for (std::int64_t i = 0; i < n; ++i) {
        l->lock();
        l->unlock();
    }
    std::int64_t t1 = now_ns();
    return {{"ns_per_pair", "ns", static_cast<double>(t1 - t0) / static_cast<double>(n)}};
}

template <class L>
Impl w1_impl(const char *name, Role role) {
    return Impl{name, role, [] { return w1_run<L>(); }};
}

template <class L>
[[gnu::noinline]] std::vector<Metric> w1p_run() {
    SharedBox<L> box;
    L *l = box.obj;
    const std::int64_t n = sample_iters(5e5);
    std::int64_t t0 = now_ns();
    for (std::int64_t i = 0; i < n; ++i) {
        l->lock();
        l->unlock();
    }
    std::int64_t t1 = now_ns();
    return {{"ns_per_pair", "ns", static_cast<double>(t1 - t0) / static_cast<double>(n)}};
}

template <class L>
Impl w1p_impl(const char *name, Role role) {
    return Impl{name, role, [] { return w1p_run<L>(); }};
}

// ---- W9 -------------------------------------------------------------------

template <class L>
[[gnu::noinline]] std::vector<Metric> w9_run(const char *name) {
    struct alignas(64) Shared {
        L lock;
        alignas(64) std::uint64_t counter = 0;
        alignas(64) std::atomic<int> ready{0};
        std::atomic<int> go{0};
        std::atomic<int> stop{0};
        alignas(64) std::uint64_t mine[2] = {0, 0};
    };
    SharedBox<Shared> box;
    Shared *sh = box.obj;
    pid_t kids[2];
    for (int me = 0; me < 2; ++me) {
        kids[me] = fork();
        BENCH_CHECK(kids[me] >= 0, "W9", name);
        if (kids[me] == 0) {
            sh->ready.fetch_add(1);
            while (!sh->go.load(std::memory_order_acquire)) sched_yield();
            std::uint64_t c = 0;
            while (!sh->stop.load(std::memory_order_relaxed)) {
                sh->lock.lock();
                ++sh->counter;
                sh->lock.unlock();
                ++c;
            }
            sh->mine[me] = c;
            _exit(0);
        }
    }
    while (sh->ready.load() < 2) sched_yield();
    std::int64_t t0 = now_ns();
    sh->go.store(1, std::memory_order_release);
    std::this_thread::sleep_for(std::chrono::nanoseconds(sample_ns(150)));
    sh->stop.store(1, std::memory_order_relaxed);
    std::int64_t t1 = now_ns();
    for (pid_t k : kids) {
        int st = 0;
        while (waitpid(k, &st, 0) < 0 && errno == EINTR) {
        }
        if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) die("W9", name, "a child failed");
    }
    std::uint64_t total = sh->mine[0] + sh->mine[1];
    if (sh->counter != total) die("W9", name, "final count differs from the sum of increments");
    if (total == 0) die("W9", name, "no increments");
    double secs = static_cast<double>(t1 - t0) / 1e9;
    double lo = static_cast<double>(std::min(sh->mine[0], sh->mine[1])) / static_cast<double>(total);
    return {
        {"incr_per_s", "/s", static_cast<double>(total) / secs},
        {"min_share", "%", lo * 100},
        {"exact", "bool", 1.0},
    };
}

template <class L>
Impl w9_impl(const char *name, Role role) {
    return Impl{name, role, [name] { return w9_run<L>(name); }};
}

// ---- W2 -------------------------------------------------------------------

template <class L>
[[gnu::noinline]] std::vector<Metric> w2_run(const char *name) {
    struct alignas(64) Shared {
        L lock;
        std::uint64_t counter = 0;
        std::uint64_t switches = 0;  // owner changes, counted under the lock
        int last = -1;
    };
    auto sh = std::make_unique<Shared>();
    alignas(64) std::atomic<int> ready{0};
    alignas(64) std::atomic<bool> go{false};
    alignas(64) std::atomic<bool> stop{false};
    struct alignas(64) Mine {
        std::uint64_t n = 0;
    } mine[2];

    auto worker = [&](int me) {
        ready.fetch_add(1);
        while (!go.load(std::memory_order_acquire)) std::this_thread::yield();
        std::uint64_t c = 0;
        while (!stop.load(std::memory_order_relaxed)) {
            sh->lock.lock();
            ++sh->counter;
            if (sh->last != me) {
                sh->last = me;
                ++sh->switches;
            }
            sh->lock.unlock();
            ++c;
        }
        mine[me].n = c;
    };
    std::thread a(worker, 0), b(worker, 1);
    while (ready.load() < 2) std::this_thread::yield();
    std::int64_t t0 = now_ns();
    go.store(true, std::memory_order_release);
    std::this_thread::sleep_for(std::chrono::nanoseconds(sample_ns(150)));
    stop.store(true, std::memory_order_relaxed);
    std::int64_t t1 = now_ns();
    a.join();
    b.join();
    std::uint64_t total = mine[0].n + mine[1].n;
    if (sh->counter != total) die("W2", name, "final count differs from the sum of increments");
    if (total == 0) die("W2", name, "no increments");
    double secs = static_cast<double>(t1 - t0) / 1e9;
    double lo = static_cast<double>(std::min(mine[0].n, mine[1].n)) / static_cast<double>(total);
    return {
        {"incr_per_s", "/s", static_cast<double>(total) / secs},
        {"min_share", "%", lo * 100},
        {"exact", "bool", 1.0},
        {"owner_switches_per_s", "/s", static_cast<double>(sh->switches) / secs},
    };
}

template <class L>
Impl w2_impl(const char *name, Role role) {
    return Impl{name, role, [name] { return w2_run<L>(name); }};
}

}  // namespace

void register_lock(std::vector<Workload> &out) {
    Workload w1;
    w1.id = "W1";
    w1.title = "uncontended lock+unlock, ns per pair (thread scope)";
    w1.primary = "ns_per_pair";
    w1.lower_is_better = true;
    w1.goal_kind = Goal::at_most;
    w1.goal = 1.1;
    w1.goal_text = "<= 1.10x best peer mutex";
    w1.rounds_factor = 5;
    w1.impls.push_back(w1_impl<WeftLock>("weft_lock", Role::weft));
    w1.impls.push_back(w1_impl<PthreadDefault>("pthread_mutex", Role::peer));
    w1.impls.push_back(w1_impl<PthreadAdaptive>("pthread_mutex_adaptive", Role::peer));
    w1.impls.push_back(w1_impl<StdMutex>("std_mutex", Role::peer));
#if BENCH_HAVE_GLIB
    w1.impls.push_back(w1_impl<GlibMutex>("g_mutex", Role::peer));
#endif
#if BENCH_HAVE_UV
    w1.impls.push_back(w1_impl<UvMutex>("uv_mutex", Role::peer));
#endif
    w1.impls.push_back(w1_impl<RawCas>("raw_cas_pair", Role::reference));
    out.push_back(std::move(w1));

    Workload w1p;
    w1p.id = "W1.process";
    w1p.title = "uncontended lock+unlock, ns per pair (process scope, robust)";
    w1p.primary = "ns_per_pair";
    w1p.lower_is_better = true;
    w1p.goal_kind = Goal::at_most;
    w1p.goal = 1.1;
    w1p.goal_text = "<= 1.10x robust pthread mutex";
    w1p.goal_peer = "pthread_robust";
    w1p.rounds_factor = 5;
    w1p.impls.push_back(w1p_impl<WeftPLock>("weft_lock_process", Role::weft));
    w1p.impls.push_back(w1p_impl<PthreadRobust>("pthread_robust", Role::peer));
    w1p.impls.push_back(w1p_impl<BoostIpMutex>("boost_interprocess_mutex", Role::peer));
    out.push_back(std::move(w1p));

    Workload w2;
    w2.id = "W2";
    w2.title = "2 threads increment one counter under one lock, increments/s";
    w2.primary = "incr_per_s";
    w2.lower_is_better = false;
    w2.goal_kind = Goal::at_least;
    w2.goal = 1.0;
    w2.goal_text = ">= 1.00x best sleeping mutex; shares>=10%";
    w2.impls.push_back(w2_impl<WeftLock>("weft_lock", Role::weft));
    w2.impls.push_back(w2_impl<PthreadDefault>("pthread_mutex", Role::peer));
    w2.impls.push_back(w2_impl<PthreadAdaptive>("pthread_mutex_adaptive", Role::peer));
    w2.impls.push_back(w2_impl<StdMutex>("std_mutex", Role::peer));
#if BENCH_HAVE_GLIB
    w2.impls.push_back(w2_impl<GlibMutex>("g_mutex", Role::peer));
#endif
#if BENCH_HAVE_UV
    w2.impls.push_back(w2_impl<UvMutex>("uv_mutex", Role::peer));
#endif
    w2.extra_check = [](const std::string &, const std::function<double(const std::string &)> &median) {
        double s = median("min_share");
        if (s < 10.0) {
            char buf[64];
            std::snprintf(buf, sizeof buf, "a thread got %.1f%% < 10%%", s);
            return std::string(buf);
        }
        return std::string();
    };
    out.push_back(std::move(w2));

    Workload w9;
    w9.id = "W9";
    w9.title = "2 processes increment one shared counter under one process lock, increments/s";
    w9.primary = "incr_per_s";
    w9.lower_is_better = false;
    w9.goal_kind = Goal::at_least;
    w9.goal = 1.0;
    w9.goal_text = ">= 1.00x robust pthread mutex";
    w9.goal_peer = "pthread_robust";
    w9.impls.push_back(w9_impl<WeftPLock>("weft_lock_process", Role::weft));
    w9.impls.push_back(w9_impl<PthreadRobust>("pthread_robust", Role::peer));
    w9.impls.push_back(w9_impl<BoostIpMutex>("boost_interprocess_mutex", Role::peer));
    out.push_back(std::move(w9));
}

}  // namespace bench
