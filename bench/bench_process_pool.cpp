// W7: process pool of 2 workers, 10k tiny tasks (square an int64), tasks/s.
//
// W7.pipe: weft's supervised pool against a bare fork+pipe pool written
// here, the physical reference the goal names (">= 0.7x"): 2 forked
// workers, a pipe pair each, one task in flight per worker, the parent
// poll()s both result pipes and refills whichever answered (round robin
// when both do). It has no futures, no supervisor thread, no crash
// handling: the cost of the bare protocol. weft runs the same 10k tasks
// through weft_process_pool_submit (a future each, all awaited: the
// Executor.submit path, awaited with one weft_future_wait_many, as
// concurrent.futures.wait) and through weft_process_pool_map (chunked, the
// Pool.map path).
// W7.py: weft_process_pool_map against Python's multiprocessing.Pool(2).map
// over the same 10k tiny tasks with its default chunking
// (bench/python/mp_pool_map.py, run with /usr/bin/python3 each round: the
// best of 5 maps in one warmed pool; the goal is 10x). Pool start-up is
// outside the timed part on every side, and in W7.pipe every side runs the
// 10k tasks once untimed first, in W7.py every side times the best of 5 maps.
// W7.latency: one task's round trip, submit to result in hand, ns: weft's
// weft_process_pool_apply against the bare pool's write+read.
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include <weft/error.h>
#include <weft/future.h>
#include <weft/process_pool.h>

#include "harness.hpp"

#ifndef BENCH_MP_POOL_SCRIPT
#define BENCH_MP_POOL_SCRIPT "bench/python/mp_pool_map.py"
#endif

namespace bench {

void register_process_pool(std::vector<Workload> &out);

namespace {

constexpr const char *kW = "W7";

std::int64_t tasks_per_sample() { return sample_iters(10000); }

weft_status square(const void *arg, size_t len, weft_ptask_result *out) {
    std::int64_t x = 0;
    if (len == sizeof x) std::memcpy(&x, arg, sizeof x);
    x *= x;
    return weft_ptask_result_set(out, &x, sizeof x);
}

std::vector<Metric> rate(std::int64_t n, std::int64_t t0, std::int64_t t1) {
    double secs = static_cast<double>(t1 - t0) / 1e9;
    return {{"tasks_per_s", "/s", static_cast<double>(n) / secs},
            {"ns_per_task", "ns", static_cast<double>(t1 - t0) / static_cast<double>(n)}};
}

weft_process_pool *new_pool() {
    weft_process_pool_options o = WEFT_PROCESS_POOL_OPTIONS_INIT;
    o.workers = 2;
    weft_process_pool *p = nullptr;
    BENCH_CHECK(weft_process_pool_create(&p, &o) == WEFT_OK, kW, "weft_process_pool");
    // Wait until both workers answered once, as the bare pool's are.
    std::int64_t x = 1;
    weft_bytes *r = nullptr;
    for (int i = 0; i < 4; i++) {
        BENCH_CHECK(weft_process_pool_apply(p, square, &x, sizeof x, &r) == WEFT_OK, kW, "weft_process_pool");
        weft_bytes_free(r);
    }
    return p;
}

std::vector<Metric> weft_submit() {
    weft_process_pool *p = new_pool();
    const std::int64_t n = tasks_per_sample();
    std::vector<weft_future *> fs(static_cast<size_t>(n));
    for (int warm = 0; warm < 2; warm++) {  // an untimed round first: workers past their first-touch faults
    std::int64_t t0 = now_ns();
    for (std::int64_t i = 0; i < n; i++)
        BENCH_CHECK(weft_process_pool_submit(p, square, &i, sizeof i, &fs[static_cast<size_t>(i)], WEFT_FOREVER) ==
                        WEFT_OK,
                    kW, "weft_process_pool_submit");
    // concurrent.futures.wait(fs): one sleep for all, not one per future
    BENCH_CHECK(weft_future_wait_many(fs.data(), fs.size(), WEFT_WAIT_ALL_COMPLETED, WEFT_FOREVER, nullptr) == WEFT_OK,
                kW, "weft_process_pool_submit");
    std::int64_t check = 0;
    for (std::int64_t i = 0; i < n; i++) {
        void *v = nullptr;
        BENCH_CHECK(weft_future_result(fs[static_cast<size_t>(i)], &v, 0) == WEFT_OK, kW,
                    "weft_process_pool_submit");
        std::int64_t y;
        std::memcpy(&y, static_cast<const weft_bytes *>(v)->data, sizeof y);
        check += y == i * i;
        weft_future_destroy(fs[static_cast<size_t>(i)]);
    }
    std::int64_t t1 = now_ns();
    BENCH_CHECK(check == n, kW, "weft_process_pool_submit");
    if (warm) {
        weft_process_pool_destroy(p);
        return rate(n, t0, t1);
    }
    }
    return {};
}

// One timed map of n after an untimed one of `warm` (W7.pipe), or the best of
// `repeats` (W7.py: what mp_pool_map.py does for Python).
std::vector<Metric> weft_map_runs(std::int64_t warm, int repeats) {
    weft_process_pool *p = new_pool();
    const std::int64_t n = tasks_per_sample();
    std::vector<std::int64_t> xs(static_cast<size_t>(n));
    std::vector<weft_bytes> args(static_cast<size_t>(n));
    std::vector<weft_bytes *> res(static_cast<size_t>(n));
    for (std::int64_t i = 0; i < n; i++) {
        xs[static_cast<size_t>(i)] = i;
        args[static_cast<size_t>(i)] = weft_bytes{sizeof(std::int64_t), &xs[static_cast<size_t>(i)]};
    }
    BENCH_CHECK(weft_process_pool_map(p, square, args.data(), static_cast<size_t>(std::min(warm, n)), res.data(),
                                      nullptr, 0, WEFT_FOREVER) == WEFT_OK,
                kW, "weft_process_pool_map");
    for (std::int64_t i = 0; i < std::min(warm, n); i++) weft_bytes_free(res[static_cast<size_t>(i)]);
    std::vector<Metric> best;
    for (int r = 0; r < repeats; r++) {
        std::int64_t t0 = now_ns();
        BENCH_CHECK(weft_process_pool_map(p, square, args.data(), static_cast<size_t>(n), res.data(), nullptr, 0,
                                          WEFT_FOREVER) == WEFT_OK,
                    kW, "weft_process_pool_map");
        std::int64_t check = 0;
        for (std::int64_t i = 0; i < n; i++) {
            std::int64_t y;
            std::memcpy(&y, res[static_cast<size_t>(i)]->data, sizeof y);
            check += y == i * i;
            weft_bytes_free(res[static_cast<size_t>(i)]);
        }
        std::int64_t t1 = now_ns();
        BENCH_CHECK(check == n, kW, "weft_process_pool_map");
        std::vector<Metric> m = rate(n, t0, t1);
        if (best.empty() || m[0].value > best[0].value) best = m;
    }
    weft_process_pool_destroy(p);
    return best;
}

std::vector<Metric> weft_map() { return weft_map_runs(tasks_per_sample(), 1); }
std::vector<Metric> weft_map_best5() { return weft_map_runs(100, 5); }

std::vector<Metric> weft_latency() {
    weft_process_pool *p = new_pool();
    const std::int64_t n = sample_iters(2000);
    std::int64_t t0 = now_ns();
    for (std::int64_t i = 0; i < n; i++) {
        weft_bytes *r = nullptr;
        BENCH_CHECK(weft_process_pool_apply(p, square, &i, sizeof i, &r) == WEFT_OK, kW, "weft_process_pool_apply");
        weft_bytes_free(r);
    }
    std::int64_t t1 = now_ns();
    weft_process_pool_destroy(p);
    return {{"ns_per_round_trip", "ns", static_cast<double>(t1 - t0) / static_cast<double>(n)}};
}

// ---- the bare fork+pipe pool -----------------------------------------------

struct BarePool {
    struct W {
        pid_t pid;
        int to, from;  // task pipe (write end), result pipe (read end)
    };
    W w[2];

    BarePool() {
        for (W &x : w) {
            int a[2], b[2];
            BENCH_CHECK(pipe(a) == 0 && pipe(b) == 0, kW, "bare_fork_pipe");
            pid_t pid = fork();
            BENCH_CHECK(pid >= 0, kW, "bare_fork_pipe");
            if (pid == 0) {
                close(a[1]);
                close(b[0]);
                for (W *o = w; o < &x; o++) {
                    close(o->to);
                    close(o->from);
                }
                std::int64_t v;
                while (read(a[0], &v, sizeof v) == static_cast<ssize_t>(sizeof v)) {
                    v *= v;
                    if (write(b[1], &v, sizeof v) != static_cast<ssize_t>(sizeof v)) break;
                }
                _exit(0);
            }
            close(a[0]);
            close(b[1]);
            x = W{pid, a[1], b[0]};
        }
    }
    ~BarePool() {
        for (W &x : w) {
            close(x.to);
            close(x.from);
            waitpid(x.pid, nullptr, 0);
        }
    }
    void send(int i, std::int64_t v) {
        BENCH_CHECK(write(w[i].to, &v, sizeof v) == static_cast<ssize_t>(sizeof v), kW, "bare_fork_pipe");
    }
    std::int64_t recv(int i) {
        std::int64_t v;
        BENCH_CHECK(read(w[i].from, &v, sizeof v) == static_cast<ssize_t>(sizeof v), kW, "bare_fork_pipe");
        return v;
    }
};

std::vector<Metric> bare_run() {
    BarePool bp;
    for (int i = 0; i < 2; i++) {  // both workers up, as weft's
        bp.send(i, 3);
        BENCH_CHECK(bp.recv(i) == 9, kW, "bare_fork_pipe");
    }
    const std::int64_t n = tasks_per_sample();
    for (int warm = 0; warm < 2; warm++) {  // an untimed round first, as for weft
    std::int64_t next = 0, done = 0, check = 0;
    std::int64_t inflight[2] = {-1, -1};
    std::int64_t t0 = now_ns();
    for (int i = 0; i < 2 && next < n; i++) {
        inflight[i] = next;
        bp.send(i, next++);
    }
    struct pollfd pf[2] = {{bp.w[0].from, POLLIN, 0}, {bp.w[1].from, POLLIN, 0}};
    while (done < n) {
        BENCH_CHECK(poll(pf, 2, -1) > 0, kW, "bare_fork_pipe");
        for (int i = 0; i < 2; i++) {
            if (!(pf[i].revents & POLLIN)) continue;
            std::int64_t y = bp.recv(i);
            check += y == inflight[i] * inflight[i];
            done++;
            inflight[i] = -1;
            if (next < n) {
                inflight[i] = next;
                bp.send(i, next++);
            }
        }
    }
    std::int64_t t1 = now_ns();
    BENCH_CHECK(check == n, kW, "bare_fork_pipe");
    if (warm) return rate(n, t0, t1);
    }
    return {};
}

std::vector<Metric> bare_latency() {
    BarePool bp;
    bp.send(0, 3);
    BENCH_CHECK(bp.recv(0) == 9, kW, "bare_fork_pipe");
    const std::int64_t n = sample_iters(2000);
    std::int64_t t0 = now_ns();
    for (std::int64_t i = 0; i < n; i++) {
        bp.send(static_cast<int>(i & 1), i);
        BENCH_CHECK(bp.recv(static_cast<int>(i & 1)) == i * i, kW, "bare_fork_pipe");
    }
    std::int64_t t1 = now_ns();
    return {{"ns_per_round_trip", "ns", static_cast<double>(t1 - t0) / static_cast<double>(n)}};
}

// ---- Python's multiprocessing.Pool.map ----------------------------------------

std::vector<Metric> python_map() {
    std::string cmd = std::string("/usr/bin/python3 ") + BENCH_MP_POOL_SCRIPT + " " +
                      std::to_string(tasks_per_sample()) + " 2>&1";
    std::fflush(nullptr);
    FILE *f = popen(cmd.c_str(), "r");
    BENCH_CHECK(f != nullptr, "W7.py", "mp_pool_map");
    char line[256];
    double rate_per_s = 0;
    while (std::fgets(line, sizeof line, f))
        if (std::sscanf(line, "best tasks_per_s %lf", &rate_per_s) == 1) break;
    while (std::fgets(line, sizeof line, f)) {
    }
    int st = pclose(f);
    BENCH_CHECK(st == 0 && rate_per_s > 0, "W7.py", "mp_pool_map");
    return {{"tasks_per_s", "/s", rate_per_s}, {"ns_per_task", "ns", 1e9 / rate_per_s}};
}

bool have_python() { return access("/usr/bin/python3", X_OK) == 0 && access(BENCH_MP_POOL_SCRIPT, R_OK) == 0; }

}  // namespace

void register_process_pool(std::vector<Workload> &out) {
    Workload w;
    w.id = "W7.pipe";
    w.title = "process pool of 2 workers, 10k tiny tasks, tasks/s, vs a bare fork+pipe pool";
    w.primary = "tasks_per_s";
    w.lower_is_better = false;
    w.goal_kind = Goal::at_least;
    w.goal = 0.7;
    w.goal_text = ">= 0.70x bare fork+pipe pool";
    w.goal_peer = "bare_fork_pipe";
    w.impls.push_back(Impl{"weft_process_pool_submit", Role::weft, weft_submit});
    w.impls.push_back(Impl{"weft_process_pool_map", Role::weft, weft_map});
    w.impls.push_back(Impl{"bare_fork_pipe", Role::peer, bare_run, true, "physical reference: 1 task in flight per worker"});
    out.push_back(std::move(w));

    if (have_python()) {
        Workload p;
        p.id = "W7.py";
        p.title = "process pool of 2 workers, map of 10k tiny tasks, tasks/s, vs multiprocessing.Pool.map";
        p.primary = "tasks_per_s";
        p.lower_is_better = false;
        p.goal_kind = Goal::at_least;
        p.goal = 10.0;
        p.goal_text = ">= 10x multiprocessing.Pool.map";
        p.goal_peer = "mp_pool_map";
        p.impls.push_back(Impl{"weft_process_pool_map", Role::weft, weft_map_best5, true, "best of 5 maps in a warmed pool"});
        p.impls.push_back(Impl{"mp_pool_map", Role::peer, python_map, true, "/usr/bin/python3, fork context, best of 5 maps in a warmed pool"});
        out.push_back(std::move(p));
    }

    Workload l;
    l.id = "W7.latency";
    l.title = "process pool of 2 workers, one task's round trip, ns";
    l.primary = "ns_per_round_trip";
    l.lower_is_better = true;
    l.goal_kind = Goal::at_most;
    l.goal = 1.0 / 0.7;
    l.goal_text = "<= 1.43x bare fork+pipe round trip";
    l.goal_peer = "bare_fork_pipe";
    l.impls.push_back(Impl{"weft_process_pool_apply", Role::weft, weft_latency});
    l.impls.push_back(Impl{"bare_fork_pipe", Role::peer, bare_latency});
    out.push_back(std::move(l));
}

}  // namespace bench
