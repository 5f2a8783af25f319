// weft_bench: runs the workloads of BENCHMARKS.md against the peers, in one
// process, interleaved, and prints
//   workload impl metric median unit [min .. max n=rounds]
// lines, then the ratio table weft / best peer with each goal, and writes
// the medians and spreads as CSV for the docs chart.
//
// Usage: weft_bench [CSV_PATH] [--csv PATH] [--only W1,W5] [--rounds N]
//                   [--scale X] [--verbose] [--impl NAME,...] [--list]
#include <algorithm>
#include <cerrno>
#include <cstring>
#include <map>
#include <set>
#include <sstream>
#include <thread>

#include <sys/resource.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <unistd.h>

#include <weft/process.h>
#include <weft/system.h>

#include "harness.hpp"

namespace bench {

Config &config() {
    static Config c;
    return c;
}

std::int64_t peak_rss_bytes() {
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return static_cast<std::int64_t>(ru.ru_maxrss) * 1024;  // Linux: KiB
}

std::int64_t current_rss_bytes() {
    long pages = 0, resident = 0;
    FILE *f = std::fopen("/proc/self/statm", "r");
    if (f) {
        if (std::fscanf(f, "%ld %ld", &pages, &resident) != 2) resident = 0;
        std::fclose(f);
    }
    return static_cast<std::int64_t>(resident) * sysconf(_SC_PAGESIZE);
}

namespace {

struct Series {
    std::string unit;
    std::vector<double> values;
    double median() const {
        std::vector<double> v = values;
        std::sort(v.begin(), v.end());
        size_t n = v.size();
        if (n == 0) return 0;
        return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
    }
    double min() const { return *std::min_element(values.begin(), values.end()); }
    double max() const { return *std::max_element(values.begin(), values.end()); }
};

struct Result {
    const Workload *wl;
    // impl name -> metric name -> series; impl order kept separately
    std::map<std::string, std::map<std::string, Series>> data;
    std::vector<std::string> metric_order;
};

struct RatioRow {
    std::string workload, impl, best_peer, goal_text, reason;
    double ratio = 0, ratio_min = 0, ratio_max = 0, vs_ref = 0;
    bool met = false, has_ref = false;
};

const char *role_name(Role r) {
    switch (r) {
    case Role::weft: return "weft";
    case Role::peer: return "peer";
    case Role::reference: return "reference";
    }
    return "?";
}

Result run_workload(const Workload &wl) {
    Result res{&wl, {}, {}};
    // Each row starts without the previous rows' peak in weft's futures cache
    // (fork() would copy its page tables); the warm-up round refills it.
    (void)weft_memory_trim();
    const int rounds = config().rounds * std::max(1, wl.rounds_factor);
    std::fprintf(stderr, "# %s: %s (%zu impls, 1 warm-up + %d rounds)\n", wl.id.c_str(), wl.title.c_str(),
                 wl.impls.size(), rounds);
    for (const Impl &im : wl.impls) (void)im.run();  // warm-up, discarded
    for (int r = 0; r < rounds; ++r) {
        for (const Impl &im : wl.impls) {
            std::vector<Metric> ms = im.run();
            for (const Metric &m : ms) {
                Series &s = res.data[im.name][m.name];
                s.unit = m.unit;
                s.values.push_back(m.value);
                if (std::find(res.metric_order.begin(), res.metric_order.end(), m.name) == res.metric_order.end())
                    res.metric_order.push_back(m.name);
                if (config().verbose)
                    std::fprintf(stderr, "#   round %d %s %s %s %.6g %s\n", r, wl.id.c_str(), im.name.c_str(),
                                 m.name.c_str(), m.value, m.unit.c_str());
            }
        }
    }
    for (const std::string &metric : res.metric_order) {
        for (const Impl &im : wl.impls) {
            auto it = res.data[im.name].find(metric);
            if (it == res.data[im.name].end()) continue;
            const Series &s = it->second;
            std::printf("%s %s %s %.6g %s [%.6g .. %.6g n=%zu]\n", wl.id.c_str(), im.name.c_str(), metric.c_str(),
                        s.median(), s.unit.c_str(), s.min(), s.max(), s.values.size());
        }
    }
    std::fflush(stdout);
    return res;
}

// Ratio per round would pair samples taken side by side; the median ratio
// is the ratio of medians (good enough), the spread is taken per round.
std::vector<RatioRow> ratios(const Result &res, std::map<std::string, double> &vs_best_out) {
    const Workload &wl = *res.wl;
    std::vector<RatioRow> rows;
    auto median_of = [&](const std::string &impl, const std::string &metric) -> double {
        auto i = res.data.find(impl);
        if (i == res.data.end()) return 0;
        auto j = i->second.find(metric);
        return j == i->second.end() ? 0 : j->second.median();
    };
    auto better = [&](double a, double b) { return wl.lower_is_better ? a < b : a > b; };
    std::string best;
    double bestv = 0;
    std::string ref;
    for (const Impl &im : wl.impls) {
        double v = median_of(im.name, wl.primary);
        if (im.role == Role::peer && !wl.goal_peer.empty()) {
            if (im.name == wl.goal_peer) {
                best = im.name;
                bestv = v;
            }
        } else if (im.role == Role::peer && im.goal_eligible && (best.empty() || better(v, bestv))) {
            best = im.name;
            bestv = v;
        }
        if (im.role == Role::reference && ref.empty()) ref = im.name;
    }
    for (const Impl &im : wl.impls) {
        double v = median_of(im.name, wl.primary);
        if (!best.empty() && bestv != 0) vs_best_out[im.name] = v / bestv;
    }
    if (best.empty()) return rows;
    const Series &bs = res.data.at(best).at(wl.primary);
    for (const Impl &im : wl.impls) {
        if (im.role != Role::weft) continue;
        const Series &ws = res.data.at(im.name).at(wl.primary);
        RatioRow r;
        r.workload = wl.id;
        r.impl = im.name;
        r.best_peer = best;
        r.goal_text = wl.goal_text;
        // The ratio is the median of per-round ratios: the two samples of a
        // round ran seconds apart at most, so drift of the machine cancels.
        Series pr;
        for (size_t k = 0; k < ws.values.size() && k < bs.values.size(); ++k)
            if (bs.values[k] != 0) pr.values.push_back(ws.values[k] / bs.values[k]);
        if (pr.values.empty()) pr.values.push_back(bs.median() != 0 ? ws.median() / bs.median() : 0);
        r.ratio = pr.median();
        r.ratio_min = pr.min();
        r.ratio_max = pr.max();
        r.met = wl.goal_kind == Goal::at_most ? r.ratio <= wl.goal : r.ratio >= wl.goal;
        if (!r.met) r.reason = "ratio";
        if (wl.extra_check) {
            std::string why = wl.extra_check(im.name, [&](const std::string &m) { return median_of(im.name, m); });
            if (!why.empty()) {
                r.met = false;
                r.reason = r.reason.empty() ? why : r.reason + "; " + why;
            }
        }
        if (!ref.empty()) {
            double rv = median_of(ref, wl.primary);
            if (rv != 0) {
                r.has_ref = true;
                r.vs_ref = ws.median() / rv;
            }
        }
        rows.push_back(r);
    }
    return rows;
}

struct MemRow {
    const MemProbe *probe;
    std::vector<Metric> metrics;
};

// Runs one memory probe in a forked child, so each measurement starts from
// the same small heap and has its own high-water mark; the child sends its
// metrics back through a pipe as "name unit value" lines.
std::vector<Metric> run_in_child(const MemProbe &p) {
    int fds[2];
    if (pipe(fds) != 0) die(p.workload.c_str(), p.impl.c_str(), "pipe failed");
    std::fflush(stdout);
    std::fflush(stderr);
    pid_t pid = fork();
    if (pid < 0) die(p.workload.c_str(), p.impl.c_str(), "fork failed");
    if (pid == 0) {
        close(fds[0]);
        std::vector<Metric> ms = p.run();
        std::string out;
        char line[256];
        for (const Metric &m : ms) {
            std::snprintf(line, sizeof line, "%s %s %.17g\n", m.name.c_str(), m.unit.c_str(), m.value);
            out += line;
        }
        const char *b = out.data();
        size_t left = out.size();
        while (left > 0) {
            ssize_t w = write(fds[1], b, left);
            if (w <= 0) _exit(3);
            b += w;
            left -= static_cast<size_t>(w);
        }
        _exit(0);
    }
    close(fds[1]);
    std::string in;
    char buf[4096];
    for (;;) {
        ssize_t r = read(fds[0], buf, sizeof buf);
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) break;
        in.append(buf, static_cast<size_t>(r));
    }
    close(fds[0]);
    int st = 0;
    while (waitpid(pid, &st, 0) < 0 && errno == EINTR) {
    }
    if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) die(p.workload.c_str(), p.impl.c_str(), "memory probe child failed");
    std::vector<Metric> ms;
    std::istringstream is(in);
    std::string name, unit;
    double v;
    while (is >> name >> unit >> v) ms.push_back(Metric{name, unit, v});
    return ms;
}

}  // namespace

}  // namespace bench

namespace bench {
void register_process(std::vector<Workload> &out);  // W8p, W8x (bench_process.cpp)
void register_process_pool(std::vector<Workload> &out);  // W7.pipe, W7.py, W7.latency (bench_process_pool.cpp)
void register_connection(std::vector<Workload> &out);  // C1, C2 (bench_connection.cpp)
}  // namespace bench

using namespace bench;

static void usage(const char *argv0) {
    std::fprintf(stderr,
                 "usage: %s [CSV_PATH] [--csv PATH] [--only W1,W2,...] [--rounds N] [--scale X] [--verbose] "
                 "[--impl NAME,...] [--list]\n",
                 argv0);
}

int main(int argc, char **argv) {
    // W8p's spawn and forkserver children re-execute this program: they run
    // their task here and never return.
    weft_main(argc, argv);
    std::string csv_path = "bench-results.csv";
    std::set<std::string> only, impls;
    bool list = false;
    for (int i = 1; i < argc; ++i) {
        std::string a = argv[i];
        auto next = [&]() -> std::string {
            if (i + 1 >= argc) {
                usage(argv[0]);
                std::exit(2);
            }
            return argv[++i];
        };
        if (a == "--csv") {
            csv_path = next();
        } else if (a == "--only") {
            std::stringstream ss(next());
            std::string id;
            while (std::getline(ss, id, ',')) only.insert(id);
        } else if (a == "--impl") {  // keep only these implementations (for perf/strace)
            std::stringstream ss(next());
            std::string id;
            while (std::getline(ss, id, ',')) impls.insert(id);
        } else if (a == "--rounds") {
            config().rounds = std::max(1, std::atoi(next().c_str()));
        } else if (a == "--scale") {
            config().scale = std::atof(next().c_str());
            if (config().scale <= 0) config().scale = 1;
        } else if (a == "--verbose" || a == "-v") {
            config().verbose = true;
        } else if (a == "--list") {
            list = true;
        } else if (a == "--help" || a == "-h") {
            usage(argv[0]);
            return 0;
        } else if (!a.empty() && a[0] != '-') {
            csv_path = a;
        } else {
            usage(argv[0]);
            return 2;
        }
    }

    std::vector<Workload> all;
    register_lock(all);
    register_pingpong(all);
    register_thread(all);
    register_queue(all);
    register_pool(all);
    register_process(all);  // W8p, W8x
    register_process_pool(all);  // W7
    register_connection(all);  // C1, C2: pipes
    if (!impls.empty())
        for (Workload &w : all)
            w.impls.erase(std::remove_if(w.impls.begin(), w.impls.end(),
                                         [&](const Impl &im) { return !impls.count(im.name); }),
                          w.impls.end());
    std::vector<MemProbe> probes;
    register_queue_memory(probes);
    register_pool_memory(probes);
    // --only W3 picks W3.1p1c and W3.2p2c; MEM picks the memory probes.
    auto selected = [&](const std::string &id) {
        return only.empty() || only.count(id) || only.count(id.substr(0, id.find('.')));
    };

    if (list) {
        for (const Workload &w : all) {
            std::printf("%s %s\n", w.id.c_str(), w.title.c_str());
            for (const Impl &im : w.impls)
                std::printf("  %-28s %s%s%s\n", im.name.c_str(), role_name(im.role), im.note.empty() ? "" : ", ",
                            im.note.c_str());
        }
        std::printf("MEM memory figures, each measured in a forked child\n");
        for (const MemProbe &p : probes)
            std::printf("  %-4s %-28s %s\n", p.workload.c_str(), p.impl.c_str(), role_name(p.role));
        return 0;
    }

    struct utsname u;
    uname(&u);
    double load[3] = {0, 0, 0};
    if (getloadavg(load, 3) < 0) load[0] = load[1] = load[2] = -1;
    std::fprintf(stderr, "# weft bench: %s %s, %ld CPUs online, load %.2f %.2f %.2f, rounds %d, scale %.3g\n",
                 u.sysname, u.release, sysconf(_SC_NPROCESSORS_ONLN), load[0], load[1], load[2], config().rounds,
                 config().scale);
    if (load[0] > 0.5 * static_cast<double>(sysconf(_SC_NPROCESSORS_ONLN)))
        std::fprintf(stderr, "# warning: the machine is busy (load %.2f): expect wide spreads\n", load[0]);

    // Make the process multi-threaded before anything is measured. glibc
    // drops the `lock` prefix from its mutexes while a process has never
    // created a thread (__libc_single_threaded), which makes W1's pthread
    // and std::mutex rows 2x faster than they are in any program that
    // needs a lock. The flag never resets, so one started thread suffices.
    std::thread([] {}).join();

    std::vector<Result> results;
    std::vector<RatioRow> table;
    std::map<std::string, std::map<std::string, double>> vs_best;  // workload -> impl -> median/best peer
    int64_t t0 = now_ns();
    // Memory first, while this process is still small: each child starts
    // from a copy of it, and its high-water mark from this process's RSS.
    std::vector<MemRow> mem;
    if (only.empty() || only.count("MEM")) {
        std::fprintf(stderr, "# MEM: memory figures, %zu probes, each in a forked child\n", probes.size());
        for (const MemProbe &p : probes) {
            mem.push_back(MemRow{&p, run_in_child(p)});
            for (const Metric &m : mem.back().metrics)
                std::printf("memory %s %s %s %.6g %s\n", p.workload.c_str(), p.impl.c_str(), m.name.c_str(), m.value,
                            m.unit.c_str());
            std::fflush(stdout);
        }
    }
    for (const Workload &w : all) {
        if (!selected(w.id)) continue;
        results.push_back(run_workload(w));
        std::vector<RatioRow> rows = ratios(results.back(), vs_best[w.id]);
        table.insert(table.end(), rows.begin(), rows.end());
    }
    double secs = static_cast<double>(now_ns() - t0) / 1e9;

    std::printf("\n%-4s %-22s %-22s %8s %17s %9s  %-36s %s\n", "row", "weft impl", "vs peer", "ratio",
                "spread (per round)", "vs ref", "goal", "status");
    for (const RatioRow &r : table) {
        char spread[64], ref[32];
        std::snprintf(spread, sizeof spread, "%.3f..%.3f", r.ratio_min, r.ratio_max);
        if (r.has_ref)
            std::snprintf(ref, sizeof ref, "%.3f", r.vs_ref);
        else
            std::snprintf(ref, sizeof ref, "-");
        std::printf("%-4s %-22s %-22s %8.3f %17s %9s  %-36s %s%s%s%s\n", r.workload.c_str(), r.impl.c_str(),
                    r.best_peer.c_str(), r.ratio, spread, ref, r.goal_text.c_str(), r.met ? "met" : "NOT met",
                    r.met ? "" : " (", r.met ? "" : r.reason.c_str(), r.met ? "" : ")");
    }
    std::printf("(ratio = median over rounds of weft / the peer in the same round, on the row's primary metric; the peer "
                "is the one the goal names, else the best median; vs ref = weft / physical reference; total %.1f s)\n",
                secs);

    FILE *f = std::fopen(csv_path.c_str(), "w");
    if (!f) {
        std::perror(csv_path.c_str());
        return 1;
    }
    std::fprintf(f, "workload,impl,role,metric,unit,median,min,max,n,primary,vs_best_peer,note\n");
    for (const Result &res : results) {
        const Workload &wl = *res.wl;
        for (const std::string &metric : res.metric_order) {
            for (const Impl &im : wl.impls) {
                auto it = res.data.at(im.name).find(metric);
                if (it == res.data.at(im.name).end()) continue;
                const Series &s = it->second;
                bool primary = metric == wl.primary;
                double vb = 0;
                if (primary) {
                    auto j = vs_best[wl.id].find(im.name);
                    if (j != vs_best[wl.id].end()) vb = j->second;
                }
                std::fprintf(f, "%s,%s,%s,%s,%s,%.6g,%.6g,%.6g,%zu,%d,", wl.id.c_str(), im.name.c_str(),
                             role_name(im.role), metric.c_str(), s.unit.c_str(), s.median(), s.min(), s.max(),
                             s.values.size(), primary ? 1 : 0);
                if (primary && vb != 0)
                    std::fprintf(f, "%.4f,%s\n", vb, im.note.c_str());
                else
                    std::fprintf(f, ",%s\n", im.note.c_str());
            }
        }
    }
    // Memory figures: one measurement each (n=1), role as the probe's.
    for (const MemRow &r : mem)
        for (const Metric &m : r.metrics)
            std::fprintf(f, "%s,%s,%s,%s,%s,%.6g,%.6g,%.6g,1,0,,memory%s%s\n", r.probe->workload.c_str(),
                         r.probe->impl.c_str(), role_name(r.probe->role), m.name.c_str(), m.unit.c_str(), m.value,
                         m.value, m.value, r.probe->note.empty() ? "" : "; ", r.probe->note.c_str());
    // The ratio table: median of per-round ratios and their spread.
    for (const RatioRow &r : table)
        std::fprintf(f, "%s,%s,weft,ratio_vs_peer,x,%.4f,%.4f,%.4f,,0,,vs %s; goal %s; %s\n", r.workload.c_str(),
                     r.impl.c_str(), r.ratio, r.ratio_min, r.ratio_max, r.best_peer.c_str(), r.goal_text.c_str(),
                     r.met ? "met" : "NOT met");
    std::fclose(f);
    std::fprintf(stderr, "# wrote %s\n", csv_path.c_str());
    return 0;
}
