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
//
// W6: a queue between 2 processes, 64 B and 64 KiB messages, msgs/s and
// MB/s: weft's process-scope queue against Boost.Interprocess
// message_queue, POSIX mq_* (64 B only when /proc/sys/fs/mqueue/msgsize_max
// is below 64 KiB), a pipe and a socketpair; the physical reference is a
// plain shared-memory SPSC byte ring with futex wake-ups. Each queue holds
// about the same: 1024 messages of 64 B, or 16 of 64 KiB. The parent puts
// N messages (a sequence number in the first 8 bytes), a forked child takes
// them and checks the sum; the clock runs from the child's "ready" to its
// "done" (both through a pipe).
#include <atomic>
#include <condition_variable>
#include <deque>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include <fcntl.h>
#include <linux/futex.h>
#include <mqueue.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#if __has_include(<boost/interprocess/ipc/message_queue.hpp>)  // libboost-dev, header-only here
#define BENCH_HAVE_BOOST_IPC 1
#include <boost/interprocess/ipc/message_queue.hpp>
#else
#define BENCH_HAVE_BOOST_IPC 0
#endif

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

// ---- W6: between two processes ------------------------------------------

constexpr std::size_t kSmall = 64, kLarge = 64 * 1024;
std::size_t w6_slots(std::size_t msg) { return msg == kSmall ? 1024 : 16; }

std::string w6_name(const char *what) {
    static int counter = 0;
    return "/weft-bench-" + std::to_string(getpid()) + "-" + what + "-" + std::to_string(counter++);
}

void write_all(int fd, const void *p, std::size_t n) {
    auto *c = static_cast<const char *>(p);
    while (n) {
        ssize_t w = ::write(fd, c, n);
        if (w < 0 && errno == EINTR) continue;
        BENCH_CHECK(w > 0, "W6", "write");
        c += w;
        n -= static_cast<std::size_t>(w);
    }
}
void read_all(int fd, void *p, std::size_t n) {
    auto *c = static_cast<char *>(p);
    while (n) {
        ssize_t r = ::read(fd, c, n);
        if (r < 0 && errno == EINTR) continue;
        BENCH_CHECK(r > 0, "W6", "read");
        c += r;
        n -= static_cast<std::size_t>(r);
    }
}

struct WeftPq {
    weft_queue *q = nullptr;
    explicit WeftPq(std::size_t msg) {
        weft_queue_options o = WEFT_QUEUE_OPTIONS_INIT;
        o.capacity = w6_slots(msg);
        o.max_bytes = w6_slots(msg) * (msg + WEFT_QUEUE_MESSAGE_OVERHEAD);
        o.share.scope = WEFT_SCOPE_PROCESS;
        BENCH_CHECK(weft_queue_create(&q, &o) == WEFT_OK, "W6", "weft_queue");
    }
    ~WeftPq() { weft_queue_destroy(q); }
    void send(const void *p, std::size_t n) {
        BENCH_CHECK(weft_queue_put_bytes(q, p, n, WEFT_FOREVER) == WEFT_OK, "W6", "weft_queue");
    }
    void recv(void *p, std::size_t n) {
        std::size_t len = 0;
        BENCH_CHECK(weft_queue_get_bytes(q, p, n, &len, WEFT_FOREVER) == WEFT_OK && len == n, "W6", "weft_queue");
    }
};

#if BENCH_HAVE_BOOST_IPC
struct BoostMq {
    std::string name = w6_name("boost");
    boost::interprocess::message_queue mq;
    explicit BoostMq(std::size_t msg)
        : mq(boost::interprocess::create_only, name.c_str() + 1, w6_slots(msg), msg) {}
    ~BoostMq() { boost::interprocess::message_queue::remove(name.c_str() + 1); }
    void send(const void *p, std::size_t n) { mq.send(p, n, 0); }
    void recv(void *p, std::size_t n) {
        boost::interprocess::message_queue::size_type got = 0;
        unsigned prio = 0;
        mq.receive(p, n, got, prio);
        BENCH_CHECK(got == n, "W6", "boost_message_queue");
    }
};
#endif

long mq_msgsize_max() {
    long v = 8192;
    if (FILE *f = std::fopen("/proc/sys/fs/mqueue/msgsize_max", "r")) {
        if (std::fscanf(f, "%ld", &v) != 1) v = 8192;
        std::fclose(f);
    }
    return v;
}
long mq_msg_max() {
    long v = 10;
    if (FILE *f = std::fopen("/proc/sys/fs/mqueue/msg_max", "r")) {
        if (std::fscanf(f, "%ld", &v) != 1) v = 10;
        std::fclose(f);
    }
    return v;
}

struct PosixMq {
    mqd_t mq;
    explicit PosixMq(std::size_t msg) {
        std::string name = w6_name("mq");
        struct mq_attr a = {};
        a.mq_maxmsg = std::min<long>(static_cast<long>(w6_slots(msg)), mq_msg_max());
        a.mq_msgsize = static_cast<long>(msg);
        mq = mq_open(name.c_str(), O_RDWR | O_CREAT | O_EXCL, 0600, &a);
        BENCH_CHECK(mq != static_cast<mqd_t>(-1), "W6", "posix_mq");
        mq_unlink(name.c_str());  // both processes keep the descriptor
    }
    ~PosixMq() { mq_close(mq); }
    void send(const void *p, std::size_t n) {
        BENCH_CHECK(mq_send(mq, static_cast<const char *>(p), n, 0) == 0, "W6", "posix_mq");
    }
    void recv(void *p, std::size_t n) {
        BENCH_CHECK(mq_receive(mq, static_cast<char *>(p), n, nullptr) == static_cast<ssize_t>(n), "W6", "posix_mq");
    }
};

struct Pipe {  // fixed-size messages need no framing; the pipe is grown to ~1 MiB
    int fd[2];
    explicit Pipe(std::size_t) {
        BENCH_CHECK(pipe(fd) == 0, "W6", "pipe");
        (void)fcntl(fd[1], F_SETPIPE_SZ, 1 << 20);
    }
    ~Pipe() {
        close(fd[0]);
        close(fd[1]);
    }
    void send(const void *p, std::size_t n) { write_all(fd[1], p, n); }
    void recv(void *p, std::size_t n) { read_all(fd[0], p, n); }
};

struct SocketPair {  // AF_UNIX stream, buffers asked for ~1 MiB
    int fd[2];
    explicit SocketPair(std::size_t) {
        BENCH_CHECK(socketpair(AF_UNIX, SOCK_STREAM, 0, fd) == 0, "W6", "socketpair");
        int sz = 1 << 20;
        (void)setsockopt(fd[0], SOL_SOCKET, SO_SNDBUF, &sz, sizeof sz);
        (void)setsockopt(fd[1], SOL_SOCKET, SO_RCVBUF, &sz, sizeof sz);
    }
    ~SocketPair() {
        close(fd[0]);
        close(fd[1]);
    }
    void send(const void *p, std::size_t n) { write_all(fd[0], p, n); }
    void recv(void *p, std::size_t n) { read_all(fd[1], p, n); }
};

// The physical reference: a single-producer single-consumer byte ring in
// shared memory, 8-byte length frames split across the end like weft's, a
// head and a tail published with release stores, and futex wake-ups only
// when the other side announced it sleeps (after the same brief spin).
struct RawRing {
    struct alignas(64) Shared {
        alignas(64) std::atomic<std::uint64_t> tail{0};
        alignas(64) std::atomic<std::uint64_t> head{0};
        alignas(64) std::atomic<std::uint32_t> data_seq{0};  // futex: bumped when data arrives
        std::atomic<std::uint32_t> cons_sleeps{0};
        alignas(64) std::atomic<std::uint32_t> room_seq{0};  // futex: bumped when room appears
        std::atomic<std::uint32_t> prod_sleeps{0};
    };
    std::size_t ring, mapped;
    Shared *sh;
    unsigned char *buf;

    explicit RawRing(std::size_t msg) : ring(w6_slots(msg) * (msg + 8)) {
        mapped = sizeof(Shared) + ring;
        void *p = mmap(nullptr, mapped, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
        BENCH_CHECK(p != MAP_FAILED, "W6", "raw_shm_ring");
        sh = new (p) Shared;
        buf = static_cast<unsigned char *>(p) + sizeof(Shared);
    }
    ~RawRing() { munmap(sh, mapped); }

    static void fwait(std::atomic<std::uint32_t> &w, std::uint32_t v) {
        syscall(SYS_futex, &w, FUTEX_WAIT, v, nullptr, nullptr, 0);
    }
    static void fwake(std::atomic<std::uint32_t> &w) { syscall(SYS_futex, &w, FUTEX_WAKE, INT32_MAX, nullptr, nullptr, 0); }

    template <class Ready>
    static void wait_for(Ready &&ready, std::atomic<std::uint32_t> &seq, std::atomic<std::uint32_t> &sleeps) {
        for (int i = 0; i < 200; i++) {
            if (ready()) return;
            __builtin_ia32_pause();
        }
        for (int i = 0; i < 4; i++) {
            sched_yield();
            if (ready()) return;
        }
        while (!ready()) {
            std::uint32_t v = seq.load(std::memory_order_seq_cst);
            sleeps.store(1, std::memory_order_seq_cst);
            if (ready()) break;
            fwait(seq, v);
        }
        sleeps.store(0, std::memory_order_relaxed);
    }
    static void signal(std::atomic<std::uint32_t> &seq, std::atomic<std::uint32_t> &sleeps) {
        std::atomic_thread_fence(std::memory_order_seq_cst);
        if (sleeps.load(std::memory_order_relaxed)) {
            seq.fetch_add(1, std::memory_order_seq_cst);
            fwake(seq);
        }
    }
    void copy_in(std::uint64_t pos, const void *src, std::size_t n) {
        std::size_t off = pos % ring, first = std::min(n, ring - off);
        std::memcpy(buf + off, src, first);
        std::memcpy(buf, static_cast<const unsigned char *>(src) + first, n - first);
    }
    void copy_out(std::uint64_t pos, void *dst, std::size_t n) {
        std::size_t off = pos % ring, first = std::min(n, ring - off);
        std::memcpy(dst, buf + off, first);
        std::memcpy(static_cast<unsigned char *>(dst) + first, buf, n - first);
    }
    void send(const void *p, std::size_t n) {
        std::uint64_t t = sh->tail.load(std::memory_order_relaxed), need = n + 8;
        wait_for([&] { return ring - (t - sh->head.load(std::memory_order_acquire)) >= need; }, sh->room_seq,
                 sh->prod_sleeps);
        std::uint64_t len = n;
        copy_in(t, &len, 8);
        copy_in(t + 8, p, n);
        sh->tail.store(t + need, std::memory_order_release);
        signal(sh->data_seq, sh->cons_sleeps);
    }
    void recv(void *p, std::size_t n) {
        std::uint64_t h = sh->head.load(std::memory_order_relaxed);
        wait_for([&] { return sh->tail.load(std::memory_order_acquire) != h; }, sh->data_seq, sh->cons_sleeps);
        std::uint64_t len;
        copy_out(h, &len, 8);
        BENCH_CHECK(len == n, "W6", "raw_shm_ring");
        copy_out(h + 8, p, n);
        sh->head.store(h + 8 + len, std::memory_order_release);
        signal(sh->room_seq, sh->prod_sleeps);
    }
};

// One sample: the parent puts n messages of `msg` bytes, a forked child
// takes and checks them.
template <class C>
std::vector<Metric> w6_run(const char *impl, std::size_t msg, std::int64_t n) {
    C ch(msg);
    int ready[2], done[2];
    BENCH_CHECK(pipe(ready) == 0 && pipe(done) == 0, "W6", impl);
    std::fflush(stdout);
    pid_t pid = fork();
    if (pid == 0) {
        std::vector<unsigned char> buf(msg);
        std::uint64_t sum = 0;
        write_all(ready[1], "r", 1);
        for (std::int64_t i = 0; i < n; i++) {
            ch.recv(buf.data(), msg);
            std::uint64_t v;
            std::memcpy(&v, buf.data(), sizeof v);
            sum += v;
        }
        char verdict = sum == static_cast<std::uint64_t>(n) * static_cast<std::uint64_t>(n + 1) / 2 ? 'o' : 'x';
        write_all(done[1], &verdict, 1);
        _exit(0);
    }
    BENCH_CHECK(pid > 0, "W6", impl);
    std::vector<unsigned char> buf(msg, 0x5a);
    char c;
    read_all(ready[0], &c, 1);
    std::int64_t t0 = now_ns();
    for (std::int64_t i = 1; i <= n; i++) {
        std::uint64_t v = static_cast<std::uint64_t>(i);
        std::memcpy(buf.data(), &v, sizeof v);
        ch.send(buf.data(), msg);
    }
    read_all(done[0], &c, 1);
    std::int64_t t1 = now_ns();
    int status = 0;
    waitpid(pid, &status, 0);
    for (int fd : {ready[0], ready[1], done[0], done[1]}) close(fd);
    BENCH_CHECK(c == 'o' && WIFEXITED(status) && WEXITSTATUS(status) == 0, "W6", impl);
    double secs = static_cast<double>(t1 - t0) / 1e9;
    return {{"msgs_per_s", "msg/s", static_cast<double>(n) / secs},
            {"MB_per_s", "MB/s", static_cast<double>(n) * static_cast<double>(msg) / secs / 1e6}};
}

template <class C>
Impl w6_impl(const char *name, Role role, std::size_t msg) {
    std::int64_t n = sample_iters(msg == kSmall ? 200000 : 6000);
    return Impl{name, role, [=] { return w6_run<C>(name, msg, n); }};
}

Workload w6_workload(std::size_t msg) {
    bool small = msg == kSmall;
    Workload w;
    w.id = small ? "W6.64B" : "W6.64KiB";
    w.title = small ? "queue between 2 processes, 64 B messages, msgs/s"
                    : "queue between 2 processes, 64 KiB messages, msgs/s";
    w.primary = "msgs_per_s";
    w.lower_is_better = false;
    w.goal_kind = Goal::at_least;
    w.goal = small ? 1.0 : 2.0;
    w.goal_text = small ? ">= 1.00x Boost message_queue (and >= 0.7x the raw ring)"
                        : ">= 2.00x best peer (and >= 0.7x the raw ring)";
    if (small) w.goal_peer = "boost_message_queue";
    w.impls.push_back(w6_impl<WeftPq>("weft_queue", Role::weft, msg));
#if BENCH_HAVE_BOOST_IPC
    w.impls.push_back(w6_impl<BoostMq>("boost_message_queue", Role::peer, msg));
#endif
    if (mq_msgsize_max() >= static_cast<long>(msg))
        w.impls.push_back(w6_impl<PosixMq>("posix_mq", Role::peer, msg));
    else
        w.title += " (posix_mq skipped: /proc/sys/fs/mqueue/msgsize_max is " + std::to_string(mq_msgsize_max()) + ")";
    w.impls.push_back(w6_impl<Pipe>("pipe", Role::peer, msg));
    w.impls.push_back(w6_impl<SocketPair>("socketpair", Role::peer, msg));
    w.impls.push_back(w6_impl<RawRing>("raw_shm_ring", Role::reference, msg));
    return w;
}

// Peak RSS of one W6 run: the larger of the parent's and the child's.
template <class C>
MemProbe w6_probe(const char *name, Role role, std::size_t msg) {
    return MemProbe{msg == kSmall ? "W6.64B" : "W6.64KiB", name, role,
                    [name, msg] {
                        (void)w6_run<C>(name, msg, sample_iters(msg == kSmall ? 200000 : 6000));
                        struct rusage self, kids;
                        getrusage(RUSAGE_SELF, &self);
                        getrusage(RUSAGE_CHILDREN, &kids);
                        return std::vector<Metric>{
                            {"peak_rss_parent", "MiB", static_cast<double>(self.ru_maxrss) / 1024.0},
                            {"peak_rss_child", "MiB", static_cast<double>(kids.ru_maxrss) / 1024.0}};
                    },
                    "one W6 run; parent puts, child gets"};
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
    out.push_back(w6_workload(kSmall));
    out.push_back(w6_workload(kLarge));
}

void register_queue_memory(std::vector<MemProbe> &out) {
    for (std::size_t msg : {kSmall, kLarge}) {
        out.push_back(w6_probe<WeftPq>("weft_queue", Role::weft, msg));
#if BENCH_HAVE_BOOST_IPC
        out.push_back(w6_probe<BoostMq>("boost_message_queue", Role::peer, msg));
#endif
        out.push_back(w6_probe<RawRing>("raw_shm_ring", Role::reference, msg));
    }
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
