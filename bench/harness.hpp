// The shared bench harness: timing, workload registry, interleaved rounds,
// medians and spreads, the ratio table and the CSV.
//
// A workload is a list of implementations (weft, its peers, and the physical
// reference where one exists). Each implementation's run function performs
// one measurement and returns one or more metrics. The driver runs one
// unmeasured warm-up round, then `rounds` rounds in which every
// implementation runs once in turn (A B C A B C ...), so drift in the
// machine's speed hits every implementation alike. It reports, per
// implementation and metric, the median over rounds and the spread
// (min..max), then the ratio weft / best peer on the workload's primary
// metric against the goal from docs BENCHMARKS.md.
#pragma once

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <string>
#include <utility>
#include <vector>

namespace bench {

inline std::int64_t now_ns() noexcept {
    return std::chrono::duration_cast<std::chrono::nanoseconds>(
               std::chrono::steady_clock::now().time_since_epoch())
        .count();
}

// Abort the whole run: a benchmark that measured a broken primitive is worse
// than none.
[[noreturn]] inline void die(const char *workload, const char *impl, const char *what) {
    std::fprintf(stderr, "bench: %s %s: %s\n", workload, impl, what);
    std::exit(2);
}

#define BENCH_CHECK(cond, wl, impl)                                       \
    do {                                                                  \
        if (__builtin_expect(!(cond), 0)) ::bench::die(wl, impl, #cond); \
    } while (0)

// Global knobs, set from the command line.
struct Config {
    int rounds = 7;          // measured rounds per workload (plus one warm-up)
    double scale = 1.0;      // multiplies every sample's duration / iteration count
    bool verbose = false;    // print every sample too
};
Config &config();

// Sample duration in ns for time-boxed workloads: base_ms scaled.
inline std::int64_t sample_ns(double base_ms) { return static_cast<std::int64_t>(base_ms * config().scale * 1e6); }
inline std::int64_t sample_iters(double base) {
    double n = base * config().scale;
    return n < 1 ? 1 : static_cast<std::int64_t>(n);
}

enum class Role { weft, peer, reference };

struct Metric {
    std::string name;  // e.g. "ns_per_pair"
    std::string unit;  // e.g. "ns"
    double value;
};

struct Impl {
    std::string name;
    Role role;
    std::function<std::vector<Metric>()> run;
    // A peer measured for context only (e.g. an unbounded queue in W3, whose
    // goal names bounded blocking queues): never picked as the goal's peer.
    bool goal_eligible = true;
    std::string note;  // CSV note column, e.g. "unbounded"

    Impl(std::string n, Role r, std::function<std::vector<Metric>()> f, bool eligible = true, std::string why = {})
        : name(std::move(n)), role(r), run(std::move(f)), goal_eligible(eligible), note(std::move(why)) {}
};

enum class Goal { at_most, at_least };

struct Workload {
    std::string id;       // "W1"
    std::string title;    // one line
    std::string primary;  // metric the ratio is taken on
    bool lower_is_better; // for `primary`
    Goal goal_kind;       // ratio weft/best-peer must be <= or >= goal
    double goal;
    std::string goal_text;  // as written in BENCHMARKS.md
    // The peer the goal names (e.g. W5's moodycamel semaphore); empty means
    // the best peer on the primary metric.
    std::string goal_peer;
    // Rounds = config().rounds * rounds_factor: short samples in many
    // rounds resist preemption on a busy machine better than a few long ones.
    int rounds_factor = 1;
    std::vector<Impl> impls;
    // Extra pass/fail condition on weft's medians (e.g. W2's fairness);
    // returns "" when fine, else the reason.
    std::function<std::string(const std::string &impl,
                              const std::function<double(const std::string &metric)> &median)>
        extra_check;
};

// A memory figure, measured once in a forked child (so one measurement's
// heap and high-water mark never pollute another's): `run` executes in the
// child and returns its metrics (peak RSS, bytes per item, ...).
struct MemProbe {
    std::string workload;  // "W3", "W4", "queue"
    std::string impl;
    Role role;
    std::function<std::vector<Metric>()> run;
    std::string note;
};

// Peak resident set size of this process so far, in bytes (getrusage).
std::int64_t peak_rss_bytes();
// Resident set size now, in bytes (/proc/self/statm).
std::int64_t current_rss_bytes();

// Registration, one function per bench source.
void register_lock(std::vector<Workload> &out);      // W1, W2
void register_pingpong(std::vector<Workload> &out);  // W5
void register_thread(std::vector<Workload> &out);    // W8
void register_queue(std::vector<Workload> &out);     // W3
void register_pool(std::vector<Workload> &out);      // W4
void register_queue_memory(std::vector<MemProbe> &out);  // memory: W3 peak RSS, bytes per queued item
void register_pool_memory(std::vector<MemProbe> &out);   // memory: W4 bytes per queued task / future

// Compiler barrier for benchmark loops.
template <class T>
inline void keep(T &v) noexcept {
    asm volatile("" : "+m"(v) : : "memory");
}

}  // namespace bench
