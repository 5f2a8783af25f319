// W8 (thread rows): start one thread running an empty function and join it,
// starts+joins per second. weft_thread against pthread_create/join,
// std::thread, g_thread_new/join and uv_thread_create/join, each with its
// default attributes (stack size included: that is what a user gets).
// The process rows of W8 (start-by-function + join, program spawn) go in a
// second workload id "W8p" here later.
#include <atomic>
#include <thread>

#include <pthread.h>

#include <weft/common.h>
#include <weft/error.h>
#include <weft/thread.h>

#if BENCH_HAVE_GLIB
#include <glib.h>
#endif
#if BENCH_HAVE_UV
#include <uv.h>
#endif

#include "harness.hpp"

namespace bench {
namespace {

int g_token;  // the argument every thread returns, checked at join

void *empty_ptr_fn(void *arg) { return arg; }

#if BENCH_HAVE_GLIB
gpointer empty_gfn(gpointer arg) { return arg; }
#endif

#if BENCH_HAVE_UV
std::atomic<int> uv_ran{0};
void empty_uv_fn(void *) { uv_ran.fetch_add(1, std::memory_order_relaxed); }
#endif

struct WeftThread {
    static void once() {
        weft_thread *t = nullptr;
        BENCH_CHECK(weft_thread_spawn(&t, empty_ptr_fn, &g_token, nullptr) == WEFT_OK, "W8", "weft_thread");
        void *r = nullptr;
        BENCH_CHECK(weft_thread_join(t, &r, WEFT_FOREVER) == WEFT_OK, "W8", "weft_thread");
        BENCH_CHECK(r == &g_token, "W8", "weft_thread");
        weft_thread_destroy(t);
    }
};

struct Pthread {
    static void once() {
        pthread_t t;
        BENCH_CHECK(pthread_create(&t, nullptr, empty_ptr_fn, &g_token) == 0, "W8", "pthread");
        void *r = nullptr;
        BENCH_CHECK(pthread_join(t, &r) == 0, "W8", "pthread");
        BENCH_CHECK(r == &g_token, "W8", "pthread");
    }
};

struct StdThread {
    static void once() {
        std::thread t([] {});
        t.join();
    }
};

#if BENCH_HAVE_GLIB
struct GlibThread {
    static void once() {
        GThread *t = g_thread_new(nullptr, empty_gfn, &g_token);  // aborts on failure
        void *r = g_thread_join(t);                                 // and drops the ref
        BENCH_CHECK(r == &g_token, "W8", "g_thread");
    }
};
#endif

#if BENCH_HAVE_UV
struct UvThread {
    static void once() {
        uv_thread_t t;
        BENCH_CHECK(uv_thread_create(&t, empty_uv_fn, nullptr) == 0, "W8", "uv_thread");
        BENCH_CHECK(uv_thread_join(&t) == 0, "W8", "uv_thread");
    }
};
#endif

template <class T>
[[gnu::noinline]] std::vector<Metric> w8_run() {
    const std::int64_t limit = sample_ns(120);
    std::uint64_t n = 0;
    std::int64_t t0 = now_ns(), t1;
    do {
        T::once();
        ++n;
        t1 = now_ns();
    } while (t1 - t0 < limit);
    double secs = static_cast<double>(t1 - t0) / 1e9;
    return {
        {"starts_per_s", "/s", static_cast<double>(n) / secs},
        {"us_per_start_join", "us", static_cast<double>(t1 - t0) / 1e3 / static_cast<double>(n)},
    };
}

template <class T>
Impl w8_impl(const char *name, Role role) {
    return Impl{name, role, [] { return w8_run<T>(); }};
}

}  // namespace

void register_thread(std::vector<Workload> &out) {
    Workload w;
    w.id = "W8";
    w.title = "thread start+join, per second";
    w.primary = "starts_per_s";
    w.lower_is_better = false;
    w.goal_kind = Goal::at_least;
    w.goal = 0.9;
    w.goal_text = ">= 0.90x best peer";
    w.impls.push_back(w8_impl<WeftThread>("weft_thread", Role::weft));
    w.impls.push_back(w8_impl<Pthread>("pthread_create", Role::peer));
    w.impls.push_back(w8_impl<StdThread>("std_thread", Role::peer));
#if BENCH_HAVE_GLIB
    w.impls.push_back(w8_impl<GlibThread>("g_thread", Role::peer));
#endif
#if BENCH_HAVE_UV
    w.impls.push_back(w8_impl<UvThread>("uv_thread", Role::peer));
#endif
    out.push_back(std::move(w));
}

}  // namespace bench
