// W8 (process rows). Two workloads:
// - W8p: start a child running an empty function (it returns 0) and join
//   it, starts+joins per second: weft with the start methods fork,
//   forkserver and spawn against a bare fork() + _exit + waitpid(). spawn
//   re-executes the program, so it pays an execve and the dynamic loader per
//   child; the goal (0.8x) speaks of start-by-function, which fork is and
//   forkserver approaches; spawn is printed for context.
// - W8x: start /bin/true and wait for it: weft_process_start_program against
//   a bare posix_spawn() + waitpid().
// weft_main() is called first thing in bench_main's main(), so the spawn and
// forkserver children find the registered function.
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <weft/common.h>
#include <weft/error.h>
#include <weft/process.h>

#include "harness.hpp"

extern "C" char **environ;

namespace bench {

extern "C" int bench_empty_child(void *, size_t) { return 0; }

namespace {

// At load time, as WEFT_REGISTER_FUNCTION does for C (its macro names a
// static function; this one has C linkage for the registry's name).
[[gnu::constructor]] void register_child() { (void)weft_register("bench_empty_child", bench_empty_child); }

template <int Method>
struct WeftStart {
    static void once() {
        weft_process *p = nullptr;
        weft_process_options o = WEFT_PROCESS_OPTIONS_INIT;
        o.start_method = Method;
        BENCH_CHECK(weft_process_spawn(&p, bench_empty_child, nullptr, 0, &o) == WEFT_OK, "W8p", "weft_process");
        BENCH_CHECK(weft_process_join(p, WEFT_FOREVER) == WEFT_OK, "W8p", "weft_process");
        int code = -1;
        BENCH_CHECK(weft_process_exitcode(p, &code) == WEFT_OK && code == 0, "W8p", "weft_process");
        weft_process_destroy(p);
    }
};

struct BareFork {
    static void once() {
        pid_t pid = fork();
        BENCH_CHECK(pid >= 0, "W8p", "fork_waitpid");
        if (pid == 0) _exit(bench_empty_child(nullptr, 0));
        int st = 0;
        BENCH_CHECK(waitpid(pid, &st, 0) == pid && WIFEXITED(st) && WEXITSTATUS(st) == 0, "W8p", "fork_waitpid");
    }
};

char true_path[] = "/bin/true";
char *true_argv[] = {true_path, nullptr};

struct WeftProgram {
    static void once() {
        weft_process *p = nullptr;
        BENCH_CHECK(weft_process_create(&p, nullptr) == WEFT_OK, "W8x", "weft_program");
        BENCH_CHECK(weft_process_start_program(p, true_path, true_argv, nullptr, nullptr) == WEFT_OK, "W8x",
                    "weft_program");
        BENCH_CHECK(weft_process_join(p, WEFT_FOREVER) == WEFT_OK, "W8x", "weft_program");
        int code = -1;
        BENCH_CHECK(weft_process_exitcode(p, &code) == WEFT_OK && code == 0, "W8x", "weft_program");
        weft_process_destroy(p);
    }
};

struct BarePosixSpawn {
    static void once() {
        pid_t pid;
        BENCH_CHECK(posix_spawn(&pid, true_path, nullptr, nullptr, true_argv, environ) == 0, "W8x", "posix_spawn");
        int st = 0;
        BENCH_CHECK(waitpid(pid, &st, 0) == pid && WIFEXITED(st) && WEXITSTATUS(st) == 0, "W8x", "posix_spawn");
    }
};

template <class T>
[[gnu::noinline]] std::vector<Metric> run(double base_ms) {
    const std::int64_t limit = sample_ns(base_ms);
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

}  // namespace

void register_process(std::vector<Workload> &out) {
    {
        // The server starts outside the measurement (as Python's does at the
        // first start; here before the first round's warm-up).
        Workload w;
        w.id = "W8p";
        w.title = "process start-by-function + join, per second";
        w.primary = "starts_per_s";
        w.lower_is_better = false;
        w.goal_kind = Goal::at_least;
        w.goal = 0.8;
        w.goal_text = ">= 0.80x bare fork+waitpid";
        w.goal_peer = "fork_waitpid";
        w.impls.emplace_back("weft_fork", Role::weft, [] { return run<WeftStart<WEFT_START_FORK>>(200); });
        w.impls.emplace_back("weft_forkserver", Role::weft, [] {
            BENCH_CHECK(weft_forkserver_start() == WEFT_OK, "W8p", "weft_forkserver");
            return run<WeftStart<WEFT_START_FORKSERVER>>(200);
        });
        w.impls.emplace_back("weft_spawn", Role::weft, [] { return run<WeftStart<WEFT_START_SPAWN>>(200); });
        w.impls.emplace_back("fork_waitpid", Role::peer, [] { return run<BareFork>(200); });
        out.push_back(std::move(w));
    }
    {
        Workload w;
        w.id = "W8x";
        w.title = "program start (/bin/true) + wait, per second";
        w.primary = "starts_per_s";
        w.lower_is_better = false;
        w.goal_kind = Goal::at_least;
        w.goal = 0.9;
        w.goal_text = ">= 0.90x posix_spawn+waitpid";
        w.goal_peer = "posix_spawn";
        w.impls.emplace_back("weft_program", Role::weft, [] { return run<WeftProgram>(200); });
        w.impls.emplace_back("posix_spawn", Role::peer, [] { return run<BarePosixSpawn>(200); });
        out.push_back(std::move(w));
    }
}

}  // namespace bench
