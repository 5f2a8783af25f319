// C1, C2: weft_pipe against a raw socketpair speaking the same framing
// (Python's multiprocessing.connection: a 4-byte big-endian length, then the
// bytes), 64-byte messages, between 2 threads (the kernel path is the same
// as between 2 processes).
//   C1: ping-pong, round trips/s: latency of one message each way.
//   C2: one-way stream, messages/s: what weft's read-ahead buys.
// The raw peer is what a C programmer writes by hand: one send of header and
// body, then blocking reads of exactly 4 bytes and exactly the body (as
// CPython does). It has no timeouts, no close-from-another-thread and no
// partial-message state: the goal is to pay little for those.
#include <atomic>
#include <cerrno>
#include <cstring>
#include <thread>

#include <sys/socket.h>
#include <unistd.h>

#include <weft/common.h>
#include <weft/connection.h>
#include <weft/error.h>

#include "harness.hpp"

namespace bench {
namespace {

constexpr std::size_t kMsg = 64;

// ---- the two ends: send(msg) / recv(msg) of one 64-byte message ------------

struct WeftPipe {
    weft_conn *a = nullptr, *b = nullptr;
    WeftPipe() { BENCH_CHECK(weft_pipe(&a, &b, 1) == WEFT_OK, "C", "weft_pipe"); }
    ~WeftPipe() {
        weft_conn_destroy(a);
        weft_conn_destroy(b);
    }
    static void send(weft_conn *c, const char *m) {
        BENCH_CHECK(weft_conn_send(c, m, kMsg, WEFT_FOREVER) == WEFT_OK, "C", "weft_pipe");
    }
    static void recv(weft_conn *c, char *m) {
        size_t len = 0;
        BENCH_CHECK(weft_conn_recv(c, m, kMsg, &len, WEFT_FOREVER) == WEFT_OK && len == kMsg, "C", "weft_pipe");
    }
    weft_conn *left() { return a; }
    weft_conn *right() { return b; }
};

struct RawSocketpair {
    int fd[2] = {-1, -1};
    RawSocketpair() { BENCH_CHECK(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fd) == 0, "C", "socketpair"); }
    ~RawSocketpair() {
        close(fd[0]);
        close(fd[1]);
    }
    static void send(int s, const char *m) {
        unsigned char f[4 + kMsg];
        f[0] = f[1] = f[2] = 0;
        f[3] = static_cast<unsigned char>(kMsg);
        std::memcpy(f + 4, m, kMsg);
        std::size_t off = 0;
        while (off < sizeof f) {
            ssize_t n = ::send(s, f + off, sizeof f - off, MSG_NOSIGNAL);
            if (n < 0 && errno == EINTR) continue;
            BENCH_CHECK(n > 0, "C", "socketpair");
            off += static_cast<std::size_t>(n);
        }
    }
    static void exact(int s, void *p, std::size_t n) {
        std::size_t off = 0;
        while (off < n) {
            ssize_t r = ::recv(s, static_cast<char *>(p) + off, n - off, 0);
            if (r < 0 && errno == EINTR) continue;
            BENCH_CHECK(r > 0, "C", "socketpair");
            off += static_cast<std::size_t>(r);
        }
    }
    static void recv(int s, char *m) {
        unsigned char h[4];
        exact(s, h, 4);
        std::size_t n = (std::size_t{h[0]} << 24) | (std::size_t{h[1]} << 16) | (std::size_t{h[2]} << 8) | h[3];
        BENCH_CHECK(n == kMsg, "C", "socketpair");
        exact(s, m, n);
    }
    int left() { return fd[0]; }
    int right() { return fd[1]; }
};

// ---- C1: ping-pong ----------------------------------------------------------

template <class P>
[[gnu::noinline]] std::vector<Metric> c1_run() {
    P p;
    char out[kMsg], in[kMsg];
    std::memset(out, 'x', sizeof out);
    out[0] = 0;
    std::thread partner([&p] {
        char m[kMsg];
        for (;;) {
            P::recv(p.right(), m);
            if (m[0] == 'q') break;
            P::send(p.right(), m);
        }
    });
    for (int i = 0; i < 64; ++i) {
        P::send(p.left(), out);
        P::recv(p.left(), in);
    }
    const std::int64_t limit = sample_ns(150);
    std::uint64_t n = 0;
    std::int64_t t0 = now_ns(), t1;
    for (;;) {
        for (int i = 0; i < 16; ++i) {
            P::send(p.left(), out);
            P::recv(p.left(), in);
        }
        n += 16;
        t1 = now_ns();
        if (t1 - t0 >= limit) break;
    }
    out[0] = 'q';
    P::send(p.left(), out);
    partner.join();
    double secs = static_cast<double>(t1 - t0) / 1e9;
    return {{"round_trips_per_s", "/s", static_cast<double>(n) / secs}};
}

// ---- C2: one-way stream -----------------------------------------------------

template <class P>
[[gnu::noinline]] std::vector<Metric> c2_run() {
    P p;
    const std::int64_t n = sample_iters(200000);
    std::thread reader([&p, n] {
        char m[kMsg];
        for (std::int64_t i = 0; i < n; ++i) P::recv(p.right(), m);
    });
    char out[kMsg];
    std::memset(out, 'y', sizeof out);
    std::int64_t t0 = now_ns();
    for (std::int64_t i = 0; i < n; ++i) P::send(p.left(), out);
    reader.join();
    std::int64_t t1 = now_ns();
    double secs = static_cast<double>(t1 - t0) / 1e9;
    return {{"msgs_per_s", "/s", static_cast<double>(n) / secs}};
}

}  // namespace

void register_connection(std::vector<Workload> &out) {
    {
        Workload w;
        w.id = "C1";
        w.title = "pipe ping-pong, 64 B messages, 2 threads, round trips/s";
        w.primary = "round_trips_per_s";
        w.lower_is_better = false;
        w.goal_kind = Goal::at_least;
        w.goal = 0.9;
        w.goal_text = ">= 0.90x a raw socketpair with the same framing";
        w.goal_peer = "socketpair_framed";
        w.impls.push_back(Impl{"weft_pipe", Role::weft, [] { return c1_run<WeftPipe>(); }});
        w.impls.push_back(Impl{"socketpair_framed", Role::peer, [] { return c1_run<RawSocketpair>(); }});
        out.push_back(std::move(w));
    }
    {
        Workload w;
        w.id = "C2";
        w.title = "pipe stream one way, 64 B messages, 2 threads, messages/s";
        w.primary = "msgs_per_s";
        w.lower_is_better = false;
        w.goal_kind = Goal::at_least;
        w.goal = 0.9;
        w.goal_text = ">= 0.90x a raw socketpair with the same framing";
        w.goal_peer = "socketpair_framed";
        w.impls.push_back(Impl{"weft_pipe", Role::weft, [] { return c2_run<WeftPipe>(); }});
        w.impls.push_back(Impl{"socketpair_framed", Role::peer, [] { return c2_run<RawSocketpair>(); }});
        out.push_back(std::move(w));
    }
}

}  // namespace bench
