// Supervised process pool. One supervisor thread per pool forks the workers
// (so PR_SET_PDEATHSIG, which the kernel ties to the forking thread, fires
// when the supervisor or the whole process ends), sends each worker its
// tasks over its own socket pair (one at a time, or tiny ones sent ahead of
// need to a fast worker: see kDepth), reads the results, and watches the
// worker's pidfd. Everything the supervisor waits for is in one poll():
// an eventfd that submitters and close/terminate ring, every worker's socket
// and every worker's pidfd. The sockets are non-blocking on the pool's side
// with partial-read and partial-write state per worker, so a 64 MiB argument
// or result never blocks the supervisor and a worker killed half-way through
// one fails only its own task. Fork workers are forked between the caller's
// fork hooks (options version 2), so an interpreter can be kept consistent.
//
// Wire format (native endianness: both ends are the same program):
//   pool -> worker: TaskHdr {kind, count, fn, len} then len payload bytes.
//     kTask: one call, payload = the argument. kChunk: `count` calls, payload
//     = per argument {u64 len, u64 0} + bytes padded to 16. kChunkFixed:
//     `count` calls whose arguments all have len / count bytes (at most
//     kFixedMax), packed back to back. kExit: leave. kWake: no payload, no
//     reply and, for spawn and forkserver workers, no name: wait for the
//     next frame awake (weft_process_pool_wake).
//   worker -> pool: ResultHdr {kind, code, len} then len bytes.
//     kReady once after the initializer (a failed initializer by name sends
//     kFail instead and exits); kOk: the result; kFail: code + message;
//     kChunkDone: per argument 32 bytes {i32 code, u32 0, u64 len, 16 x 0}
//     + bytes (result or message) padded to 16; kChunkFixedDone when every
//     call succeeded with a result of one size (at most kFixedMax): code =
//     that size, the results packed back to back (the pool expands them to
//     the kChunkDone form). The worker builds each frame
//     in one buffer and tasks write their results into it in place.
// Spawn and forkserver workers: the supervisor starts the registered
// function "weft.process_pool.worker" (process.h) with a NamedWorkerArg (the
// pool's abstract socket name, the initializer's name and argument); the
// worker connects, the supervisor accepts it (SO_PEERCRED names the pid it
// started) and from then on the framing is the same, except that TaskHdr.fn
// is 0 and the task's registered name (TaskHdr.pad bytes) follows the
// header. With spawn_program, the supervisor itself posix_spawns that
// program with weft's spawn arguments (spawn_program_worker).
// A task's future holds a weft_bytes block: a BytesHead, {size, data}, then
// the bytes (one malloc), so a result is read from the socket straight into
// the memory the caller finally reads. A map chunk's reply is read into a
// Slab, and each 32-byte outcome header becomes its result's BytesHead and
// weft_bytes: map hands the results out without copying them, and the last
// weft_bytes_free() of a chunk's results frees the block.
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <spawn.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

#include <weft/process.h>
#include <weft/process_pool.h>
#include <weft/system.h>
#include <weft/thread.h>

#include "internal/boundary.hpp"
#include "internal/builtin_fns.hpp"
#include "internal/deadline.hpp"
#include "internal/handle.hpp"
#include "internal/map_blocks.hpp"
#include "internal/task.hpp"

#ifndef SYS_pidfd_open
#define SYS_pidfd_open 434
#endif

// A growable byte buffer of a worker (malloc/realloc, no zero fill): the
// frame it sends is built in it, task results written in place.
struct OutBuf {
    char *p = nullptr;
    size_t size = 0, cap = 0;
    ~OutBuf() { std::free(p); }
    bool resize(size_t n) noexcept {
        if (n > cap && !grow(n)) return false;
        size = n;
        return true;
    }
    [[gnu::noinline]] bool grow(size_t n) noexcept {
        size_t c = std::max(n, cap * 2);
        auto *q = static_cast<char *>(std::realloc(p, c));
        if (!q) return false;
        p = q;
        cap = c;
        return true;
    }
    void trim() noexcept {  // after a huge result: do not keep its memory
        if (cap > (size_t{4} << 20)) {
            std::free(p);
            p = nullptr;
            size = cap = 0;
        }
    }
};

// A task's result goes straight into the frame its worker sends: `room`
// header bytes at `at`, then the data.
struct weft_ptask_result {
    OutBuf *buf;
    size_t at, room;
    size_t len = 0;
    bool set = false;
    weft_ptask_result(OutBuf *b, size_t a, size_t r) noexcept : buf(b), at(a), room(r) {}
};

namespace weft::detail {
namespace {

enum : std::uint32_t { kTask = 1, kChunk = 2, kExit = 3, kChunkFixed = 4, kWake = 5 };
enum : std::uint32_t { kReady = 1, kOk = 2, kFail = 3, kChunkDone = 4, kChunkFixedDone = 5 };
constexpr bool is_chunk(std::uint32_t kind) noexcept { return kind == kChunk || kind == kChunkFixed; }

struct TaskHdr {
    std::uint32_t kind;
    std::uint32_t count;
    std::uint64_t fn;
    std::uint64_t len;
    std::uint64_t pad;
};
static_assert(sizeof(TaskHdr) == 32);

struct ResultHdr {
    std::uint32_t kind;
    std::int32_t code;
    std::uint64_t len;
};
static_assert(sizeof(ResultHdr) == 16);

struct ItemHdr {  // one argument of a chunk, or one outcome of a chunk
    std::int32_t code;
    std::uint32_t pad;
    std::uint64_t len;
};
static_assert(sizeof(ItemHdr) == 16);

constexpr size_t kResultRoom = 16;  // a ResultHdr before the result bytes
constexpr size_t kItemRoom = 32;    // a chunk's outcome: {i32 code, u32 0, u64 len, 16 bytes 0} (becomes the
                                    // BytesHead and weft_bytes of the result in the pool), then the bytes
constexpr int64_t kTick = 10 * WEFT_MSEC;  // how often running tasks are checked for cancel requests
constexpr int64_t kExitGrace = 2 * WEFT_SEC;  // a worker asked to exit is killed after this
// How many tasks a worker may hold: the one it runs, plus kDepth - 1 small
// ones waiting in its socket so that it never waits for the supervisor
// between tiny tasks (larger ones never sit behind a running task). A dead
// worker's waiting tasks go back to the front of the queue. A task waiting
// in a worker's socket is RUNNING (weft_future_cancel gives WEFT_EBUSY and
// kills the worker, shutdown's cancel_pending cannot take it back), so only
// tiny tasks are sent ahead: to a worker whose previous task took less than
// kFastTask, when no worker is idle. A fresh worker, or one whose last task
// was slow, gets one task at a time; a map's chunks are always sent ahead
// (the map owns their futures).
constexpr size_t kDepth = 3;
constexpr size_t kPipelineMax = 16 * 1024;       // a task sent ahead: at most this many argument bytes
constexpr size_t kChunkPipelineMax = 256 * 1024;  // a map chunk sent ahead
constexpr int64_t kFastTask = 200 * WEFT_USEC;
constexpr int kSockBuf = 1 << 20;  // SO_SNDBUF of both ends of a worker's socket

constexpr size_t pad16(size_t n) noexcept { return (n + 15) & ~size_t{15}; }

// A map chunk of small arguments of one size (ints, doubles, small structs),
// and a reply of small results of one size, go packed (kChunkFixed,
// kChunkFixedDone): a 10k map of int64 squares moved 80 bytes per call
// through the sockets in the padded form, 16 packed, and the sockets' fewer
// buffers wake the reader fewer times.
constexpr size_t kFixedMax = 64;

// Zeros from p up to the next multiple of 16 bytes after n (the wire pads
// every argument and result to 16): fixed-size stores, no library call (a
// map's tiny calls paid two calls per item for 8 bytes).
[[gnu::always_inline]] inline void zero_pad(char *p, size_t n) noexcept {
    size_t z = pad16(n) - n;
    p += n;
    if (z >= 8) {
        std::memset(p, 0, 8);
        std::memset(p + z - 8, 0, 8);
    } else if (z >= 4) {
        std::memset(p, 0, 4);
        std::memset(p + z - 4, 0, 4);
    } else if (z > 0) {
        p[0] = p[z / 2] = p[z - 1] = 0;
    }
}

// n bytes from src to dst: small ones by overlapping fixed-size moves.
[[gnu::always_inline]] inline void copy_bytes(char *dst, const void *src, size_t n) noexcept {
    auto *s = static_cast<const char *>(src);
    if (n >= 8 && n <= 16) {
        char a[8], b[8];
        std::memcpy(a, s, 8);
        std::memcpy(b, s + n - 8, 8);
        std::memcpy(dst, a, 8);
        std::memcpy(dst + n - 8, b, 8);
    } else if (n >= 4 && n < 8) {
        char a[4], b[4];
        std::memcpy(a, s, 4);
        std::memcpy(b, s + n - 4, 4);
        std::memcpy(dst, a, 4);
        std::memcpy(dst + n - 4, b, 4);
    } else if (n > 0 && n < 4) {
        dst[0] = s[0];
        dst[n / 2] = s[n / 2];
        dst[n - 1] = s[n - 1];
    } else if (n > 16) {
        std::memcpy(dst, s, n);
    }
}

// Every weft_bytes weft hands out has a BytesHead before it: either its
// own malloc block (slab null: head, weft_bytes, bytes), or one of many
// results carved from a shared block (a map chunk's reply) that a reference
// count frees when its last result is freed.
struct Slab {
    std::atomic<std::size_t> refs;
    std::uint64_t cap;  // bytes of the block, for the cache below
};
struct BytesHead {
    Slab *slab;
    std::uint64_t pad;
};
static_assert(sizeof(Slab) == 16 && sizeof(BytesHead) == 16 && sizeof(weft_bytes) == 16);

// A weft_bytes with its bytes behind it, in one block.
weft_bytes *bytes_alloc(size_t len) noexcept {
    if (len > SIZE_MAX - sizeof(BytesHead) - sizeof(weft_bytes) - 1) return nullptr;
    auto *h = static_cast<BytesHead *>(std::malloc(sizeof(BytesHead) + sizeof(weft_bytes) + len + 1));
    if (!h) return nullptr;
    h->slab = nullptr;
    auto *b = reinterpret_cast<weft_bytes *>(h + 1);
    b->size = len;
    b->data = b + 1;
    static_cast<char *>(b->data)[len] = '\0';  // so a message payload is a C string
    return b;
}

// Blocks of map chunks (a chunk's packed arguments, a chunk's reply slab)
// freed recently, kept for the next chunks: a map's replies live until the
// caller frees its results, and freeing a few hundred KiB at once lets malloc
// give the memory back (brk, or munmap for the larger ones), so that the next
// map page-faults it in again (measured: 1.5x slower 10k maps; a 100k map,
// whose 40 chunks did not fit the first cache of 32 blocks of up to 1 MiB,
// ran 8x slower than a 10k one per call). At most kBlockCacheN blocks of up
// to kBlockCacheMax bytes, kBlockCacheBytes in all, are kept, until
// weft_memory_trim() frees them.
constexpr size_t kBlockCacheN = 256;
constexpr size_t kBlockCacheMax = size_t{16} << 20;
constexpr size_t kBlockCacheBytes = size_t{64} << 20;
struct BlockCache {
    std::mutex mu;
    size_t n = 0, bytes = 0;
    void *blocks[kBlockCacheN];
    size_t caps[kBlockCacheN];
};
// Its lock is held across fork() (at-fork handlers registered with the
// cache), so a child never inherits it held by a thread it does not have:
// a child may map, free results and weft_memory_trim() as its parent does.
BlockCache *block_cache() noexcept {
    static BlockCache *c = [] {  // function-local: nothing runs at load time
        auto *made = new (std::nothrow) BlockCache;
        if (made)
            (void)pthread_atfork([] { block_cache()->mu.lock(); }, [] { block_cache()->mu.unlock(); },
                                 [] { block_cache()->mu.unlock(); });
        return made;
    }();
    return c;
}

// A block of at least `need` bytes (a cached one, or a fresh one rounded to
// pages); *cap receives its size, for block_put(). Null when out of memory.
void *block_get(size_t need, size_t *cap) noexcept {
    BlockCache *cache = need <= kBlockCacheMax ? block_cache() : nullptr;
    if (cache) {
        BlockCache &c = *cache;
        std::lock_guard<std::mutex> g(c.mu);
        for (size_t i = 0; i < c.n; i++)
            if (c.caps[i] >= need && c.caps[i] <= 2 * need + 4096) {
                void *p = c.blocks[i];
                *cap = c.caps[i];
                c.bytes -= c.caps[i];
                c.n--;
                c.blocks[i] = c.blocks[c.n];
                c.caps[i] = c.caps[c.n];
                return p;
            }
    }
    if (need > SIZE_MAX - 4096) return nullptr;
    *cap = (need + 4095) & ~size_t{4095};
    return std::malloc(*cap);
}

void block_put(void *p, size_t cap) noexcept {
    if (!p) return;
    BlockCache *cache = cap <= kBlockCacheMax ? block_cache() : nullptr;
    if (cache) {
        BlockCache &c = *cache;
        std::lock_guard<std::mutex> g(c.mu);
        if (c.n < kBlockCacheN && c.bytes + cap <= kBlockCacheBytes) {
            c.blocks[c.n] = p;
            c.caps[c.n] = cap;
            c.n++;
            c.bytes += cap;
            return;
        }
    }
    std::free(p);
}

}  // namespace

std::size_t map_blocks_trim() noexcept {
    BlockCache *cache = block_cache();
    if (!cache) return 0;
    BlockCache &c = *cache;
    void *blocks[kBlockCacheN];
    size_t n, bytes;
    {
        std::lock_guard<std::mutex> g(c.mu);
        n = c.n;
        bytes = c.bytes;
        std::memcpy(blocks, c.blocks, n * sizeof blocks[0]);
        c.n = 0;
        c.bytes = 0;
    }
    for (size_t i = 0; i < n; i++) std::free(blocks[i]);
    return bytes;
}

namespace {

// The same inside a Slab (refs 1), so that results can be carved from the bytes.
weft_bytes *slab_alloc(size_t len) noexcept {
    if (len > SIZE_MAX - sizeof(Slab) - sizeof(BytesHead) - sizeof(weft_bytes) - 4096) return nullptr;
    size_t need = sizeof(Slab) + sizeof(BytesHead) + sizeof(weft_bytes) + len + 1;
    size_t cap = 0;
    auto *sl = static_cast<Slab *>(block_get(need, &cap));
    if (!sl) return nullptr;
    sl->cap = cap;
    new (&sl->refs) std::atomic<std::size_t>(1);
    auto *h = reinterpret_cast<BytesHead *>(sl + 1);
    h->slab = sl;
    h->pad = 0;
    auto *b = reinterpret_cast<weft_bytes *>(h + 1);
    b->size = len;
    b->data = b + 1;
    static_cast<char *>(b->data)[len] = '\0';
    return b;
}

Slab *slab_of(const weft_bytes *b) noexcept { return (reinterpret_cast<const BytesHead *>(b) - 1)->slab; }

// Result k of a packed reply whose results start at `from`, carved at its
// padded place in the slab at p (see settle_reply).
[[gnu::always_inline]] inline weft_bytes *carve_packed(char *p, const char *from, size_t k, size_t item,
                                                       Slab *sl) noexcept {
    char one[kFixedMax];
    copy_bytes(one, from + k * item, item);
    auto *h = reinterpret_cast<BytesHead *>(p + k * (kItemRoom + pad16(item)));
    h->slab = sl;
    h->pad = 0;
    auto *rb = reinterpret_cast<weft_bytes *>(h + 1);
    rb->size = item;
    rb->data = rb + 1;
    copy_bytes(static_cast<char *>(rb->data), one, item);
    zero_pad(static_cast<char *>(rb->data), item);
    return rb;
}

// A chunk's reply, read by the pool: the slab for a reply with header `rh`
// to a chunk of `count` calls, and where its rh.len bytes go (*dst). A packed
// reply (kChunkFixedDone) goes at the end of a slab the size of its padded
// form, where settle_reply() carves its results in place; the slab's
// BytesHead::pad says which (0: padded, else 1 + the results' size). Null
// when the header does not fit a chunk of `count` calls (*err =
// WEFT_EINTERNAL) or memory ran out (WEFT_ENOMEM).
weft_bytes *chunk_reply_start(const ResultHdr &rh, std::uint32_t count, char **dst, weft_status *err) noexcept {
    size_t len = rh.len;
    if (rh.kind == kChunkFixedDone) {
        auto item = static_cast<size_t>(rh.code);
        if (rh.code < 0 || item > kFixedMax || count == 0 || rh.len != count * item) {
            *err = WEFT_EINTERNAL;
            return nullptr;
        }
        len = count * (kItemRoom + pad16(item));
    }
    weft_bytes *b = slab_alloc(len);
    if (!b) {
        *err = WEFT_ENOMEM;
        return nullptr;
    }
    if (rh.kind == kChunkFixedDone) (reinterpret_cast<BytesHead *>(b) - 1)->pad = 1 + static_cast<std::uint64_t>(rh.code);
    *dst = static_cast<char *>(b->data) + (len - rh.len);
    return b;
}

// The last reference of a slab is gone: keep the block for the next chunks, or free it.
void slab_dispose(Slab *sl) noexcept {
    sl->refs.~atomic();
    block_put(sl, sl->cap);
}

void slab_unref(Slab *sl, std::size_t k) noexcept {
    if (sl->refs.fetch_sub(k, std::memory_order_acq_rel) == k) slab_dispose(sl);
}

// Releases of results carved from one slab, batched per thread: a map's
// caller frees thousands of results one by one, and one atomic decrement
// each (about 18 ns on a loaded VM, the time of a whole tiny task) was the
// largest cost of a 10k map. A thread counts the releases of the slab it
// freed last without an atomic, and subtracts them at once when it moves
// to another slab, when the count says it holds every remaining reference
// (then the block goes at once, as before), or when the thread ends. So a
// chunk's block is freed when its last result is freed by the thread that
// freed the others; results of one chunk freed by several threads free it
// at the latest when each of those threads frees another slab result or ends.
// The batch is trivially destructible, so that reaching it costs no TLS
// guard check (with a destructor, every weft_bytes_free paid a call to
// __tls_get_addr for the guard); a second thread-local object, touched when
// a thread first batches, flushes it when the thread ends.
struct FreeBatch {
    Slab *slab;
    std::size_t pending;
    bool armed;  // tl_free_batch_exit is registered for this thread
    void flush() noexcept {
        Slab *sl = slab;
        std::size_t k = pending;
        slab = nullptr;
        pending = 0;
        if (sl) slab_unref(sl, k);
    }
};
thread_local FreeBatch tl_free_batch [[gnu::tls_model("initial-exec")]];
struct FreeBatchExit {
    ~FreeBatchExit() { tl_free_batch.flush(); }
};
thread_local FreeBatchExit tl_free_batch_exit;

// Release now (the supervisor's own error paths: nothing batched there).
void bytes_release(weft_bytes *b) noexcept {
    if (!b) return;
    auto *h = reinterpret_cast<BytesHead *>(b) - 1;
    if (!h->slab)
        std::free(h);
    else
        slab_unref(h->slab, 1);
}

// weft_bytes_free: batched.
void bytes_release_batched(weft_bytes *b) noexcept {
    if (!b) return;
    auto *h = reinterpret_cast<BytesHead *>(b) - 1;
    Slab *sl = h->slab;
    if (!sl) {
        std::free(h);
        return;
    }
    FreeBatch &fb = tl_free_batch;
    if (fb.slab != sl) {
        fb.flush();
        fb.slab = sl;
        if (!fb.armed) {
            fb.armed = true;
            FreeBatchExit *e = &tl_free_batch_exit;  // constructs it: its destructor runs at the thread's end
            asm volatile("" : : "r"(e) : "memory");
        }
    }
    // refs only falls while we hold `pending` of them, so reading exactly
    // `pending` (even a stale value) means nobody else holds one: free now.
    if (++fb.pending == sl->refs.load(std::memory_order_relaxed)) fb.flush();
}

void bytes_free_fn(void *p) noexcept { bytes_release(static_cast<weft_bytes *>(p)); }  // once per task: not batched

std::string describe_status(int status) {
    char buf[96];
    if (WIFSIGNALED(status)) {
        int sig = WTERMSIG(status);
        const char *abbrev = sigabbrev_np(sig);
        std::snprintf(buf, sizeof buf, "was killed by signal %d (SIG%s)", sig, abbrev ? abbrev : "?");
    } else if (WIFEXITED(status)) {
        std::snprintf(buf, sizeof buf, "exited with code %d", WEXITSTATUS(status));
    } else {
        std::snprintf(buf, sizeof buf, "ended (status 0x%x)", static_cast<unsigned>(status));
    }
    return buf;
}

// ---- the worker process ---------------------------------------------------

// Waiting for a socket during maps: spin (retrying, yielding the CPU between
// tries) for up to kSpinNs before sleeping, while the last wait of the same
// kind was shorter than that. Waking a sleeping process costs the waker a
// system call and, on a VM whose other vCPU is idle, the host's wake-up of
// that vCPU (tens of microseconds here); a map's replies and the next map's
// chunks come that quickly while work flows (W7: 10k tiny calls 160 -> 120
// us), and a pool that goes quiet stops spinning after one wait in vain. (A
// wait that ended asleep also counts the wake-up's delay, hence the margin
// of spin_worth(): with none, one slow wake-up stopped the spinning for
// good.) A worker spins only after a map's chunk: after single tasks
// (submit, apply_async) its spinning took the CPU from the process that
// submits them (apply_async from Python: 18% fewer tasks per second).
constexpr int64_t kSpinNs = 100 * WEFT_USEC;
constexpr bool spin_worth(int64_t last_wait) noexcept { return last_wait < 2 * kSpinNs; }

// The worker's one read from its socket: what is there now, up to n bytes;
// 0 at the end, -1 on an error. It sleeps in poll(POLLIN), not in a blocking
// read: a blocking read sleeps on the socket's one wait queue, which the
// pool's reads of this worker's replies wake too (unix_write_space), so a
// worker waiting for a map's next chunk was woken for nothing at every reply
// the pool took in (measured: half of a 10k map's time on two cores).
bool worker_spins = false;  // the worker's last task was a map's chunk (a worker has one thread)
// A wake-up (kWake, weft_process_pool_wake): reads spin up to kWakeSpinNs,
// whatever the last wait was, until the next frame's header is in (work is
// on its way).
bool spin_next = false;
constexpr int64_t kWakeSpinNs = 200 * WEFT_USEC;

ssize_t read_some(int fd, void *p, size_t n) noexcept {
    static int64_t last_wait = 0;  // the worker's last wait for bytes, ns (0: spin at first)
    int64_t since = 0;
    for (;;) {
        ssize_t r = ::recv(fd, p, n, MSG_DONTWAIT);
        if (r >= 0) {
            if (since && !spin_next) last_wait = monotonic_now() - since;  // (a wait for work announced is no measure)
            return r;
        }
        if (errno == EINTR) continue;
        if (errno != EAGAIN && errno != EWOULDBLOCK) return -1;
        int64_t now = monotonic_now();
        if (!since) since = now;
        int64_t budget = spin_next ? kWakeSpinNs : worker_spins && spin_worth(last_wait) ? kSpinNs : 0;
        if (now - since < budget) {
            sched_yield();
            continue;
        }
        struct pollfd w = {fd, POLLIN, 0};
        if (::poll(&w, 1, -1) < 0 && errno != EINTR) return -1;
    }
}

bool read_full(int fd, void *p, size_t n) noexcept {
    auto *c = static_cast<char *>(p);
    while (n) {
        ssize_t r = read_some(fd, c, n);
        if (r <= 0) return false;
        c += r;
        n -= static_cast<size_t>(r);
    }
    return true;
}

// The worker's reads: what is there is read at once (often a task's header
// and argument, or several tasks sent ahead, in one read), large arguments
// straight into their buffer.
struct InBuf {
    int fd;
    size_t lo = 0, hi = 0;
    char buf[16 * 1024];
    bool read(void *dst, size_t n) noexcept {
        if (n == 0) return true;  // an empty argument: dst may be null
        auto *d = static_cast<char *>(dst);
        size_t have = std::min(n, hi - lo);
        std::memcpy(d, buf + lo, have);
        lo += have;
        d += have;
        n -= have;
        if (n == 0) return true;
        if (n >= sizeof buf) return read_full(fd, d, n);
        lo = hi = 0;
        while (hi < n) {
            ssize_t r = read_some(fd, buf + hi, sizeof buf - hi);
            if (r <= 0) return false;
            hi += static_cast<size_t>(r);
        }
        std::memcpy(d, buf, n);
        lo = n;
        return true;
    }
};

bool write_full(int fd, const void *p, size_t n) noexcept {
    auto *c = static_cast<const char *>(p);
    while (n) {
        ssize_t r = ::write(fd, c, n);
        if (r > 0) {
            c += r;
            n -= static_cast<size_t>(r);
        } else if (r < 0 && errno == EINTR) {
            continue;
        } else {
            return false;
        }
    }
    return true;
}

bool send_full(int fd, const void *p, size_t n) noexcept {
    auto *c = static_cast<const char *>(p);
    while (n) {
        ssize_t r = ::send(fd, c, n, MSG_NOSIGNAL);
        if (r > 0) {
            c += r;
            n -= static_cast<size_t>(r);
        } else if (r < 0 && errno == EINTR) {
            continue;
        } else {
            return false;
        }
    }
    return true;
}

// One non-blocking sendmsg of what is left of a frame, head then payload,
// `done` bytes of it sent already: the bytes sent (> 0), 0 when the socket
// is full, -1 when the peer is gone.
ssize_t send_part(int sock, const char *head, size_t head_len, const char *payload, size_t len, size_t done) noexcept {
    for (;;) {
        struct iovec iov[2];
        int k = 0;
        if (done < head_len) {
            iov[k++] = {const_cast<char *>(head) + done, head_len - done};
            if (len) iov[k++] = {const_cast<char *>(payload), len};
        } else {
            iov[k++] = {const_cast<char *>(payload) + (done - head_len), head_len + len - done};
        }
        struct msghdr mh {};
        mh.msg_iov = iov;
        mh.msg_iovlen = static_cast<size_t>(k);
        ssize_t r = ::sendmsg(sock, &mh, MSG_NOSIGNAL | MSG_DONTWAIT);
        if (r > 0) return r;
        if (r < 0 && errno == EINTR) continue;
        return r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK) ? 0 : -1;
    }
}

// weft_ptask_result_alloc and _set: room for len result bytes in the frame
// (inline in both: a map's tiny call is about as long as a call through the PLT).
[[gnu::always_inline]] inline weft_status result_room(const char *func, weft_ptask_result *result, size_t len,
                                                      void **data) noexcept {
    *data = nullptr;
    if (len > SIZE_MAX / 2 - result->at - result->room)
        return fail(WEFT_EINVAL, "%s: len %zu is too large", func, len);
    if (!result->buf->resize(result->at + result->room + len))
        return fail(WEFT_ENOMEM, "%s: out of memory for %zu bytes", func, len);
    result->len = len;
    result->set = true;
    *data = result->buf->p + result->at + result->room;  // 16-aligned: at and room are multiples of 16
    return WEFT_OK;
}

// One call of the task inside the worker: its code, its message when it
// failed, and its result bytes in `out` (with header room).
struct CallOutcome {
    weft_status code = WEFT_OK;
    char message[WEFT_ERROR_MESSAGE_MAX];
};

void run_call(weft_ptask_fn fn, const void *arg, size_t len, weft_ptask_result &out, CallOutcome &oc) noexcept {
    oc.code = WEFT_OK;
    oc.message[0] = '\0';
    TaskScope scope(nullptr);  // so weft_task_fail() records into it
    weft_status rc = fn(len ? arg : nullptr, len, &out);
    if (scope.failed()) {
        oc.code = scope.code();
        std::snprintf(oc.message, sizeof oc.message, "%s", scope.message());
    } else if (rc != WEFT_OK) {
        oc.code = rc < 0 ? rc : WEFT_EFAILED;
        std::snprintf(oc.message, sizeof oc.message, "the task returned %s (%d)",
                      rc < 0 ? weft_status_name(rc) : "a positive value", rc);
    }
    scope.finish(nullptr, nullptr);
}

// The calls of one map chunk share one task record (made the thread's
// current task once per chunk, not once per call: a tiny call costs about
// as much as the two thread-local look-ups of a TaskScope).
struct ChunkScope {
    TaskState st;
    TaskState *&cur;
    ChunkScope() noexcept : cur(current_task()) {
        st.prev = cur;
        cur = &st;
    }
    ~ChunkScope() { cur = st.prev; }
    ChunkScope(const ChunkScope &) = delete;
    ChunkScope &operator=(const ChunkScope &) = delete;

    void call(weft_ptask_fn fn, const void *arg, size_t len, weft_ptask_result &out, CallOutcome &oc) noexcept {
        st.failed = false;
        weft_status rc = fn(len ? arg : nullptr, len, &out);
        if (st.failed) {
            oc.code = st.code;
            std::snprintf(oc.message, sizeof oc.message, "%s", st.message);
        } else if (rc != WEFT_OK) {
            oc.code = rc < 0 ? rc : WEFT_EFAILED;
            std::snprintf(oc.message, sizeof oc.message, "the task returned %s (%d)",
                          rc < 0 ? weft_status_name(rc) : "a positive value", rc);
        } else {
            oc.code = WEFT_OK;
        }
    }
};

// ---- registered task functions (spawn and forkserver workers) -------------

constexpr size_t kMaxTaskName = 255;
constexpr size_t kMaxSpawnArgv = 64;

// This program's path (spawn_argv without spawn_program re-executes it).
std::string self_exe_path() {
    char buf[4096];
    ssize_t n = ::readlink("/proc/self/exe", buf, sizeof buf - 1);
    return n > 0 ? std::string(buf, static_cast<size_t>(n)) : std::string("/proc/self/exe");
}
constexpr const char *kWorkerFnName = kPoolWorkerFn;

struct PtaskRegistry {
    std::mutex mu;
    std::unordered_map<std::string, weft_ptask_fn> by_name;
    std::unordered_map<std::uintptr_t, const std::string *> by_fn;  // the first name of each function
};

PtaskRegistry &ptasks() {
    static auto *r = new PtaskRegistry;  // never freed: used until _exit
    return *r;
}

weft_ptask_fn ptask_lookup(const char *name) noexcept {
    try {
        PtaskRegistry &r = ptasks();
        std::lock_guard<std::mutex> g(r.mu);
        auto it = r.by_name.find(name);
        return it == r.by_name.end() ? nullptr : it->second;
    } catch (...) {
        return nullptr;
    }
}

// The name fn is registered under, or null (the string lives until _exit).
const std::string *ptask_name_of(weft_ptask_fn fn) {
    PtaskRegistry &r = ptasks();
    std::lock_guard<std::mutex> g(r.mu);
    auto it = r.by_fn.find(reinterpret_cast<std::uintptr_t>(fn));
    return it == r.by_fn.end() ? nullptr : it->second;
}

struct ChildSetup {
    pid_t parent;
    int sock;
    weft_pool_init_fn initializer;
    void *initializer_data;
    weft_ptask_fn init_fn;  // initializer_name's function (fork workers find it by pointer)
    const char *init_name;
    const void *init_arg;
    size_t init_len;
};

[[noreturn]] void worker_loop(int sock, bool by_name) noexcept;

// The exit code of a worker whose initializer (by name) failed; it sent the
// failure as a kFail frame in place of kReady first.
constexpr int kExitInitFailed = 4;

// Run the initializer by name in a worker; on failure tell the pool why and leave.
void run_named_init(int sock, weft_ptask_fn fn, const char *name, const void *arg, size_t len) noexcept;

void worker_setup() noexcept {
    // Crash signals get their default action back, so a crash ends the
    // worker with its signal (which the pool reports) instead of running a
    // handler the parent installed for itself (a crash reporter, a test
    // framework, a sanitizer). Every signal is unblocked.
    for (int sig : {SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGABRT, SIGTRAP, SIGSYS}) signal(sig, SIG_DFL);
    sigset_t none;
    sigemptyset(&none);
    pthread_sigmask(SIG_SETMASK, &none, nullptr);
    signal(SIGPIPE, SIG_IGN);
    // SCHED_BATCH (same nice value, no privilege needed): waking a worker
    // never preempts the thread that woke it. A map's caller that sent its
    // first chunk to a sleeping worker lost its CPU to it and sent the next
    // chunk only once that worker had run its chunk to the end: Python maps
    // of 2 chunks after a pause (Pool.map taking turns with another pool's)
    // sent their second chunk 280-360 us late, the two chunks running one
    // after the other; under SCHED_BATCH 17-70 us, and such maps took 6%
    // less time in each of 6 runs. W7 (C, 10k tiny calls) went from 10.3x
    // to 12.3x multiprocessing.Pool.map, its submit path from 1.10x to
    // 1.36x the bare pool. A task may set its own policy back.
    struct sched_param sp {};
    (void)sched_setscheduler(0, SCHED_BATCH, &sp);
}

[[noreturn]] void worker_main(const ChildSetup &s) noexcept {
    // Die with the supervisor thread (and so with the pool's process); the
    // parent may have died before prctl: then we are someone else's child.
    if (prctl(PR_SET_PDEATHSIG, SIGKILL) != 0 || getppid() != s.parent) _exit(0);
    worker_setup();
    if (s.initializer) s.initializer(s.initializer_data);
    if (s.init_name) run_named_init(s.sock, s.init_fn, s.init_name, s.init_arg, s.init_len);
    worker_loop(s.sock, false);
}

// A task function the worker could not find by name: every call fails.
void fail_unknown(const char *name, CallOutcome &oc) noexcept {
    oc.code = WEFT_ENOENT;
    std::snprintf(oc.message, sizeof oc.message,
                  "no task function is registered as \"%.96s\" in worker %d; register it when the program "
                  "loads (WEFT_REGISTER_PTASK) so that every copy knows it",
                  name, static_cast<int>(getpid()));
}

void run_named_init(int sock, weft_ptask_fn fn, const char *name, const void *arg, size_t len) noexcept {
    CallOutcome oc;
    OutBuf ob;
    weft_ptask_result out(&ob, 0, 0);
    void *copy = len ? std::aligned_alloc(16, pad16(len)) : nullptr;  // aligned for any type, as task arguments
    if (len && !copy) _exit(3);
    if (len) std::memcpy(copy, arg, len);
    if (fn) run_call(fn, copy, len, out, oc);
    else fail_unknown(name, oc);
    std::free(copy);
    if (oc.code == WEFT_OK) return;
    char msg[WEFT_ERROR_MESSAGE_MAX + 64];
    int n = std::snprintf(msg, sizeof msg, "its initializer \"%s\" failed with %s: %s", name,
                          weft_status_name(oc.code), oc.message);
    size_t mlen = n < 0 ? 0 : std::min(static_cast<size_t>(n), sizeof msg - 1);
    ResultHdr r{kFail, oc.code, mlen};
    if (send_full(sock, &r, sizeof r)) (void)send_full(sock, msg, mlen);
    _exit(kExitInitFailed);
}

// The argument of a spawn or forkserver worker: this header, the pool's
// abstract socket name, the initializer's name, its argument bytes.
struct NamedWorkerArg {
    std::uint32_t magic;
    std::uint32_t sock_len;
    std::uint32_t init_name_len;  // 0: no initializer
    std::uint32_t pad;
    std::uint64_t init_arg_len;
};
static_assert(sizeof(NamedWorkerArg) == 24);
constexpr std::uint32_t kWorkerArgMagic = 0x57505741u;  // "WPWA"

// The spawn and forkserver worker (a registered function of the re-executed
// program): connect to the pool's abstract socket named by the argument,
// run the initializer by name if there is one, then serve as a fork worker
// does, finding tasks by name. Its socket's end (the pool's process died)
// ends it at its next task.
int spawned_worker(void *arg, size_t len) noexcept {
    struct sockaddr_un a {};
    NamedWorkerArg h;
    if (len < sizeof h) return 2;
    std::memcpy(&h, arg, sizeof h);
    const char *p = static_cast<const char *>(arg) + sizeof h;
    size_t rest = len - sizeof h;
    if (h.magic != kWorkerArgMagic || h.sock_len == 0 || h.sock_len > sizeof a.sun_path ||
        h.init_name_len > kMaxTaskName || rest != h.sock_len + h.init_name_len + h.init_arg_len)
        return 2;
    a.sun_family = AF_UNIX;
    std::memcpy(a.sun_path, p, h.sock_len);
    char init_name[kMaxTaskName + 1];
    std::memcpy(init_name, p + h.sock_len, h.init_name_len);
    init_name[h.init_name_len] = '\0';
    const char *init_arg = p + h.sock_len + h.init_name_len;
    int sock = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (sock < 0) return 2;
    socklen_t alen = static_cast<socklen_t>(offsetof(struct sockaddr_un, sun_path) + h.sock_len);
    while (::connect(sock, reinterpret_cast<struct sockaddr *>(&a), alen) != 0)
        if (errno != EINTR) return 2;
    worker_setup();
    if (h.init_name_len) run_named_init(sock, ptask_lookup(init_name), init_name, init_arg, h.init_arg_len);
    worker_loop(sock, true);
}

// A chunk's outcome header (ItemHdr, then zeros up to kItemRoom) at p.
inline void put_item_head(char *p, weft_status code, size_t len) noexcept {
    ItemHdr ih{code, 0, len};
    std::memcpy(p, &ih, sizeof ih);
    std::memset(p + sizeof ih, 0, kItemRoom - sizeof ih);
}

// The first n results of a chunk's frame, packed (`same` bytes each after
// the ResultHdr), into the padded form, back to front (each one's padded
// place begins at or after its packed place); false when out of memory.
bool unpack_results(OutBuf &ob, size_t n, size_t same) noexcept {
    size_t step = kItemRoom + pad16(same);
    if (!ob.resize(sizeof(ResultHdr) + n * step)) return false;
    char *base = ob.p + sizeof(ResultHdr);
    for (size_t i = n; i-- > 0;) {
        char v[kFixedMax];
        copy_bytes(v, base + i * same, same);
        copy_bytes(base + i * step + kItemRoom, v, same);
        zero_pad(base + i * step + kItemRoom, same);
        put_item_head(base + i * step, WEFT_OK, same);
    }
    return true;
}

[[noreturn]] void worker_loop(int sock, bool by_name) noexcept {
    {
        ResultHdr ready{kReady, 0, 0};
        if (!send_full(sock, &ready, sizeof ready)) _exit(0);
    }
    char name[kMaxTaskName + 1];
    char *in = nullptr;
    size_t in_cap = 0;
    OutBuf ob;  // the frame sent back: a ResultHdr, then the result or the chunk's outcomes
    CallOutcome oc;
    static InBuf ib;  // (static: 16 KiB, off the stack)
    ib.fd = sock;
    for (;;) {
        TaskHdr h;
        if (!ib.read(&h, sizeof h) || h.kind == kExit) _exit(0);
        if (h.kind == kWake) {  // work follows: wait for it awake (it carries nothing, not even a name)
            spin_next = true;
            continue;
        }
        spin_next = false;  // (the work came: its header may have been read with the wake-up's)
        weft_ptask_fn fn;
        if (by_name) {  // the task's name follows the header (its length in pad)
            if (h.pad == 0 || h.pad > kMaxTaskName || !ib.read(name, h.pad)) _exit(0);
            name[h.pad] = '\0';
            fn = ptask_lookup(name);
        } else {
            fn = reinterpret_cast<weft_ptask_fn>(static_cast<std::uintptr_t>(h.fn));
        }
        if (h.len > in_cap) {
            std::free(in);
            in_cap = h.len;
            in = static_cast<char *>(std::malloc(in_cap));
            if (!in) _exit(3);
        }
        if (!ib.read(in, h.len)) _exit(0);
        if (!ob.resize(sizeof(ResultHdr))) _exit(3);
        worker_spins = h.kind != kTask;
        if (h.kind == kTask) {
            weft_ptask_result out(&ob, 0, kResultRoom);
            if (fn) run_call(fn, in, h.len, out, oc);
            else fail_unknown(name, oc);
            ResultHdr r{kOk, 0, out.set ? out.len : 0};
            if (oc.code != WEFT_OK) {
                size_t mlen = std::strlen(oc.message);
                r = ResultHdr{kFail, oc.code, mlen};
                if (!ob.resize(sizeof r + mlen)) _exit(3);
                std::memcpy(ob.p + sizeof r, oc.message, mlen);
            } else if (!out.set) {
                ob.size = sizeof r;
            }
            std::memcpy(ob.p, &r, sizeof r);
            if (!send_full(sock, ob.p, ob.size)) _exit(0);
            ob.trim();
            continue;
        }
        // kChunk, kChunkFixed: run each argument; send the outcomes in one
        // frame. While every call succeeds with a result of one size (at
        // most kFixedMax) the results go packed (kChunkFixedDone). Each call
        // writes its result just past the packed ones (16-aligned), and a
        // packed one then moves down to its place: the frame stays as small
        // as the packed reply (a 5000-call chunk wrote over 240 KB when each
        // call wrote at its padded place: 40 KB now). The first call that
        // breaks the rule moves its result up to its place in the padded
        // form (kChunkDone), and the packed ones before it go padded.
        size_t off = 0, fixed = 0;
        if (h.kind == kChunkFixed && (h.count == 0 || h.len % h.count != 0 || (fixed = h.len / h.count) > kFixedMax))
            _exit(0);  // (not from a pool)
        alignas(16) char one[kFixedMax];  // a packed argument, 16-aligned as every argument is
        bool packed = true;
        size_t same = 0;  // the size of every result, while packed
        std::uint32_t ran = 0;
        ChunkScope scope;
        for (; ran < h.count; ran++) {
            const char *arg = one;
            size_t alen = fixed;
            if (h.kind == kChunkFixed) {
                copy_bytes(one, in + ran * fixed, fixed);
            } else {
                if (off + sizeof(ItemHdr) > h.len) break;
                ItemHdr ih;
                std::memcpy(&ih, in + off, sizeof ih);
                off += sizeof ih;
                arg = in + off;
                alen = ih.len;
                off += pad16(ih.len);
            }
            size_t at = packed ? pad16(sizeof(ResultHdr) + ran * same) : ob.size;
            if (!ob.resize(at)) _exit(3);
            weft_ptask_result out(&ob, at, kItemRoom);
            if (fn) scope.call(fn, arg, alen, out, oc);
            else fail_unknown(name, oc);
            size_t dlen = oc.code != WEFT_OK ? std::strlen(oc.message) : out.set ? out.len : 0;
            if (packed) {
                if (ran == 0 && oc.code == WEFT_OK && dlen <= kFixedMax) same = dlen;
                if (oc.code == WEFT_OK && dlen == same) {
                    char v[kFixedMax];  // (the first one's places overlap)
                    copy_bytes(v, ob.p + at + kItemRoom, same);
                    ob.size = sizeof(ResultHdr) + (ran + 1) * same;
                    copy_bytes(ob.p + ob.size - same, v, same);
                    continue;
                }
                packed = false;
                size_t padded = sizeof(ResultHdr) + ran * (kItemRoom + pad16(same));  // >= at
                if (oc.code == WEFT_OK && dlen > 0 && padded != at) {
                    if (!ob.resize(padded + kItemRoom + dlen)) _exit(3);
                    std::memmove(ob.p + padded + kItemRoom, ob.p + at + kItemRoom, dlen);
                }
                at = padded;
                if (!unpack_results(ob, ran, same)) _exit(3);  // the packed ones before it, up to `at`
            }
            if (oc.code != WEFT_OK) {
                if (!ob.resize(at + kItemRoom + dlen)) _exit(3);
                std::memcpy(ob.p + at + kItemRoom, oc.message, dlen);
            }
            if (!ob.resize(at + kItemRoom + pad16(dlen))) _exit(3);
            zero_pad(ob.p + at + kItemRoom, dlen);
            put_item_head(ob.p + at, oc.code, dlen);
        }
        if (packed && ran < h.count) {  // (cut short: not from a pool)
            if (!unpack_results(ob, ran, same)) _exit(3);
            packed = false;
        }
        // (packed, the frame holds the ResultHdr and ran * same bytes already)
        ResultHdr r = packed ? ResultHdr{kChunkFixedDone, static_cast<std::int32_t>(same), ran * same}
                             : ResultHdr{kChunkDone, 0, ob.size - sizeof(ResultHdr)};
        std::memcpy(ob.p, &r, sizeof r);
        if (!send_full(sock, ob.p, ob.size)) _exit(0);
        ob.trim();
    }
}

// ---- the pool's side --------------------------------------------------------

// A task frame's head into `out` (room for TaskHdr + kMaxTaskName): the
// header, then for spawn and forkserver workers (`name`) the registered name
// the worker finds the function by. Its length.
size_t task_head(char *out, std::uint32_t kind, std::uint32_t count, weft_ptask_fn fn, const std::string *name,
                 size_t len) noexcept {
    TaskHdr h{kind, count, static_cast<std::uint64_t>(reinterpret_cast<std::uintptr_t>(fn)), len, 0};
    size_t n = sizeof h;
    if (name) {
        h.fn = 0;
        h.pad = name->size();
        std::memcpy(out + sizeof h, name->data(), name->size());
        n += name->size();
    }
    std::memcpy(out, &h, sizeof h);
    return n;
}

struct PTask {
    weft_ptask_fn fn = nullptr;
    const std::string *name = nullptr;  // spawn and forkserver pools: the registered name of fn
    std::uint32_t kind = kTask;
    std::uint32_t count = 1;
    char *arg = nullptr;  // malloc'd copy, or a cached block (arg_cap > 0: a map chunk's)
    size_t len = 0;
    size_t arg_cap = 0;
    weft_future *future = nullptr;  // the pool's reference, or null (execute)
    bool running = false;           // its future was set RUNNING (it was sent to a worker once)

    ~PTask() {
        if (arg_cap) block_put(arg, arg_cap);
        else std::free(arg);
    }
};

enum class End { none, retire, timeout, cancel, terminate, broken, protocol };

struct Worker {
    pid_t pid = -1;
    int pidfd = -1;
    weft_process *proc = nullptr;  // spawn and forkserver workers: their process handle
    int sock = -1;
    bool ready = false;     // sent kReady
    std::string init_error;  // why its initializer failed (it sent kFail in place of kReady)
    bool sock_eof = false;  // the worker closed its end, or sending failed: wait for the pidfd
    // Lending (under the pool's mu): an idle worker may be lent to a caller
    // for one task's round trip (weft_process_pool_apply), which then talks
    // to it on its socket itself; the supervisor does not touch its socket
    // while it is idle or lent, and does not poll it at all while lent.
    bool idle = false;      // in the pool's idle list: nothing in flight, nothing half-read or half-sent
    bool lent = false;      // a caller has it
    bool excluded = false;  // the supervisor sleeps without its descriptors: wake it at the hand-back
    const char *lost_where = nullptr;  // the borrower saw it die: where its task was
    bool dead_back = false;            // handed back dead (in `returned` until taken back): no task for it
    End back_end = End::none;          // handed back killed by its borrower on purpose: why (End::cancel)
    bool retiring = false;  // weft_process_pool_resize shrank the pool: no new tasks, leaves once idle
    End end = End::none;    // why weft ended it (none: it is alive, or it died on its own)
    int64_t end_deadline = 0;  // for End::retire: kill after this
    // Tasks sent to it, in order: the head runs (or is being received), the
    // one behind it (at most kDepth - 1, small ones only) waits in the socket.
    std::deque<PTask *> inflight;
    int64_t sent_at = 0;  // when the head started: sent to an idle worker, or the previous result arrived
    int64_t tasks_run = 0;
    int64_t last_run = INT64_MAX;  // how long its last task took (sent_at to result), ns
    // sending (the last task of `inflight`): the header (and the task's name
    // for spawn and forkserver workers), then the payload
    alignas(8) char out_head[sizeof(TaskHdr) + kMaxTaskName];
    size_t out_head_len = 0;
    const char *out_payload = nullptr;
    size_t out_len = 0, out_total = 0, out_done = 0;
    // receiving
    alignas(16) char raw[4096];
    size_t raw_got = 0;
    ResultHdr in_hdr{};
    bool have_hdr = false;
    weft_bytes *in_block = nullptr;
    char *in_dst = nullptr;  // where in in_block the frame's bytes go
    size_t in_got = 0;

    ~Worker() {
        bytes_release(in_block);
        if (proc) weft_process_destroy(proc);  // kills it if it still runs (a daemon)
    }  // inflight is empty by then: its tasks ended or went back
    bool sending() const noexcept { return out_done < out_total; }
    PTask *head() const noexcept { return inflight.empty() ? nullptr : inflight.front(); }
};

struct CallbackCtx {
    weft_process_pool_callback callback;
    weft_pool_error_callback error_callback;
    void *user_data;
    bool armed;
};

void on_done(weft_future *f, void *p) noexcept {
    auto *c = static_cast<CallbackCtx *>(p);
    if (c->armed) {
        int st = weft_future_get_state(f);
        if (st == WEFT_FUTURE_DONE) {
            void *v = nullptr;
            (void)weft_future_result(f, &v, 0);
            if (c->callback) c->callback(static_cast<const weft_bytes *>(v), c->user_data);
        } else if (c->error_callback) {
            weft_status code = WEFT_ECANCELLED;
            const char *msg = "the task was cancelled before it ran";
            if (st == WEFT_FUTURE_FAILED) (void)weft_future_error(f, &code, &msg);
            c->error_callback(code, msg, c->user_data);
        }
    }
    delete c;
}

thread_local weft_process_pool *tl_supervisor = nullptr;

}  // namespace

// The spawn and forkserver worker, found by name (kPoolWorkerFn) in every copy
// of the program: weft_main consults weft's built-in functions first
// (internal/builtin_fns.hpp), so nothing registers it at load time.
int process_pool_worker_entry(void *arg, std::size_t len) noexcept { return spawned_worker(arg, len); }

}  // namespace weft::detail

using namespace weft::detail;

struct weft_process_pool : Handle<Magic::process_pool> {
    // ---- settings (fixed at create) ----
    pid_t owner = 0;
    int target_workers = 1;
    weft_pool_init_fn initializer = nullptr;
    void *initializer_data = nullptr;
    weft_ptask_fn init_fn = nullptr;  // initializer_name's function
    std::string init_name, init_arg;  // initializer_name ("" = none) and its argument bytes
    weft_process_pool_fork_hook fork_prepare = nullptr, fork_parent = nullptr, fork_child = nullptr;
    void *fork_hook_data = nullptr;
    std::string spawn_program;             // "" = re-execute this program through process.h
    std::vector<std::string> spawn_argv;   // leading arguments for spawn_program
    bool own_spawn = false;                // spawn workers are started here, with spawn_program
    weft_forkserver *fserver = nullptr;    // forkserver with spawn_program: the pool's own server of it
    std::string worker_arg;                // a spawn or forkserver worker's argument (NamedWorkerArg ...)
    int64_t max_tasks_per_worker = 0;
    int64_t task_timeout_ns = 0;  // 0: none
    int max_restarts = 0;         // -1: unlimited
    int64_t restart_window_ns = 0;
    size_t max_queued = 0;
    int start_method = WEFT_PROCESS_POOL_START_FORK;
    bool by_name = false;  // spawn or forkserver: tasks go by registered name
    int lfd = -1;          // spawn or forkserver: the abstract socket the workers connect to
    char lname[sizeof(sockaddr_un::sun_path)] = {};
    size_t lname_len = 0;
    int efd = -1;
    weft_thread *thread = nullptr;

    // ---- shared, under mu ----
    std::mutex mu;
    std::condition_variable space_cv;  // room in a bounded queue
    std::condition_variable state_cv;  // started / finished
    std::deque<PTask *> queue;
    bool closed = false, terminating = false, broken = false;
    bool started = false, finished = false;
    weft_status start_status = WEFT_OK;
    std::string start_message;
    std::vector<pid_t> pids;  // live workers
    std::atomic<bool> sleeping{false};
    std::vector<Worker *> idle_list;  // workers a caller may borrow (Worker::idle)
    std::vector<std::pair<Worker *, PTask *>> returned;  // lent workers that died, with their task
    bool direct = false;  // lending allowed (no task timeout, no max_tasks_per_worker): fixed at create
    // weft_process_pool_resize: the request and the supervisor's answer
    int resize_want = 0;
    std::uint64_t resize_asked = 0, resize_done = 0;
    weft_status resize_status = WEFT_OK;
    std::string resize_message;
    std::uint64_t resize_done_seen = 0;  // the supervisor's own copy

    // ---- counters (written by the supervisor, read by stats) ----
    std::atomic<int> busy{0};
    std::atomic<int64_t> reply_wait{0};  // a borrowing caller's last wait for its workers, ns (kSpinNs; 0: spin at first)
    std::atomic<std::int64_t> completed{0}, failed{0}, cancelled{0}, timed_out{0}, crashed{0}, replaced{0};

    // ---- the supervisor's own ----
    std::vector<std::unique_ptr<Worker>> workers;
    std::deque<int64_t> deaths;  // times of unexpected deaths within the window
    bool stopping = false;       // exit frames sent
    bool killed_all = false;
    int64_t fork_retry_at = 0;

    ~weft_process_pool() {
        workers.clear();  // kills and reaps what is left, before their server goes
        if (fserver) weft_forkserver_destroy(fserver);
        for (PTask *t : queue) delete t;
        if (efd >= 0) ::close(efd);
        if (lfd >= 0) ::close(lfd);
    }

    bool terminating_locked() {
        std::lock_guard<std::mutex> g(mu);
        return terminating;
    }

    void wake() noexcept {
        std::uint64_t one = 1;
        ssize_t r = ::write(efd, &one, sizeof one);
        (void)r;
    }

    // Under mu: push and wake the supervisor if it sleeps.
    void push_locked(PTask *t) {
        queue.push_back(t);
        if (sleeping.load(std::memory_order_seq_cst)) {
            sleeping.store(false, std::memory_order_relaxed);
            wake();
        }
    }

    weft_status enqueue(const char *func, PTask *t, Deadline &d);
    std::deque<PTask *> take_queue_locked() noexcept {
        std::deque<PTask *> q;
        q.swap(queue);
        space_cv.notify_all();
        return q;
    }

    // ---- supervisor ----
    static void *supervisor_main(void *arg);
    void supervise();
    weft_status start_worker(std::string &err);
    weft_status start_named_worker(std::string &err);
    weft_status spawn_program_worker(Worker &w, int &ack, std::string &err);
    weft_status accept_worker(Worker &w, int ack, std::string &err);
    void dispatch(Worker &w, PTask *t);
    // Whether t may wait in w's socket behind a running task (see kDepth).
    static bool ahead_ok(const Worker &w, const PTask *t) noexcept {
        return is_chunk(t->kind) ? t->len <= kChunkPipelineMax : t->len <= kPipelineMax && w.last_run < kFastTask;
    }
    void on_writable(Worker &w);
    void on_readable(Worker &w);
    void on_result(Worker &w);
    void on_exit(Worker &w);
    void end_inflight(Worker &w, weft_status code, const char *message, bool requeue_rest);
    void requeue_front(std::vector<PTask *> &ts);
    void kill_worker(Worker &w, End why, weft_status code, const char *message, bool requeue_rest);
    void go_broken(const std::string &why);
    void apply_resize();
    // Lent workers that died under their borrower (taken from `returned`
    // under mu in the same section that saw them no longer lent): their task
    // is lost with them as if we had sent it (their pidfd tells how they ended).
    void take_back(std::vector<std::pair<Worker *, PTask *>> &back) {
        for (auto &[w, t] : back) {
            w->sock_eof = true;  // what is left in it, a borrower's half-read frame, means nothing
            if (w->back_end != End::none && w->end == End::none) w->end = w->back_end;  // not a crash
            if (t) {
                w->inflight.push_back(t);
                w->sent_at = monotonic_now();
                busy.fetch_add(1, std::memory_order_relaxed);
            }
        }
        back.clear();
    }
    int active_workers() const noexcept {  // alive and staying (not asked to leave)
        int n = 0;
        for (auto &w : workers) n += w->end == End::none && !w->retiring;
        return n;
    }
    void unidle_locked(Worker &w) noexcept {
        if (!w.idle) return;
        w.idle = false;
        idle_list.erase(std::find(idle_list.begin(), idle_list.end(), &w));
    }
    // ---- lending (the caller's side) ----
    Worker *borrow();
    void hand_back(Worker *w, PTask *lost, const char *where, End why = End::none);
    weft_status direct_apply(const char *func, weft_ptask_fn fn, const void *arg, size_t len, weft_bytes **result,
                             bool *handled);
    void reap_now(Worker &w, int *status, bool *known);
};

using weft::detail::PTask;
using weft::detail::Worker;
using weft::detail::End;

// ---- submitting ----------------------------------------------------------------

weft_status weft_process_pool::enqueue(const char *func, PTask *t, Deadline &d) {
    if (by_name && !t->name && !(t->name = ptask_name_of(t->fn)))
        return fail(WEFT_EINVAL,
                    "%s: task function %p is not registered; spawn and forkserver pools find tasks by name: use "
                    "WEFT_REGISTER_PTASK or weft_process_pool_register",
                    func, reinterpret_cast<void *>(t->fn));
    std::unique_lock<std::mutex> g(mu);
    for (;;) {
        if (broken) return fail(WEFT_EBROKEN, "%s: the pool is broken (its restart budget ran out)", func);
        if (closed) return fail(WEFT_ECLOSED, "%s: the pool is closed", func);
        if (max_queued == 0 || queue.size() < max_queued) break;
        if (d.poll() || d.expired() || tl_supervisor == this)  // a callback must not wait for its own supervisor
            return fail(WEFT_ETIMEDOUT, "%s: %zu tasks are queued already (max_queued)", func, max_queued);
        if (d.infinite()) {
            space_cv.wait(g);
        } else {
            auto left = std::chrono::nanoseconds(d.remaining());
            space_cv.wait_until(g, std::chrono::steady_clock::now() + left);
        }
    }
    push_locked(t);
    return WEFT_OK;
}

// ---- the supervisor ------------------------------------------------------------

void *weft_process_pool::supervisor_main(void *arg) {
    auto *p = static_cast<weft_process_pool *>(arg);
    tl_supervisor = p;
    p->supervise();
    tl_supervisor = nullptr;
    return nullptr;
}

weft_status weft_process_pool::start_worker(std::string &err) {
    if (by_name) return start_named_worker(err);
    int sv[2];
    if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0) {
        err = std::string("socketpair failed: ") + std::strerror(errno);
        return WEFT_ESYS;
    }
    // Room for a whole map chunk (its arguments one way, its results the
    // other) in the socket, so that neither side blocks half-way through one
    // (a limit, not memory: capped by net.core.wmem_max; best effort).
    for (int fd : sv) {
        int sz = kSockBuf;
        (void)::setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &sz, sizeof sz);
    }
    auto w = std::make_unique<Worker>();
    pids.reserve(pids.size() + 1);  // (under mu below; reserve may throw here, before fork)
    workers.reserve(workers.size() + 1);
    ChildSetup setup{::getpid(), sv[1], initializer, initializer_data, init_fn,
                     init_name.empty() ? nullptr : init_name.c_str(), init_arg.data(), init_arg.size()};
    if (fork_prepare) fork_prepare(fork_hook_data);
    pid_t pid = ::fork();
    if (pid == 0 && fork_child) fork_child(fork_hook_data);  // first thing, after the pthread_atfork handlers
    if (pid != 0 && fork_parent) fork_parent(fork_hook_data);
    if (pid < 0) {
        int e = errno;
        ::close(sv[0]);
        ::close(sv[1]);
        err = std::string("fork failed: ") + std::strerror(e);
        return WEFT_ESYS;
    }
    if (pid == 0) {
        // The child: drop the pool's descriptors it does not need.
        ::close(sv[0]);
        ::close(efd);
        for (auto &o : workers) {
            if (o->sock >= 0) ::close(o->sock);
            if (o->pidfd >= 0) ::close(o->pidfd);
        }
        worker_main(setup);
    }
    ::close(sv[1]);
    int fl = ::fcntl(sv[0], F_GETFL);
    ::fcntl(sv[0], F_SETFL, fl | O_NONBLOCK);
    int pidfd = static_cast<int>(::syscall(SYS_pidfd_open, pid, 0));
    if (pidfd < 0) {
        int e = errno;
        ::kill(pid, SIGKILL);
        ::waitpid(pid, nullptr, 0);
        ::close(sv[0]);
        err = std::string("pidfd_open failed (Linux 5.3 or later is needed): ") + std::strerror(e);
        return WEFT_ESYS;
    }
    ::fcntl(pidfd, F_SETFD, FD_CLOEXEC);
    w->pid = pid;
    w->pidfd = pidfd;
    w->sock = sv[0];
    workers.push_back(std::move(w));
    {
        std::lock_guard<std::mutex> g(mu);
        pids.push_back(pid);
    }
    return WEFT_OK;
}

// A spawn or forkserver worker: weft starts the registered worker function
// in a fresh copy of the program (daemon: it dies with this supervisor
// thread, or with the forkserver), then accepts its connection on the pool's
// socket, checking by SO_PEERCRED that it is that process.
weft_status weft_process_pool::start_named_worker(std::string &err) {
    auto w = std::make_unique<Worker>();
    pids.reserve(pids.size() + 1);
    workers.reserve(workers.size() + 1);
    int ack = -1;  // own_spawn: the read end of the worker's acknowledgement pipe, until it connects
    if (own_spawn) {
        if (weft_status s = spawn_program_worker(*w, ack, err)) return s;
    } else {
        weft_process_options po = WEFT_PROCESS_OPTIONS_INIT;
        po.name = "weft-pool-worker";
        po.daemon = 1;
        po.start_method = start_method;
        po.forkserver = fserver;  // NULL: the process-wide server
        weft_status s = weft_process_create(&w->proc, &po);
        if (s == WEFT_OK) s = weft_process_start_named(w->proc, kWorkerFnName, worker_arg.data(), worker_arg.size());
        if (s != WEFT_OK) {
            err = weft_last_error()->message;
            return s;  // ~Worker destroys the handle
        }
        w->pid = static_cast<pid_t>(weft_process_pid(w->proc));
    }
    w->pidfd = static_cast<int>(::syscall(SYS_pidfd_open, w->pid, 0));
    weft_status s;
    if (w->pidfd < 0) {
        err = std::string("pidfd_open failed (Linux 5.3 or later is needed): ") + std::strerror(errno);
        s = WEFT_ESYS;
    } else {
        ::fcntl(w->pidfd, F_SETFD, FD_CLOEXEC);
        s = accept_worker(*w, ack, err);
    }
    if (ack >= 0) ::close(ack);
    if (s != WEFT_OK) {
        if (!w->proc && w->pid > 0) {  // our own child: ~Worker does not know it
            ::kill(w->pid, SIGKILL);
            while (::waitpid(w->pid, nullptr, 0) < 0 && errno == EINTR) {
            }
        }
        if (w->pidfd >= 0) ::close(w->pidfd);
        return s;
    }
    pid_t pid = w->pid;
    workers.push_back(std::move(w));
    {
        std::lock_guard<std::mutex> g(mu);
        pids.push_back(pid);
    }
    return WEFT_OK;
}

// Wait (30 s at most) until the worker w started connects to the pool's
// socket; SO_PEERCRED tells it from a stale worker or a stranger.
weft_status weft_process_pool::accept_worker(Worker &w, int ack, std::string &err) {
    (void)ack;  // kept open so that the worker's acknowledgement never meets a closed pipe
    Deadline d(30 * WEFT_SEC);
    while (w.sock < 0) {
        struct pollfd pf[2] = {{lfd, POLLIN, 0}, {w.pidfd, POLLIN, 0}};
        int64_t left = d.remaining();
        int n = ::poll(pf, 2, static_cast<int>(left / WEFT_MSEC) + 1);
        if (n < 0 && errno == EINTR) continue;
        // Connections first: a worker that connected and then died (its
        // initializer failed) is served and reaped as any other.
        for (;;) {
            int c = ::accept4(lfd, nullptr, nullptr, SOCK_CLOEXEC | SOCK_NONBLOCK);
            if (c < 0) break;
            struct ucred cr {};
            socklen_t cl = sizeof cr;
            if (::getsockopt(c, SOL_SOCKET, SO_PEERCRED, &cr, &cl) == 0 && cr.pid == w.pid) {
                w.sock = c;
                break;
            }
            ::close(c);  // not our worker (a stale one, or a stranger)
        }
        if (w.sock >= 0) break;
        if (pf[1].revents) {
            int st = 0;
            bool known;
            reap_now(w, &st, &known);
            err = "worker " + std::to_string(w.pid) + " " + (known ? describe_status(st) : std::string("ended")) +
                  " before it connected to the pool" +
                  (own_spawn ? " (does " + spawn_program + " call weft_main() with weft's arguments?)" : "");
            w.pid = -1;  // reaped
            return WEFT_EWORKERDIED;
        }
        if (n == 0 || d.expired()) {
            err = "worker " + std::to_string(w.pid) + " did not connect to the pool within 30 s";
            return WEFT_ETIMEDOUT;  // the caller kills it
        }
    }
    return WEFT_OK;
}

// A spawn worker running spawn_program: posix_spawn it with spawn_argv and
// weft's spawn arguments, which weft_main() in it understands. The task it
// finds is the pool worker function (internal/builtin_fns.hpp) with
// worker_arg. The layout below is process.cpp's spawn task (TaskHeader,
// three NUL-terminated strings, the argument at a 16-aligned offset):
// both ends are the same libweft, and test_process_pool runs this path.
// On success w.pid is the worker and `ack` the read end of the pipe it
// acknowledges its task on (keep it open until it connected: a closed pipe
// would kill it with SIGPIPE).
weft_status weft_process_pool::spawn_program_worker(Worker &w, int &ack_read, std::string &err) {
    struct SpawnTaskHeader {
        std::uint32_t magic, daemon;
        std::int32_t parent;
        std::uint32_t fn_len, name_len, ident_len;
        std::uint64_t arg_len;
        std::uint32_t arg_inline, pad;
    };
    static_assert(sizeof(SpawnTaskHeader) == 40);
    static const char kName[] = "weft-pool-worker";
    size_t fn_len = std::strlen(kWorkerFnName), name_len = sizeof kName - 1;
    SpawnTaskHeader h{0x5754534Bu, 1, static_cast<std::int32_t>(::getpid()), static_cast<std::uint32_t>(fn_len),
                      static_cast<std::uint32_t>(name_len), 0, worker_arg.size(), 1, 0};
    std::string task(reinterpret_cast<const char *>(&h), sizeof h);
    task.append(kWorkerFnName, fn_len);
    task.push_back('\0');
    task.append(kName, name_len);
    task.push_back('\0');
    task.push_back('\0');  // the identity: ""
    task.resize(pad16(task.size()), '\0');
    task += worker_arg;
    int memfd = static_cast<int>(::syscall(SYS_memfd_create, "weft-pool-task", MFD_CLOEXEC));
    if (memfd < 0) {
        err = std::string("memfd_create failed: ") + std::strerror(errno);
        return WEFT_ESYS;
    }
    if (!write_full(memfd, task.data(), task.size())) {
        err = std::string("writing the worker's task failed: ") + std::strerror(errno);
        ::close(memfd);
        return WEFT_ESYS;
    }
    int ack[2];
    if (::pipe2(ack, O_CLOEXEC) != 0) {
        err = std::string("pipe failed: ") + std::strerror(errno);
        ::close(memfd);
        return WEFT_ESYS;
    }
    char marker[64];
    std::snprintf(marker, sizeof marker, "--weft-spawn=%d,%d", memfd, ack[1]);
    std::vector<char *> argv;
    argv.push_back(const_cast<char *>(spawn_program.c_str()));
    for (std::string &a : spawn_argv) argv.push_back(a.data());
    argv.push_back(marker);
    argv.push_back(nullptr);
    posix_spawn_file_actions_t fa;
    int rc = posix_spawn_file_actions_init(&fa);
    if (rc == 0) rc = posix_spawn_file_actions_adddup2(&fa, memfd, memfd);  // clears FD_CLOEXEC
    if (rc == 0) rc = posix_spawn_file_actions_adddup2(&fa, ack[1], ack[1]);
    pid_t pid = 0;
    if (rc == 0) rc = ::posix_spawn(&pid, spawn_program.c_str(), &fa, nullptr, argv.data(), environ);
    (void)posix_spawn_file_actions_destroy(&fa);
    ::close(memfd);
    ::close(ack[1]);
    if (rc != 0) {
        ::close(ack[0]);
        err = "cannot start spawn_program \"" + spawn_program + "\": " + std::strerror(rc);
        return rc == ENOENT || rc == ENOTDIR ? WEFT_ENOENT : rc == EACCES || rc == EPERM ? WEFT_EPERM : WEFT_ESYS;
    }
    w.pid = pid;
    ack_read = ack[0];
    return WEFT_OK;
}

void weft_process_pool::dispatch(Worker &w, PTask *t) {
    t->running = true;
    w.inflight.push_back(t);
    if (w.inflight.size() == 1) {
        w.sent_at = monotonic_now();
        busy.fetch_add(1, std::memory_order_relaxed);
    }
    w.out_head_len = task_head(w.out_head, t->kind, t->count, t->fn, t->name, t->len);
    w.out_payload = t->arg;
    w.out_len = t->len;
    w.out_total = w.out_head_len + t->len;
    w.out_done = 0;
    on_writable(w);
}

void weft_process_pool::on_writable(Worker &w) {
    while (w.sending() && !w.sock_eof) {
        ssize_t r = send_part(w.sock, w.out_head, w.out_head_len, w.out_payload, w.out_len, w.out_done);
        if (r == 0) return;
        if (r < 0) {
            // The worker is gone (its pidfd tells how). Replies it sent before
            // it went are still in the socket: take them first, as on_exit
            // reads nothing once sock_eof is set.
            on_readable(w);
            w.sock_eof = true;
            return;
        }
        w.out_done += static_cast<size_t>(r);
    }
}

void weft_process_pool::on_readable(Worker &w) {
    for (;;) {
        if (w.sock < 0 || w.sock_eof) return;
        if (!w.have_hdr && w.raw_got >= sizeof(ResultHdr)) {
            // A header is staged: check it, then take what follows it in `raw`.
            std::memcpy(&w.in_hdr, w.raw, sizeof(ResultHdr));
            bool expected = w.in_hdr.kind == kReady ? !w.ready
                            : !w.ready ? w.in_hdr.kind == kFail  // its initializer failed
                                       : !w.inflight.empty() && (w.inflight.size() > 1 || !w.sending());
            bool chunk = w.in_hdr.kind == kChunkDone || w.in_hdr.kind == kChunkFixedDone;
            if (!expected || w.in_hdr.kind < kReady || w.in_hdr.kind > kChunkFixedDone ||
                chunk != is_chunk(w.head() ? w.head()->kind : kTask)) {
                kill_worker(w, End::protocol, WEFT_EINTERNAL, "the worker broke the pool's protocol", true);
                return;
            }
            // A chunk's reply becomes its results in place (a slab); others one block.
            weft_status err = WEFT_ENOMEM;
            if (chunk) {
                w.in_block = chunk_reply_start(w.in_hdr, w.head()->count, &w.in_dst, &err);
            } else if ((w.in_block = bytes_alloc(w.in_hdr.len))) {
                w.in_dst = static_cast<char *>(w.in_block->data);
            }
            if (!w.in_block) {
                kill_worker(w, End::protocol, err,
                            err == WEFT_ENOMEM ? "out of memory for the task's result"
                                               : "the worker broke the pool's protocol",
                            true);
                return;
            }
            size_t extra = std::min<size_t>(w.raw_got - sizeof(ResultHdr), w.in_hdr.len);
            std::memcpy(w.in_dst, w.raw + sizeof(ResultHdr), extra);
            size_t used = sizeof(ResultHdr) + extra;
            std::memmove(w.raw, w.raw + used, w.raw_got - used);
            w.raw_got -= used;
            w.in_got = extra;
            w.have_hdr = true;
        } else {
            ssize_t r;
            if (!w.have_hdr)
                r = ::recv(w.sock, w.raw + w.raw_got, sizeof w.raw - w.raw_got, MSG_DONTWAIT);
            else
                r = ::recv(w.sock, w.in_dst + w.in_got, w.in_hdr.len - w.in_got, MSG_DONTWAIT);
            if (r == 0) {
                w.sock_eof = true;
                return;
            }
            if (r < 0) {
                if (errno == EINTR) continue;
                if (errno != EAGAIN && errno != EWOULDBLOCK) w.sock_eof = true;
                return;
            }
            if (w.have_hdr)
                w.in_got += static_cast<size_t>(r);
            else
                w.raw_got += static_cast<size_t>(r);
        }
        if (w.have_hdr && w.in_got == w.in_hdr.len) {
            on_result(w);
            if (w.inflight.empty() && w.raw_got == 0) return;  // nothing more is due: skip a recv
        }
    }
}

void weft_process_pool::on_result(Worker &w) {
    weft_bytes *b = w.in_block;
    w.in_block = nullptr;
    w.have_hdr = false;
    w.in_got = 0;
    std::uint32_t kind = w.in_hdr.kind;
    if (kind == kReady) {
        bytes_release(b);
        w.ready = true;
        return;
    }
    if (!w.ready) {  // kFail in place of kReady: the initializer failed, the worker exits
        w.init_error.assign(static_cast<const char *>(b->data), b->size);
        bytes_release(b);
        return;
    }
    PTask *t = w.inflight.front();
    w.inflight.pop_front();
    int64_t now = monotonic_now();
    w.last_run = now - w.sent_at;
    if (w.inflight.empty())
        busy.fetch_sub(1, std::memory_order_relaxed);
    else
        w.sent_at = now;  // the next one starts now
    w.tasks_run++;
    completed.fetch_add(1, std::memory_order_relaxed);
    if (kind == kFail) {
        failed.fetch_add(1, std::memory_order_relaxed);
        weft_status code = w.in_hdr.code < 0 ? w.in_hdr.code : WEFT_EFAILED;
        if (t->future) (void)weft_future_set_error(t->future, code, static_cast<const char *>(b->data));
        bytes_release(b);
    } else if (t->future) {
        if (weft_future_set_result(t->future, b, bytes_free_fn) != WEFT_OK) bytes_release(b);
    } else {
        bytes_release(b);
    }
    if (t->future) weft_future_destroy(t->future);
    delete t;
    if (max_tasks_per_worker > 0 && w.tasks_run >= max_tasks_per_worker && w.end == End::none) {
        // Retire it: ask it to leave; the replacement starts when it is reaped.
        w.end = End::retire;
        w.end_deadline = monotonic_now() + kExitGrace;
        TaskHdr ex{kExit, 0, 0, 0, 0};
        ssize_t r = ::send(w.sock, &ex, sizeof ex, MSG_NOSIGNAL | MSG_DONTWAIT);
        if (r != static_cast<ssize_t>(sizeof ex)) ::kill(w.pid, SIGKILL);
    }
}

// The worker's tasks end with it: the head with `code`; the others never
// started, so they go back to the front of the queue (or end like the head).
void weft_process_pool::end_inflight(Worker &w, weft_status code, const char *message, bool requeue_rest) {
    if (w.inflight.empty()) return;
    std::vector<PTask *> rest(w.inflight.begin() + 1, w.inflight.end());
    PTask *t = w.inflight.front();
    w.inflight.clear();
    w.out_total = w.out_done = 0;
    busy.fetch_sub(1, std::memory_order_relaxed);
    if (t->future) {
        (void)weft_future_set_error(t->future, code, message);
        weft_future_destroy(t->future);
    }
    delete t;
    if (requeue_rest) {
        requeue_front(rest);
        return;
    }
    for (PTask *r : rest) {
        if (r->future) {
            (void)weft_future_set_error(r->future, code, message);
            weft_future_destroy(r->future);
        }
        delete r;
    }
}

void weft_process_pool::requeue_front(std::vector<PTask *> &ts) {
    if (ts.empty()) return;
    std::lock_guard<std::mutex> g(mu);
    for (auto it = ts.rbegin(); it != ts.rend(); ++it) queue.push_front(*it);
    ts.clear();
}

void weft_process_pool::kill_worker(Worker &w, End why, weft_status code, const char *message, bool requeue_rest) {
    if (w.end == End::none || w.end == End::retire) w.end = why;
    ::kill(w.pid, SIGKILL);  // the pid stays ours until we reap it
    {
        std::lock_guard<std::mutex> g(mu);
        if (w.lent) return;  // its borrower sees it die and hands it back; its socket is the borrower's until then
        unidle_locked(w);
    }
    if (w.sock >= 0) {
        ::close(w.sock);
        w.sock = -1;
    }
    end_inflight(w, code, message, requeue_rest);
}

void weft_process_pool::reap_now(Worker &w, int *status, bool *known) {
    *known = false;
    if (w.proc) {  // spawn and forkserver: the process module knows (a forkserver child is not ours)
        int code = 0;
        if (weft_process_join(w.proc, 10 * WEFT_SEC) != WEFT_OK || weft_process_exitcode(w.proc, &code) != WEFT_OK)
            return;
        *status = code < 0 ? -code : (code & 255) << 8;  // as waitpid's status
        *known = true;
        return;
    }
    for (;;) {
        pid_t r = ::waitpid(w.pid, status, 0);
        if (r == w.pid) {
            *known = true;
            return;
        }
        if (r < 0 && errno == EINTR) continue;
        return;  // ECHILD: reaped by someone else (a SIGCHLD handler of the program)
    }
}

void weft_process_pool::on_exit(Worker &w) {
    // Data the worker sent before it died is still in the socket: a result
    // that arrived whole counts.
    if (w.sock >= 0 && !w.sock_eof && (!w.inflight.empty() || !w.ready)) on_readable(w);
    int status = 0;
    bool known;
    reap_now(w, &status, &known);
    std::string how = known ? describe_status(status) : std::string("ended (its exit status was reaped elsewhere)");
    if (!w.init_error.empty()) how += " (" + w.init_error + ")";
    bool unexpected = w.end == End::none || w.end == End::protocol;
    bool budget_out = false;
    std::string budget_msg;
    if (unexpected && w.end == End::none) {
        crashed.fetch_add(1, std::memory_order_relaxed);
        int64_t now = monotonic_now();
        deaths.push_back(now);
        while (!deaths.empty() && now - deaths.front() > restart_window_ns) deaths.pop_front();
        if (max_restarts >= 0 && deaths.size() > static_cast<size_t>(max_restarts)) {
            budget_out = true;
            char b[200];
            std::snprintf(b, sizeof b, "; the restart budget ran out (%zu worker deaths within %lld ms, max_restarts %d): the pool is broken",
                          deaths.size(), static_cast<long long>(restart_window_ns / WEFT_MSEC), max_restarts);
            budget_msg = b;
        }
    }
    PTask *lost = nullptr;
    std::string lost_msg;
    std::vector<PTask *> rest;
    if (!w.inflight.empty()) {
        char msg[WEFT_ERROR_MESSAGE_MAX];
        const char *where = w.lost_where                                  ? w.lost_where
                            : w.sending() && w.inflight.size() == 1 ? "while receiving the task's argument"
                            : w.have_hdr                            ? "while sending the task's result"
                                                                    : "while running the task";
        std::snprintf(msg, sizeof msg, "worker %d %s %s%s", static_cast<int>(w.pid), how.c_str(), where,
                      budget_msg.c_str());
        // A lent worker that terminate or a broken pool killed (its task came back with it).
        if (w.end == End::terminate) std::snprintf(msg, sizeof msg, "the pool was terminated while the task ran");
        lost = w.inflight.front();  // failed at the end, once the replacement counts in the statistics
        lost_msg = msg;
        rest.assign(w.inflight.begin() + 1, w.inflight.end());  // never started: served by another worker
        w.inflight.clear();
        busy.fetch_sub(1, std::memory_order_relaxed);
    }
    requeue_front(rest);
    if (w.sock >= 0) ::close(w.sock);
    ::close(w.pidfd);
    pid_t pid = w.pid;
    End end = w.end;
    {
        std::lock_guard<std::mutex> g(mu);
        unidle_locked(w);
    }
    workers.erase(std::find_if(workers.begin(), workers.end(), [&](auto &p) { return p.get() == &w; }));
    bool replace;
    {
        std::lock_guard<std::mutex> g(mu);
        pids.erase(std::find(pids.begin(), pids.end(), pid));
        replace = !broken;
    }
    (void)end;
    if (budget_out) {
        go_broken("worker " + std::to_string(pid) + " " + how + budget_msg);
    } else if (replace && !terminating_locked() && !stopping && !killed_all && active_workers() < target_workers) {
        // Keep serving: a replacement takes the dead worker's place (also after
        // close, while queued tasks remain; not once the workers were told to go).
        std::string err;
        weft_status s = WEFT_OK;
        try {
            s = start_worker(err);
        } catch (...) {
            s = WEFT_ENOMEM;
            err = "out of memory";
        }
        if (s == WEFT_OK) {
            replaced.fetch_add(1, std::memory_order_relaxed);
        } else if (workers.empty()) {
            go_broken("no worker can be started: " + err);
        } else {
            fork_retry_at = monotonic_now() + 100 * WEFT_MSEC;
        }
    }
    if (lost) {
        if (lost->future) {
            (void)weft_future_set_error(lost->future,
                                        end == End::terminate ? WEFT_ECANCELLED
                                        : end == End::broken  ? WEFT_EBROKEN
                                                              : WEFT_EWORKERDIED,
                                        lost_msg.c_str());
            weft_future_destroy(lost->future);
        }
        delete lost;
    }
}

// weft_process_pool_resize's request, then the workers it asked to leave:
// grow by forking now (the caller waits for the outcome); shrink by retiring
// idle workers first, then those starting, then busy ones, which leave once
// their tasks (the one running and any sent ahead) ended.
void weft_process_pool::apply_resize() {
    std::uint64_t asked;
    int want;
    {
        std::lock_guard<std::mutex> g(mu);
        asked = resize_asked;
        want = resize_want;
    }
    if (asked != resize_done_seen) {
        resize_done_seen = asked;
        target_workers = want;
        weft_status st = WEFT_OK;
        std::string err;
        int active = active_workers();
        for (; active < want && !killed_all && !stopping; active++) {
            try {
                st = start_worker(err);
            } catch (...) {
                st = WEFT_ENOMEM;
                err = "out of memory";
            }
            if (st != WEFT_OK) break;
        }
        if (active > want) {
            // Who leaves: by how soon it can (0 idle, 1 starting, 2 busy, 3 lent to a caller), fewest tasks first.
            std::vector<std::pair<std::size_t, Worker *>> order;
            {
                std::lock_guard<std::mutex> g(mu);
                for (auto &wp : workers) {
                    Worker &w = *wp;
                    if (w.end != End::none || w.retiring) continue;
                    std::size_t rank = w.lent ? 3 : !w.ready ? 1 : w.inflight.empty() ? 0 : 2;
                    order.emplace_back(rank * 1024 + std::min<std::size_t>(w.inflight.size(), 1023), &w);
                }
            }
            std::stable_sort(order.begin(), order.end(),
                             [](const auto &a, const auto &b) { return a.first < b.first; });
            for (std::size_t i = 0; i < order.size() && active > want; i++, active--) order[i].second->retiring = true;
        }
        {
            std::lock_guard<std::mutex> g(mu);
            resize_done = asked;
            resize_status = st;
            resize_message = err;
        }
        state_cv.notify_all();
    }
    // Retiring workers with nothing left to run: ask them to leave (killed after kExitGrace).
    int64_t now = monotonic_now();
    for (auto &wp : workers) {
        Worker &w = *wp;
        if (!w.retiring || w.end != End::none || !w.inflight.empty() || w.sending()) continue;
        {
            std::lock_guard<std::mutex> g(mu);
            if (w.lent) continue;  // after its borrower hands it back
            unidle_locked(w);
        }
        w.end = End::retire;
        w.end_deadline = now + kExitGrace;
        TaskHdr ex{kExit, 0, 0, 0, 0};
        if (w.sock < 0 || ::send(w.sock, &ex, sizeof ex, MSG_NOSIGNAL | MSG_DONTWAIT) != static_cast<ssize_t>(sizeof ex))
            ::kill(w.pid, SIGKILL);
    }
}

void weft_process_pool::go_broken(const std::string &why) {
    std::deque<PTask *> q;
    {
        std::lock_guard<std::mutex> g(mu);
        broken = true;
        closed = true;
        q = take_queue_locked();
    }
    std::string msg = "the pool is broken: " + why;
    for (PTask *t : q) {
        if (t->future) {
            (void)weft_future_set_error(t->future, WEFT_EBROKEN, msg.c_str());
            weft_future_destroy(t->future);
        }
        delete t;
    }
    for (auto &w : workers)
        if (w->end == End::none || w->end == End::retire || !w->inflight.empty())
            kill_worker(*w, End::broken, WEFT_EBROKEN, msg.c_str(), false);
    killed_all = true;
}

void weft_process_pool::supervise() {
    // Start the workers, then tell create() how that went.
    std::string err;
    weft_status s = WEFT_OK;
    for (int i = 0; i < target_workers && s == WEFT_OK; i++) {
        try {
            s = start_worker(err);
        } catch (...) {
            s = WEFT_ENOMEM;
            err = "out of memory";
        }
    }
    {
        std::lock_guard<std::mutex> g(mu);
        started = true;
        start_status = s;
        start_message = err;
        if (s != WEFT_OK) closed = true;
    }
    state_cv.notify_all();
    if (s != WEFT_OK) {
        for (auto &w : workers) {
            ::kill(w->pid, SIGKILL);
            int st;
            bool known;
            reap_now(*w, &st, &known);
            ::close(w->sock);
            ::close(w->pidfd);
        }
        workers.clear();
        std::lock_guard<std::mutex> g(mu);
        pids.clear();
        finished = true;
        state_cv.notify_all();
        return;
    }

    std::vector<struct pollfd> pfds;
    std::vector<Worker *> owners;
    for (;;) {
        int64_t now = monotonic_now();
        bool closed_now, terminating_now, queue_empty;
        std::vector<std::pair<Worker *, PTask *>> back;
        {
            std::lock_guard<std::mutex> g(mu);
            closed_now = closed;
            terminating_now = terminating;
            queue_empty = queue.empty();
            back.swap(returned);
        }
        take_back(back);
        if (terminating_now && !killed_all) {
            for (auto &w : workers)
                kill_worker(*w, End::terminate, WEFT_ECANCELLED, "the pool was terminated while the task ran", false);
            killed_all = true;
        }
        apply_resize();
        // A start that failed earlier: try again.
        if (!killed_all && !stopping && fork_retry_at && now >= fork_retry_at && active_workers() < target_workers) {
            fork_retry_at = 0;
            try {
                if (start_worker(err) == WEFT_OK) replaced.fetch_add(1, std::memory_order_relaxed);
                else fork_retry_at = now + 100 * WEFT_MSEC;
            } catch (...) {
                fork_retry_at = now + 100 * WEFT_MSEC;
            }
        }
        // Hand queued tasks to idle workers (with kDepth > 1, then a second
        // small one to workers running a small one).
        if (!killed_all && !queue_empty) {
            for (size_t depth = 0; depth < kDepth; depth++) {
                bool more = true;
                for (auto &wp : workers) {
                    Worker &w = *wp;
                    if (!more) break;
                    if (!w.ready || w.inflight.size() != depth || w.end != End::none || w.retiring || w.sock < 0 ||
                        w.sock_eof)
                        continue;
                    if (depth > 0 && (w.sending() || !ahead_ok(w, w.inflight.back()))) continue;
                    if (max_tasks_per_worker > 0 &&
                        w.tasks_run + static_cast<int64_t>(w.inflight.size()) >= max_tasks_per_worker)
                        continue;  // its last task is in flight: it retires after it
                    PTask *t = nullptr;
                    bool lent_now = false;
                    for (;;) {
                        {
                            std::lock_guard<std::mutex> g(mu);
                            if (w.lent || w.dead_back) {  // a caller runs a task on it, or it died under one
                                lent_now = true;
                                break;
                            }
                            if (queue.empty() || (depth > 0 && !ahead_ok(w, queue.front()))) {
                                more = false;
                                break;
                            }
                            t = queue.front();
                            queue.pop_front();
                            unidle_locked(w);
                            if (max_queued) space_cv.notify_one();
                        }
                        if (!t->future) break;
                        if (!t->running) {
                            if (weft_future_set_running(t->future) == WEFT_OK) break;
                        } else if (weft_future_cancel_requested(t->future) != 1) {
                            break;  // back from a dead worker's backlog
                        } else {
                            (void)weft_future_set_error(t->future, WEFT_ECANCELLED, "the task was cancelled before it ran");
                        }
                        cancelled.fetch_add(1, std::memory_order_relaxed);  // cancelled while queued
                        weft_future_destroy(t->future);
                        delete t;
                        t = nullptr;
                    }
                    if (lent_now) continue;
                    if (!t) break;
                    dispatch(w, t);
                }
                if (!more) break;
            }
        }
        // Running tasks: hard timeouts and cancel requests.
        int64_t wake_at = Deadline::kNever;
        for (auto &wp : workers) {
            Worker &w = *wp;
            if (w.end == End::retire && now >= w.end_deadline) ::kill(w.pid, SIGKILL);
            if (stopping && now >= w.end_deadline) ::kill(w.pid, SIGKILL);
            if (w.end == End::retire || stopping) wake_at = std::min(wake_at, w.end_deadline);
            PTask *h = w.head();
            if (!h) continue;
            if (task_timeout_ns > 0 && now - w.sent_at >= task_timeout_ns) {
                char msg[160];
                std::snprintf(msg, sizeof msg, "the task ran longer than its timeout of %lld ms; worker %d was killed",
                              static_cast<long long>(task_timeout_ns / WEFT_MSEC), static_cast<int>(w.pid));
                timed_out.fetch_add(1, std::memory_order_relaxed);
                kill_worker(w, End::timeout, WEFT_ETIMEDOUT, msg, true);
                continue;
            }
            if (h->future && weft_future_cancel_requested(h->future) == 1) {
                char msg[160];
                std::snprintf(msg, sizeof msg, "the task was cancelled while it ran; worker %d was killed",
                              static_cast<int>(w.pid));
                cancelled.fetch_add(1, std::memory_order_relaxed);
                kill_worker(w, End::cancel, WEFT_ECANCELLED, msg, true);
                continue;
            }
            if (task_timeout_ns > 0) wake_at = std::min(wake_at, w.sent_at + task_timeout_ns);
            if (h->future) wake_at = std::min(wake_at, now + kTick);
        }
        if (fork_retry_at) wake_at = std::min(wake_at, fork_retry_at);
        // Closed and drained: ask every worker to leave.
        if (closed_now && !stopping && !killed_all) {
            bool idle = true;
            {
                std::lock_guard<std::mutex> g(mu);
                idle = queue.empty();
                for (auto &w : workers) idle = idle && !w->lent;
                if (idle) {  // nobody may borrow a worker told to leave
                    for (Worker *w : idle_list) w->idle = false;
                    idle_list.clear();
                }
            }
            for (auto &w : workers) idle = idle && w->inflight.empty();
            if (idle) {
                stopping = true;
                for (auto &w : workers) {
                    w->end_deadline = now + kExitGrace;
                    if (w->end == End::none) w->end = End::retire;
                    TaskHdr ex{kExit, 0, 0, 0, 0};
                    if (w->sock < 0 || ::send(w->sock, &ex, sizeof ex, MSG_NOSIGNAL | MSG_DONTWAIT) != static_cast<ssize_t>(sizeof ex))
                        ::kill(w->pid, SIGKILL);
                }
                wake_at = std::min(wake_at, now + kExitGrace);
            }
        }
        if ((stopping || killed_all) && workers.empty()) break;

        // Sleep until something happens.
        int timeout_ms = -1;
        if (wake_at != Deadline::kNever) {
            int64_t left = wake_at - monotonic_now();
            timeout_ms = left <= 0 ? 0 : static_cast<int>(std::min<int64_t>((left + WEFT_MSEC - 1) / WEFT_MSEC, 60000));
        }
        // Announce the sleep, then look at the queue once more under the
        // lock a submitter pushes under: either we see its task, or it sees
        // `sleeping` and rings the eventfd. (close and terminate always ring.)
        // Under that lock too: publish the idle workers a caller may borrow,
        // and watch only what is not lent.
        sleeping.store(true, std::memory_order_seq_cst);
        pfds.clear();
        owners.clear();
        pfds.push_back({efd, POLLIN, 0});
        owners.push_back(nullptr);
        {
            std::lock_guard<std::mutex> g(mu);
            bool lend = direct && !closed && !terminating && !broken && !killed_all && !stopping;
            bool idle_worker = false;
            for (auto &wp : workers) {
                Worker &w = *wp;
                w.excluded = w.lent;
                if (w.lent) continue;  // its borrower watches it
                bool free_now = w.ready && w.inflight.empty() && w.end == End::none && !w.retiring && !w.dead_back;
                idle_worker = idle_worker || free_now;
                if (lend && free_now && !w.idle && w.sock >= 0 && !w.sock_eof && !w.sending() && !w.have_hdr &&
                    w.raw_got == 0) {
                    w.idle = true;
                    idle_list.push_back(&w);
                }
                pfds.push_back({w.pidfd, POLLIN, 0});
                owners.push_back(&w);
                if (w.sock >= 0 && !w.sock_eof && !w.idle && !w.dead_back) {  // an idle worker has nothing to say
                    short ev = POLLIN;
                    if (w.sending()) ev |= POLLOUT;
                    pfds.push_back({w.sock, ev, 0});
                    owners.push_back(&w);
                }
            }
            if (!killed_all && idle_worker && !queue.empty()) timeout_ms = 0;
        }
        int n = ::poll(pfds.data(), pfds.size(), timeout_ms);
        sleeping.store(false, std::memory_order_relaxed);
        if (n < 0) continue;  // EINTR
        if (pfds[0].revents) {
            std::uint64_t v;
            ssize_t r = ::read(efd, &v, sizeof v);
            (void)r;
        }
        // Events of a worker lent meanwhile are its borrower's; an idle one
        // that ended is the supervisor's again.
        // (A worker handed back meanwhile is taken back with its task in the
        // same breath, before its events are looked at.)
        {
            std::lock_guard<std::mutex> g(mu);
            for (size_t i = 1; i < pfds.size(); i++) {
                if (!pfds[i].revents) continue;
                if (owners[i]->lent) pfds[i].revents = 0;
                else unidle_locked(*owners[i]);
            }
            back.swap(returned);
        }
        take_back(back);
        // Sockets first, exits after, so a result sent before death counts.
        std::vector<Worker *> exited;
        for (size_t i = 1; i < pfds.size(); i++) {
            if (!pfds[i].revents) continue;
            Worker *w = owners[i];
            if (pfds[i].fd == w->pidfd) {
                exited.push_back(w);
                continue;
            }
            if (w->sock != pfds[i].fd) continue;  // closed meanwhile
            if (pfds[i].revents & POLLOUT) on_writable(*w);
            if (pfds[i].revents & (POLLIN | POLLHUP | POLLERR)) on_readable(*w);
        }
        for (Worker *w : exited) on_exit(*w);
    }
    std::deque<PTask *> left;  // none should be: closed and drained, or taken by terminate/broken
    {
        std::lock_guard<std::mutex> g(mu);
        left = take_queue_locked();
    }
    for (PTask *t : left) {
        if (t->future) {
            (void)weft_future_set_error(t->future, WEFT_ECANCELLED, "the pool ended before the task ran");
            weft_future_destroy(t->future);
        }
        delete t;
    }
    std::lock_guard<std::mutex> g(mu);
    finished = true;
    if (resize_done != resize_asked) {  // a resize that came too late
        resize_done = resize_asked;
        resize_status = WEFT_ECLOSED;
        resize_message = "the pool ended first";
    }
    state_cv.notify_all();
}

// ---- helpers of the C API ----------------------------------------------------

namespace {

weft_status check_pool(const char *func, const weft_process_pool *pool) {
    if (pool->owner != ::getpid())
        return fail(WEFT_ESTATE, "%s: the pool belongs to process %d, not to this one (%d)", func,
                    static_cast<int>(pool->owner), static_cast<int>(::getpid()));
    return WEFT_OK;
}

// A task node with a copy of the argument bytes (16-aligned, from malloc).
PTask *make_task(weft_ptask_fn fn, std::uint32_t kind, std::uint32_t count, const void *arg, size_t len) {
    auto *t = new PTask;
    t->fn = fn;
    t->kind = kind;
    t->count = count;
    t->len = len;
    if (len) {
        if (is_chunk(kind))  // a map's chunks come and go together: reuse their blocks
            t->arg = static_cast<char *>(block_get(len, &t->arg_cap));
        else
            t->arg = static_cast<char *>(std::malloc(len));
        if (!t->arg) {
            delete t;
            throw std::bad_alloc();
        }
        if (arg) std::memcpy(t->arg, arg, len);
    }
    return t;
}

// Submit a prepared node with a new future (the pool keeps one reference,
// the caller gets one in *future when asked).
weft_status submit_node(const char *func, weft_process_pool *pool, PTask *t, weft_future **future, Deadline &d,
                        CallbackCtx *cb) {
    weft_future *f;
    if (weft_status s = weft_future_create(&f)) {
        delete t;
        delete cb;
        return s;
    }
    if (cb && weft_future_add_done_callback(f, on_done, cb) != WEFT_OK) {
        delete cb;
        delete t;
        weft_future_destroy(f);
        return fail(WEFT_ENOMEM, "%s: out of memory", func);
    }
    if (future) (void)weft_future_retain(f);
    t->future = f;
    weft_status s;
    try {
        s = pool->enqueue(func, t, d);
    } catch (...) {
        s = fail(WEFT_ENOMEM, "%s: out of memory", func);
    }
    if (s != WEFT_OK) {
        weft_error saved = *weft_last_error();
        if (cb) cb->armed = false;  // the callback must not run for a call that failed
        weft_future_destroy(f);
        if (future) weft_future_destroy(f);
        delete t;
        return fail(s, "%s", saved.message);
    }
    if (future) *future = f;
    return WEFT_OK;
}

weft_status check_task_args(const char *func, weft_process_pool *pool, weft_ptask_fn fn, const void *arg, size_t len,
                            int64_t timeout_ns) {
    WEFT_CHECK_HANDLE(func, pool);
    if (weft_status s = check_pool(func, pool)) return s;
    if (!fn) return null_arg(func, "fn");
    if (len && !arg) return null_arg(func, "arg");
    WEFT_CHECK_TIMEOUT(func, timeout_ns);
    return WEFT_OK;
}

}  // namespace

// ---- lending an idle worker to a caller -----------------------------------------
//
// weft_process_pool_apply() on a pool with an idle worker and nothing queued
// runs the task on that worker itself: it writes the task to the worker's
// socket and reads the result from it, so one round trip costs what a bare
// pipe pool's does (two wake-ups: the worker's and the caller's) instead of
// four (the supervisor's on the way there and back). The supervisor, which
// published the worker as idle, stops watching its socket and, once lent,
// its pidfd; the borrower watches the pidfd while it waits. A worker that
// dies under its borrower goes back with its task, which the supervisor then
// fails exactly as if it had sent it (EWORKERDIED with the pid and signal,
// the restart budget, a replacement); terminate and a broken pool kill a
// lent worker and leave its socket to the borrower until the hand-back.

Worker *weft_process_pool::borrow() {
    std::lock_guard<std::mutex> g(mu);
    if (closed || broken || terminating || !queue.empty() || idle_list.empty()) return nullptr;
    Worker *w = idle_list.back();
    idle_list.pop_back();
    w->idle = false;
    w->lent = true;
    return w;
}

// Give a lent worker back; `lost` (with `where`) when it died under the
// borrower (a PTask with a future, which the supervisor fails).
void weft_process_pool::hand_back(Worker *w, PTask *lost, const char *where, End why) {
    bool ring;
    {
        std::lock_guard<std::mutex> g(mu);
        w->lent = false;
        if (where) {
            w->lost_where = where;
            w->dead_back = true;
            w->back_end = why;
            returned.emplace_back(w, lost);
        } else if (!closed && !terminating && !broken) {
            w->idle = true;
            idle_list.push_back(w);
        }
        // Wake the supervisor only when it needs to look: it slept without
        // this worker, it has tasks it could give it, or the pool is closing.
        ring = where || w->excluded || !queue.empty() || closed || terminating || broken;
    }
    if (ring) wake();
}

namespace {

// What the borrower saw of a worker: ready to read or write, or gone.
enum class Ev { ready, dead };

Ev wait_worker(const Worker &w, short events) noexcept {
    for (;;) {
        struct pollfd pf[2] = {{w.sock, events, 0}, {w.pidfd, POLLIN, 0}};
        int n = ::poll(pf, 2, -1);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) return Ev::dead;
        if (pf[0].revents & events) return Ev::ready;  // data first: a result sent before death counts
        if (pf[0].revents || pf[1].revents) return Ev::dead;
    }
}

}  // namespace

weft_status weft_process_pool::direct_apply(const char *func, weft_ptask_fn fn, const void *arg, size_t len,
                                            weft_bytes **result, bool *handled) {
    *handled = false;
    if (!direct) return WEFT_OK;
    const std::string *name = nullptr;
    if (by_name && !(name = ptask_name_of(fn))) return WEFT_OK;  // the queued path says why
    Worker *w = borrow();
    if (!w) return WEFT_OK;
    *handled = true;
    busy.fetch_add(1, std::memory_order_relaxed);
    const char *where = nullptr;
    weft_bytes *b = nullptr;
    ResultHdr rh{};
    // Send the task: header (and name), then the argument.
    {
        alignas(8) char head[sizeof(TaskHdr) + kMaxTaskName];
        size_t head_len = task_head(head, kTask, 1, fn, name, len);
        size_t total = head_len + len, done = 0;
        while (done < total && !where) {
            ssize_t r = send_part(w->sock, head, head_len, static_cast<const char *>(arg), len, done);
            if (r > 0) done += static_cast<size_t>(r);
            else if (r < 0 || wait_worker(*w, POLLOUT) == Ev::dead) where = "while receiving the task's argument";
        }
    }
    // Read the result: its header (usually with the bytes, in one read), then the rest.
    if (!where) {
        alignas(16) char buf[4096];
        size_t got = 0;
        while (got < sizeof rh && !where) {
            if (wait_worker(*w, POLLIN) == Ev::dead) {
                where = got ? "while sending the task's result" : "while running the task";
                break;
            }
            ssize_t r = ::recv(w->sock, buf + got, sizeof buf - got, MSG_DONTWAIT);
            if (r > 0) got += static_cast<size_t>(r);
            else if (r == 0 || (r < 0 && errno != EINTR && errno != EAGAIN && errno != EWOULDBLOCK))
                where = got ? "while sending the task's result" : "while running the task";
        }
        if (!where) {
            std::memcpy(&rh, buf, sizeof rh);
            if ((rh.kind != kOk && rh.kind != kFail) || got - sizeof rh > rh.len) {
                ::kill(w->pid, SIGKILL);  // it broke the protocol: it goes, and the task with it
                where = "(it broke the pool's protocol)";
            } else if (!(b = bytes_alloc(rh.len))) {
                ::kill(w->pid, SIGKILL);  // its result cannot be read: nor can the next task be sent
                where = "(out of memory for the task's result)";
            } else {
                size_t in = got - sizeof rh;
                std::memcpy(b->data, buf + sizeof rh, in);
                while (in < rh.len && !where) {
                    ssize_t r = ::recv(w->sock, static_cast<char *>(b->data) + in, rh.len - in, MSG_DONTWAIT);
                    if (r > 0) in += static_cast<size_t>(r);
                    else if (r < 0 && errno == EINTR) continue;
                    else if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
                        where = wait_worker(*w, POLLIN) == Ev::dead ? "while sending the task's result" : nullptr;
                    else where = "while sending the task's result";
                }
            }
        }
    }
    busy.fetch_sub(1, std::memory_order_relaxed);
    if (where) {
        // Lost with its worker: the supervisor fails it as one it sent, and we wait for that.
        ::kill(w->pid, SIGKILL);  // (it is ending already, or it closed its socket: either way it goes)
        bytes_release(b);
        int pid = static_cast<int>(w->pid);  // (w is the supervisor's again after the hand-back)
        PTask *t = new (std::nothrow) PTask;
        weft_future *f = nullptr;
        if (!t || weft_future_create(&f) != WEFT_OK) {
            delete t;
            hand_back(w, nullptr, where);
            return fail(WEFT_EWORKERDIED, "%s: worker %d ended %s (no memory left to learn how)", func, pid, where);
        }
        t->fn = fn;
        t->name = name;
        (void)weft_future_set_running(f);
        (void)weft_future_retain(f);
        t->future = f;
        t->running = true;
        hand_back(w, t, where);
        void *v = nullptr;
        weft_status s = weft_future_result(f, &v, WEFT_FOREVER);
        weft_error saved = *weft_last_error();
        weft_future_destroy(f);
        return s == WEFT_OK ? fail(WEFT_EINTERNAL, "%s: a lost task ended well", func) : fail(s, "%s", saved.message);
    }
    hand_back(w, nullptr, nullptr);
    completed.fetch_add(1, std::memory_order_relaxed);
    if (rh.kind == kFail) {
        failed.fetch_add(1, std::memory_order_relaxed);
        weft_status code = rh.code < 0 ? rh.code : WEFT_EFAILED;
        weft_status s = fail(code, "%s", static_cast<const char *>(b->data));
        bytes_release(b);
        return s;
    }
    if (result) *result = b;
    else bytes_release(b);
    return WEFT_OK;
}

extern "C" {

WEFT_API void weft_bytes_free(weft_bytes *b) noexcept { bytes_release_batched(b); }

WEFT_API weft_status weft_process_pool_register(const char *name, weft_ptask_fn fn) noexcept {
    const char *F = "weft_process_pool_register";
    if (!name) return null_arg(F, "name");
    if (!fn) return null_arg(F, "fn");
    size_t n = std::strlen(name);
    if (n == 0 || n > kMaxTaskName)
        return fail(WEFT_EINVAL, "%s: the name has %zu bytes; use 1 to %zu", F, n, kMaxTaskName);
    return guarded(F, [&]() -> weft_status {
        PtaskRegistry &r = ptasks();
        std::lock_guard<std::mutex> g(r.mu);
        auto it = r.by_name.find(name);
        if (it != r.by_name.end()) {
            if (it->second == fn) return WEFT_OK;
            return fail(WEFT_EEXIST, "%s: \"%s\" is registered to another function", F, name);
        }
        it = r.by_name.emplace(name, fn).first;
        r.by_fn.emplace(reinterpret_cast<std::uintptr_t>(fn), &it->first);  // keeps the first name
        return WEFT_OK;
    });
}

WEFT_API weft_status weft_ptask_result_alloc(weft_ptask_result *result, size_t len, void **data) noexcept {
    if (!result) return null_arg("weft_ptask_result_alloc", "result");
    if (!data) return null_arg("weft_ptask_result_alloc", "data");
    return result_room("weft_ptask_result_alloc", result, len, data);
}

WEFT_API weft_status weft_ptask_result_set(weft_ptask_result *result, const void *data, size_t len) noexcept {
    if (!result) return null_arg("weft_ptask_result_set", "result");
    if (len && !data) return null_arg("weft_ptask_result_set", "data");
    void *p;
    if (weft_status s = result_room("weft_ptask_result_set", result, len, &p)) return s;
    copy_bytes(static_cast<char *>(p), data, len);
    return WEFT_OK;
}

WEFT_API weft_status weft_process_pool_create(weft_process_pool **out, const weft_process_pool_options *opts) noexcept {
    if (!out) return null_arg("weft_process_pool_create", "out");
    *out = nullptr;
    if (weft_status s = check_version_range("weft_process_pool_create", opts, 1, WEFT_PROCESS_POOL_OPTIONS_VERSION))
        return s;
    weft_process_pool_options o = WEFT_PROCESS_POOL_OPTIONS_INIT;
    if (opts) {  // a version 1 struct ends before fork_prepare
        std::memcpy(&o, opts, opts->version >= 2 ? sizeof o : offsetof(weft_process_pool_options, fork_prepare));
    }
    const char *F = "weft_process_pool_create";
    if (o.workers < 0) return fail(WEFT_EINVAL, "%s: opts->workers is %d; use 0 (CPU count) or more", F, o.workers);
    if (o.max_tasks_per_worker < 0)
        return fail(WEFT_EINVAL, "%s: opts->max_tasks_per_worker is %lld; use 0 (no limit) or more", F,
                    static_cast<long long>(o.max_tasks_per_worker));
    if (o.task_timeout_ns < WEFT_FOREVER)
        return fail(WEFT_EINVAL, "%s: opts->task_timeout_ns is %lld; use 0 or WEFT_FOREVER (none) or a positive time", F,
                    static_cast<long long>(o.task_timeout_ns));
    if (o.max_restarts < -1)
        return fail(WEFT_EINVAL, "%s: opts->max_restarts is %d; use -1 (unlimited), 0 (default) or more", F,
                    o.max_restarts);
    if (o.restart_window_ns < 0)
        return fail(WEFT_EINVAL, "%s: opts->restart_window_ns is %lld; use 0 (default) or more", F,
                    static_cast<long long>(o.restart_window_ns));
    if (o.start_method < WEFT_PROCESS_POOL_START_DEFAULT || o.start_method > WEFT_PROCESS_POOL_START_FORKSERVER)
        return fail(WEFT_EINVAL, "%s: opts->start_method %d is unknown", F, o.start_method);
    bool by_name = o.start_method == WEFT_PROCESS_POOL_START_SPAWN || o.start_method == WEFT_PROCESS_POOL_START_FORKSERVER;
    if (by_name && o.initializer)
        return fail(WEFT_ENOTSUP, "%s: an initializer is a function pointer, which only fork workers share; "
                    "spawn and forkserver pools take one by name (opts->initializer_name)", F);
    if (o.initializer && o.initializer_name)
        return fail(WEFT_EINVAL, "%s: opts->initializer and opts->initializer_name are both set; use one", F);
    if (o.initializer_arg_len && !o.initializer_arg)
        return fail(WEFT_EINVAL, "%s: opts->initializer_arg is NULL with initializer_arg_len %zu", F,
                    o.initializer_arg_len);
    weft_ptask_fn init_fn = nullptr;
    if (o.initializer_name) {
        size_t n = std::strlen(o.initializer_name);
        if (n == 0 || n > kMaxTaskName)
            return fail(WEFT_EINVAL, "%s: opts->initializer_name has %zu bytes; use 1 to %zu", F, n, kMaxTaskName);
        init_fn = ptask_lookup(o.initializer_name);
        if (!init_fn)
            return fail(WEFT_ENOENT, "%s: no task function is registered as \"%s\" (opts->initializer_name); "
                        "register it with WEFT_REGISTER_PTASK or weft_process_pool_register", F, o.initializer_name);
    }
    size_t nargv = 0;
    if (o.spawn_argv)
        while (o.spawn_argv[nargv]) {
            if (++nargv > kMaxSpawnArgv)
                return fail(WEFT_EINVAL, "%s: opts->spawn_argv has more than %zu entries (or lacks its NULL end)", F,
                            kMaxSpawnArgv);
        }
    bool program = o.spawn_program || o.spawn_argv;
    if (o.spawn_program && !o.spawn_program[0])
        return fail(WEFT_EINVAL, "%s: opts->spawn_program is empty; use NULL for this program", F);
    return guarded(F, [&]() -> weft_status {
        auto *p = new weft_process_pool;
        p->owner = ::getpid();
        p->target_workers = o.workers ? o.workers : weft_cpu_count();
        if (p->target_workers < 1) p->target_workers = 1;
        p->initializer = o.initializer;
        p->initializer_data = o.initializer_data;
        p->init_fn = init_fn;
        if (o.initializer_name) p->init_name = o.initializer_name;
        if (o.initializer_arg_len) p->init_arg.assign(static_cast<const char *>(o.initializer_arg), o.initializer_arg_len);
        p->fork_prepare = o.fork_prepare;
        p->fork_parent = o.fork_parent;
        p->fork_child = o.fork_child;
        p->fork_hook_data = o.fork_hook_data;
        p->own_spawn = program && o.start_method == WEFT_PROCESS_POOL_START_SPAWN;
        if (p->own_spawn) {
            p->spawn_program = o.spawn_program ? o.spawn_program : self_exe_path();
            for (size_t i = 0; i < nargv; i++) p->spawn_argv.emplace_back(o.spawn_argv[i]);
        }
        if (program && o.start_method == WEFT_PROCESS_POOL_START_FORKSERVER) {
            // A server of the program's own, started once: the workers are its forks.
            if (weft_status s = weft_forkserver_start_program(o.spawn_program, o.spawn_argv, &p->fserver)) {
                weft_error saved = *weft_last_error();
                delete p;
                return fail(s, "%s: the forkserver running spawn_program did not start: %s", F, saved.message);
            }
        }
        p->max_tasks_per_worker = o.max_tasks_per_worker;
        p->task_timeout_ns = o.task_timeout_ns > 0 ? o.task_timeout_ns : 0;
        p->max_restarts = o.max_restarts ? o.max_restarts : 8 + 2 * p->target_workers;
        p->restart_window_ns = o.restart_window_ns ? o.restart_window_ns : 10 * WEFT_SEC;
        p->max_queued = o.max_queued;
        // A task a caller runs on a borrowed worker has no deadline to watch
        // and is not counted against a worker's allowance: lend only without them.
        p->direct = p->task_timeout_ns == 0 && p->max_tasks_per_worker == 0;
        p->start_method = by_name ? o.start_method : WEFT_PROCESS_POOL_START_FORK;
        p->by_name = by_name;
        if (by_name) {
            // An abstract socket (no file to clean up) the workers connect to.
            static std::atomic<unsigned> serial{0};
            int n = std::snprintf(p->lname + 1, sizeof p->lname - 1, "weft-pool-%d-%u", static_cast<int>(::getpid()),
                                  serial.fetch_add(1, std::memory_order_relaxed));
            p->lname_len = 1 + static_cast<size_t>(n);
            NamedWorkerArg wa{kWorkerArgMagic, static_cast<std::uint32_t>(p->lname_len),
                              static_cast<std::uint32_t>(p->init_name.size()), 0, p->init_arg.size()};
            p->worker_arg.assign(reinterpret_cast<const char *>(&wa), sizeof wa);
            p->worker_arg.append(p->lname, p->lname_len);
            p->worker_arg += p->init_name;
            p->worker_arg += p->init_arg;
            struct sockaddr_un a {};
            a.sun_family = AF_UNIX;
            std::memcpy(a.sun_path, p->lname, p->lname_len);
            p->lfd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
            if (p->lfd < 0 ||
                ::bind(p->lfd, reinterpret_cast<struct sockaddr *>(&a),
                       static_cast<socklen_t>(offsetof(struct sockaddr_un, sun_path) + p->lname_len)) != 0 ||
                ::listen(p->lfd, 64) != 0) {
                int e = errno;
                delete p;
                return fail_sys(WEFT_ESYS, e, "%s: the pool's socket for its workers failed", F);
            }
        }
        p->efd = ::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
        if (p->efd < 0) {
            int e = errno;
            delete p;
            return fail_sys(WEFT_ESYS, e, "%s: eventfd failed", F);
        }
        weft_thread_options to = WEFT_THREAD_OPTIONS_INIT;
        to.name = "weft-ppool";
        to.daemon = 1;
        if (weft_status s = weft_thread_spawn(&p->thread, weft_process_pool::supervisor_main, p, &to)) {
            weft_error saved = *weft_last_error();
            delete p;
            return fail(s, "%s: the supervisor thread did not start: %s", F, saved.message);
        }
        weft_status s;
        std::string msg;
        {
            std::unique_lock<std::mutex> g(p->mu);
            p->state_cv.wait(g, [&] { return p->started; });
            s = p->start_status;
            msg = p->start_message;
        }
        if (s != WEFT_OK) {
            weft_thread_join(p->thread, nullptr, WEFT_FOREVER);
            weft_thread_destroy(p->thread);
            delete p;
            return fail(s, "%s: %s", F, msg.c_str());
        }
        *out = p;
        return WEFT_OK;
    });
}

WEFT_API weft_status weft_process_pool_submit(weft_process_pool *pool, weft_ptask_fn fn, const void *arg, size_t len,
                                              weft_future **future, int64_t timeout_ns) noexcept {
    const char *F = "weft_process_pool_submit";
    if (!future) return null_arg(F, "future");
    *future = nullptr;
    if (weft_status s = check_task_args(F, pool, fn, arg, len, timeout_ns)) return s;
    Deadline d(timeout_ns);
    return guarded(F, [&] { return submit_node(F, pool, make_task(fn, kTask, 1, arg, len), future, d, nullptr); });
}

WEFT_API weft_status weft_process_pool_execute(weft_process_pool *pool, weft_ptask_fn fn, const void *arg, size_t len,
                                               int64_t timeout_ns) noexcept {
    const char *F = "weft_process_pool_execute";
    if (weft_status s = check_task_args(F, pool, fn, arg, len, timeout_ns)) return s;
    Deadline d(timeout_ns);
    return guarded(F, [&]() -> weft_status {
        PTask *t = make_task(fn, kTask, 1, arg, len);
        weft_status s;
        try {
            s = pool->enqueue(F, t, d);
        } catch (...) {
            delete t;
            throw;
        }
        if (s != WEFT_OK) delete t;
        return s;
    });
}

WEFT_API weft_status weft_process_pool_apply_async(weft_process_pool *pool, weft_ptask_fn fn, const void *arg,
                                                   size_t len, weft_future **future, int64_t timeout_ns,
                                                   weft_process_pool_callback callback,
                                                   weft_pool_error_callback error_callback, void *user_data) noexcept {
    const char *F = "weft_process_pool_apply_async";
    if (future) *future = nullptr;
    if (weft_status s = check_task_args(F, pool, fn, arg, len, timeout_ns)) return s;
    Deadline d(timeout_ns);
    return guarded(F, [&] {
        auto *cb = new CallbackCtx{callback, error_callback, user_data, true};
        PTask *t;
        try {
            t = make_task(fn, kTask, 1, arg, len);
        } catch (...) {
            delete cb;
            throw;
        }
        return submit_node(F, pool, t, future, d, cb);
    });
}

WEFT_API weft_status weft_process_pool_apply(weft_process_pool *pool, weft_ptask_fn fn, const void *arg, size_t len,
                                             weft_bytes **result) noexcept {
    if (result) *result = nullptr;
    if (tl_supervisor && tl_supervisor == pool)
        return fail(WEFT_EDEADLK, "weft_process_pool_apply: called from the pool's own supervisor (a callback)");
    if (weft_status s = check_task_args("weft_process_pool_apply", pool, fn, arg, len, WEFT_FOREVER)) return s;
    {
        bool handled = false;
        weft_status s = guarded("weft_process_pool_apply", [&] {
            return pool->direct_apply("weft_process_pool_apply", fn, arg, len, result, &handled);
        });
        if (handled || s != WEFT_OK) return s;
    }
    weft_future *f;
    if (weft_status s = weft_process_pool_submit(pool, fn, arg, len, &f, WEFT_FOREVER)) return s;
    void *v = nullptr;
    weft_status s = weft_future_result(f, &v, WEFT_FOREVER);
    if (s == WEFT_OK && result) {
        auto *b = static_cast<const weft_bytes *>(v);
        weft_bytes *copy = bytes_alloc(b->size);
        if (!copy) {
            weft_future_destroy(f);
            return fail(WEFT_ENOMEM, "weft_process_pool_apply: out of memory for a %zu-byte result", b->size);
        }
        std::memcpy(copy->data, b->data, b->size);
        *result = copy;
    }
    weft_future_destroy(f);
    return s;
}

}  // extern "C"

// ---- map ---------------------------------------------------------------------

namespace {

struct Unit {  // one submitted task of a map: arguments [first, first + count)
    size_t first, count;
    weft_future *f = nullptr;
};

struct MapState {
    const char *func;
    weft_process_pool *pool;
    weft_ptask_fn fn;
    const weft_bytes *args;
    size_t n;
    weft_bytes **results;  // may be null (unordered)
    weft_status *codes;    // may be null
    weft_process_pool_result_fn on_result;
    void *user_data;
    std::vector<weft_status> code;  // every call's, WEFT_OK until it is settled otherwise
    std::unordered_map<size_t, std::string> message;  // of the failed calls only
    std::vector<char> reported;                        // map_unordered only
    weft_process_pool_stop_fn stop = nullptr;           // weft_process_pool_map_stoppable
    void *stop_data = nullptr;
    bool stopped = false;
    int64_t stop_asked = 0;  // when stop() was last called

    // Whether the caller stops the map: stop() is asked after a signal
    // interrupted a wait (`signalled`), otherwise at most every kStopEvery.
    static constexpr int64_t kStopEvery = 100 * WEFT_MSEC;
    bool should_stop(bool signalled) {
        if (!stop || stopped) return stopped;
        int64_t now = monotonic_now();
        if (!signalled && now - stop_asked < kStopEvery) return false;
        stop_asked = now;
        stopped = stop(stop_data) != 0;
        return stopped;
    }
    // Calls [first, first + count) end as the stop left them.
    void set_stopped(size_t first, size_t count) {
        for (size_t i = first; i < first + count; i++)
            set(i, WEFT_ECANCELLED, "the map was stopped before the call finished", nullptr);
    }

    // `carved`: value is a result carved from its chunk's reply, handed over as is.
    void set(size_t i, weft_status c, const char *msg, const weft_bytes *value, bool carved = false) {
        code[i] = c;
        if (c != WEFT_OK) message[i] = msg ? msg : "";
        if (results) {
            results[i] = nullptr;
            if (c == WEFT_OK && carved) {
                results[i] = const_cast<weft_bytes *>(value);
            } else if (c == WEFT_OK) {
                weft_bytes *copy = bytes_alloc(value->size);
                if (!copy) {
                    code[i] = WEFT_ENOMEM;
                    message[i] = "out of memory for the result";
                } else {
                    std::memcpy(copy->data, value->data, value->size);
                    results[i] = copy;
                }
            }
        }
        if (on_result && !reported[i]) {
            reported[i] = 1;
            on_result(i, code[i] == WEFT_OK ? value : nullptr, code[i], code[i] == WEFT_OK ? "" : message[i].c_str(),
                      user_data);
        }
    }

    PTask *pack(size_t first, size_t count) {
        const weft_bytes *a = args + first;
        size_t fixed = a[0].size;
        for (size_t i = 1; i < count && fixed <= kFixedMax; i++)
            if (a[i].size != fixed) fixed = SIZE_MAX;
        if (fixed <= kFixedMax) {  // packed: kChunkFixed
            PTask *t = make_task(fn, kChunkFixed, static_cast<std::uint32_t>(count), nullptr, count * fixed);
            if (fixed == 8)  // (the common size: one move each)
                for (size_t i = 0; i < count; i++) std::memcpy(t->arg + i * 8, a[i].data, 8);
            else
                for (size_t i = 0; i < count; i++) copy_bytes(t->arg + i * fixed, a[i].data, fixed);
            return t;
        }
        size_t len = 0;
        for (size_t i = 0; i < count; i++) len += sizeof(ItemHdr) + pad16(a[i].size);
        PTask *t = make_task(fn, kChunk, static_cast<std::uint32_t>(count), nullptr, len);
        size_t off = 0;
        for (size_t i = first; i < first + count; i++) {
            ItemHdr ih{0, 0, args[i].size};
            std::memcpy(t->arg + off, &ih, sizeof ih);
            off += sizeof ih;
            copy_bytes(t->arg + off, args[i].data, args[i].size);
            zero_pad(t->arg + off, args[i].size);
            off += pad16(args[i].size);
        }
        return t;
    }

    // The outcome of a finished unit; true when its worker died with more
    // than one argument in it (then it is retried one by one).
    bool settle(Unit &u) {
        int st = weft_future_get_state(u.f);
        if (st == WEFT_FUTURE_DONE) {
            void *v = nullptr;
            (void)weft_future_result(u.f, &v, 0);
            settle_reply(u, static_cast<const weft_bytes *>(v));
            return false;
        }
        weft_status c = WEFT_ECANCELLED;
        const char *m = "the call was cancelled before it ran";
        if (st == WEFT_FUTURE_FAILED) (void)weft_future_error(u.f, &c, &m);
        if (c == WEFT_EWORKERDIED && u.count > 1) return true;
        for (size_t i = u.first; i < u.first + u.count; i++) set(i, c, m, nullptr);
        return false;
    }

    // A unit's chunk reply (kChunkDone, kChunkFixedDone): each outcome to
    // its argument. The caller keeps its own reference to the reply's slab.
    void settle_reply(Unit &u, const weft_bytes *b) {
        char *p = static_cast<char *>(b->data);
        Slab *sl = slab_of(b);
        if (std::uint64_t packed = (reinterpret_cast<const BytesHead *>(b) - 1)->pad) {
            // Every call succeeded, its result packed at the end of the slab
            // (chunk_reply_start): carve them front to back, each result's
            // place ending where the next one's packed bytes begin, or before.
            size_t item = packed - 1;
            const char *from = p + (b->size - u.count * item);
            if (results && sl) {  // (code[] says WEFT_OK already; no callback with results)
                if (item == 8)  // (the common size: fixed-size moves)
                    for (size_t k = 0; k < u.count; k++) results[u.first + k] = carve_packed(p, from, k, 8, sl);
                else
                    for (size_t k = 0; k < u.count; k++) results[u.first + k] = carve_packed(p, from, k, item, sl);
                sl->refs.fetch_add(u.count, std::memory_order_relaxed);
            } else {
                for (size_t k = 0; k < u.count; k++) set(u.first + k, WEFT_OK, nullptr, carve_packed(p, from, k, item, sl));
            }
            return;
        }
        size_t off = 0, carved = 0;
        for (size_t i = u.first; i < u.first + u.count; i++) {
            ItemHdr ih{WEFT_EINTERNAL, 0, 0};
            if (off + kItemRoom <= b->size) std::memcpy(&ih, p + off, sizeof ih);
            if (off + kItemRoom > b->size || ih.len > b->size - off - kItemRoom) {
                set(i, WEFT_EINTERNAL, "the worker's reply was cut short", nullptr);
                off = b->size;
                continue;
            }
            char *data = p + off + kItemRoom;
            if (ih.code == WEFT_OK && results && sl) {
                // The outcome's header room becomes the result's BytesHead and weft_bytes: no copy.
                auto *h = reinterpret_cast<BytesHead *>(p + off);
                h->slab = sl;
                h->pad = 0;
                auto *rb = reinterpret_cast<weft_bytes *>(h + 1);
                rb->size = ih.len;
                rb->data = data;
                carved++;
                set(i, WEFT_OK, nullptr, rb, true);
            } else if (ih.code == WEFT_OK) {
                weft_bytes view{ih.len, data};
                set(i, WEFT_OK, nullptr, &view);
            } else {
                std::string m(data, ih.len);
                set(i, ih.code, m.c_str(), nullptr);
            }
            off += kItemRoom + pad16(ih.len);
        }
        // The caller still holds its reference, so the slab lives until these are counted.
        if (carved) sl->refs.fetch_add(carved, std::memory_order_relaxed);
    }

    void direct_round(std::vector<Unit> &units, std::vector<Unit> &rest, std::vector<Unit> &retry);

    // Submit units, wait for them (in completion order), settle each; the
    // crashed multi-argument ones come back in `retry`.
    weft_status round(std::vector<Unit> &all, Deadline &d, std::vector<Unit> &retry) {
        std::vector<Unit> rest;
        std::vector<Unit> *queued = &all;
        // (Not for map_unordered: its callback may call into the pool, which
        // would wait for the workers this map holds.)
        if (d.infinite() && pool->direct && !on_result) {
            direct_round(all, rest, retry);
            queued = &rest;
            if (stopped) {
                for (Unit &u : rest) set_stopped(u.first, u.count);
                return WEFT_ECANCELLED;
            }
        }
        std::vector<Unit> &units = *queued;
        size_t submitted = 0;
        weft_status submit_status = WEFT_OK;
        std::string submit_msg;
        for (; submitted < units.size(); submitted++) {
            Unit &u = units[submitted];
            PTask *t = pack(u.first, u.count);
            weft_status s = submit_node(func, pool, t, &u.f, d, nullptr);
            if (s != WEFT_OK) {
                submit_status = s;
                submit_msg = weft_last_error()->message;
                break;
            }
        }
        for (size_t k = submitted; k < units.size(); k++)
            for (size_t i = units[k].first; i < units[k].first + units[k].count; i++)
                set(i, submit_status, submit_msg.c_str(), nullptr);
        std::vector<weft_future *> fs;
        std::unordered_map<weft_future *, size_t> index;
        for (size_t k = 0; k < submitted; k++) {
            fs.push_back(units[k].f);
            index.emplace(units[k].f, k);
        }
        weft_as_completed *it = nullptr;
        if (weft_status s = weft_as_completed_create(&it, fs.data(), fs.size())) {
            for (weft_future *f : fs) weft_future_cancel(f);
            for (weft_future *f : fs) weft_future_wait(f, WEFT_FOREVER);  // bounded: cancels kill within a tick
            for (size_t k = 0; k < submitted; k++) {
                settle(units[k]);
                weft_future_destroy(units[k].f);
            }
            return s;
        }
        bool cut = false;
        for (;;) {
            weft_future *f = nullptr;
            int64_t wait = cut ? WEFT_FOREVER : (d.infinite() ? WEFT_FOREVER : d.remaining());
            if (stop && !cut && (wait < 0 || wait > kStopEvery)) wait = kStopEvery;  // (a slice: ask stop())
            weft_status s = weft_as_completed_next(it, &f, wait);
            if (s == WEFT_ECLOSED) break;
            if (s != WEFT_OK && s != WEFT_ETIMEDOUT) break;
            if (s == WEFT_OK) {
                auto at = index.find(f);
                if (at != index.end() && settle(units[at->second])) retry.push_back(units[at->second]);
            }
            if (!cut && ((s == WEFT_ETIMEDOUT && d.expired()) || should_stop(false))) {
                cut = true;  // cancel queued units; running ones are killed by the supervisor
                for (weft_future *g : fs) (void)weft_future_cancel(g);
            }
        }
        weft_as_completed_destroy(it);
        for (size_t k = 0; k < submitted; k++) weft_future_destroy(units[k].f);
        return stopped ? WEFT_ECANCELLED : cut ? WEFT_ETIMEDOUT : submit_status;
    }
};

// ---- a map's chunks on borrowed workers --------------------------------------
//
// An untimed map on a pool that lends its workers (no task timeout, no
// max_tasks_per_worker) borrows every idle worker when nothing is queued and
// does the chunks' I/O itself, as weft_process_pool_apply() does for one
// task: it writes each chunk to a worker's socket (two ahead per worker when
// they are small, so a worker never waits between chunks), reads each reply
// straight into the slab its results are carved from, and watches the
// workers' pidfds, all in one poll() of the caller's thread. The supervisor
// is not woken once per chunk on the way there and back (on two cores its
// hand-offs were most of a tiny-task map's time). A worker that dies under
// the map goes back to the supervisor with the chunk it ran (its future fails
// with EWORKERDIED as a queued one would, then the chunk is retried one
// argument per task); the chunks sent after it never started and go to the
// other borrowed workers, or through the queue when none is left.

struct Lent {
    Worker *w;
    std::deque<size_t> sent;  // units sent (or being sent) in order: the front runs
    PTask *out = nullptr;     // the unit being written (sent.back())
    alignas(8) char head[sizeof(TaskHdr) + kMaxTaskName];
    size_t head_len = 0, done = 0, total = 0;
    alignas(8) char hb[sizeof(ResultHdr)];  // the reply's header, then its bytes into `block`
    size_t hgot = 0, got = 0;
    ResultHdr rh{};
    weft_bytes *block = nullptr;
    char *dst = nullptr;  // where in block the reply's bytes go
    const char *where = nullptr;  // it died, or broke the protocol: where its unit was
};

void MapState::direct_round(std::vector<Unit> &units, std::vector<Unit> &rest, std::vector<Unit> &retry) {
    weft_process_pool *P = pool;
    const std::string *name = nullptr;
    if (P->by_name && !(name = ptask_name_of(fn))) {  // the queued path says why
        rest = units;
        return;
    }
    std::deque<Lent> lent;  // (a deque: references stay valid as workers join)
    // Borrow idle workers while units wait for one (workers that become idle
    // during the map join it: a fresh pool's workers are not all ready yet).
    auto borrow_more = [&](size_t want) {
        while (want-- > 0) {
            Worker *w = P->borrow();
            if (!w) return;
            lent.emplace_back();
            lent.back().w = w;
            P->busy.fetch_add(1, std::memory_order_relaxed);
        }
    };
    borrow_more(units.size());
    if (lent.empty()) {
        rest = units;
        return;
    }
    std::deque<size_t> todo;  // units to send, in order
    for (size_t k = 0; k < units.size(); k++) todo.push_back(k);
    std::vector<size_t> lost;  // units that died with their worker (their future fails)

    auto start_send = [&](Lent &L, size_t k) {
        PTask *t = pack(units[k].first, units[k].count);
        L.head_len = task_head(L.head, t->kind, t->count, fn, name, t->len);
        L.out = t;
        L.done = 0;
        L.total = L.head_len + t->len;
        L.sent.push_back(k);
    };
    // Write what the socket takes; false when the worker is gone.
    auto write_some = [&](Lent &L) -> bool {
        while (L.out) {
            ssize_t r = send_part(L.w->sock, L.head, L.head_len, L.out->arg, L.out->len, L.done);
            if (r <= 0) return r == 0;
            L.done += static_cast<size_t>(r);
            if (L.done == L.total) {
                delete L.out;  // its block goes back to the cache for the next chunk
                L.out = nullptr;
            }
        }
        return true;
    };
    // Read what the socket holds, settling each whole reply; false when the
    // worker is gone (end of file, an error, or a frame that breaks the protocol).
    auto read_some = [&](Lent &L) -> bool {
        for (;;) {
            ssize_t r;
            if (!L.block)
                r = ::recv(L.w->sock, L.hb + L.hgot, sizeof L.hb - L.hgot, MSG_DONTWAIT);
            else
                r = ::recv(L.w->sock, L.dst + L.got, L.rh.len - L.got, MSG_DONTWAIT);
            if (r == 0) return false;
            if (r < 0) {
                if (errno == EINTR) continue;
                return errno == EAGAIN || errno == EWOULDBLOCK;
            }
            if (!L.block) {
                L.hgot += static_cast<size_t>(r);
                if (L.hgot < sizeof L.hb) continue;
                std::memcpy(&L.rh, L.hb, sizeof L.rh);
                bool expected = (L.rh.kind == kChunkDone || L.rh.kind == kChunkFixedDone) && !L.sent.empty() &&
                                (L.sent.size() > 1 || !L.out);
                weft_status err = WEFT_EINTERNAL;
                if (!expected ||
                    !(L.block = chunk_reply_start(L.rh, static_cast<std::uint32_t>(units[L.sent.front()].count),
                                                  &L.dst, &err))) {
                    ::kill(L.w->pid, SIGKILL);  // its reply cannot be read: nor can the next chunk be sent
                    L.where = err == WEFT_ENOMEM ? "(out of memory for the task's result)"
                                                 : "(it broke the pool's protocol)";
                    return false;
                }
                L.got = 0;
            } else {
                L.got += static_cast<size_t>(r);
            }
            if (L.got == L.rh.len) {
                size_t k = L.sent.front();
                L.sent.pop_front();
                settle_reply(units[k], L.block);
                bytes_release(L.block);  // ours; the results carved from it hold their own
                L.block = nullptr;
                L.hgot = 0;
                P->completed.fetch_add(1, std::memory_order_relaxed);
                if (L.sent.empty()) return true;  // nothing more is due: skip a recv
            }
        }
    };
    // Kill a borrowed worker and drop its half-sent chunk and half-read reply.
    auto kill_lent = [&](Lent &L) {
        ::kill(L.w->pid, SIGKILL);
        bytes_release(L.block);
        L.block = nullptr;
        delete L.out;
        L.out = nullptr;
    };
    // A borrowed worker is gone: its running unit is lost with it, the rest go to the others.
    auto bury = [&](Lent &L) {
        if (!L.where)
            L.where = L.out && L.sent.size() == 1 ? "while receiving the task's argument"
                      : L.block || L.hgot         ? "while sending the task's result"
                                                  : "while running the task";
        kill_lent(L);  // (it is ending already, or it closed its socket: either way it goes)
        PTask *t = nullptr;
        if (!L.sent.empty()) {
            size_t k = L.sent.front();
            L.sent.pop_front();
            for (auto it = L.sent.rbegin(); it != L.sent.rend(); ++it) todo.push_front(*it);  // never started
            L.sent.clear();
            t = new (std::nothrow) PTask;
            weft_future *f = nullptr;
            if (t && weft_future_create(&f) == WEFT_OK) {
                t->fn = fn;
                t->name = name;
                t->kind = kChunk;
                t->count = static_cast<std::uint32_t>(units[k].count);
                (void)weft_future_set_running(f);
                (void)weft_future_retain(f);
                t->future = f;
                t->running = true;
                units[k].f = f;
                lost.push_back(k);
            } else {
                delete t;
                t = nullptr;
                for (size_t i = units[k].first; i < units[k].first + units[k].count; i++)
                    set(i, WEFT_EWORKERDIED, "a worker died with the call (no memory left to learn how)", nullptr);
            }
        }
        P->busy.fetch_sub(1, std::memory_order_relaxed);
        P->hand_back(L.w, t, L.where);
        L.w = nullptr;
    };

    std::vector<struct pollfd> pf;
    for (;;) {
        // Keep every live worker fed: one chunk running, one waiting in its
        // socket; units still waiting go to workers that became idle since.
        bool pending = false;
        for (int pass = 0; pass < 2; pass++) {
            if (pass == 1) {
                if (todo.empty()) break;
                borrow_more(todo.size());
            }
            // Breadth first: one unit to every idle worker before a second one waits behind a running one.
            for (size_t depth = 1; depth < kDepth; depth++)
                for (Lent &L : lent) {
                    if (L.w && !L.out && !todo.empty() && L.sent.size() < depth) {
                        start_send(L, todo.front());
                        todo.pop_front();
                        if (!write_some(L)) {
                            (void)read_some(L);  // it went: replies it sent first still count
                            bury(L);
                        }
                    }
                }
            for (Lent &L : lent)
                if (L.w && !L.sent.empty()) pending = true;
        }
        if (!pending) break;  // all settled, or every worker gone (what is left goes through the queue)
        pf.resize(2 * lent.size());
        size_t nfds = 0;
        for (Lent &L : lent) {
            if (!L.w) continue;
            pf[nfds++] = {L.w->sock, static_cast<short>(POLLIN | (L.out ? POLLOUT : 0)), 0};
            pf[nfds++] = {L.w->pidfd, POLLIN, 0};
        }
        // Units wait for a worker: look again for idle ones every millisecond.
        // (Spin first while replies came quickly: kSpinNs.)
        int r = 0;
        int64_t t0 = monotonic_now();
        if (spin_worth(P->reply_wait.load(std::memory_order_relaxed)))
            while ((r = ::poll(pf.data(), static_cast<nfds_t>(nfds), 0)) == 0 && monotonic_now() - t0 < kSpinNs)
                sched_yield();
        int timeout = todo.empty() ? -1 : 1;
        if (stop && timeout < 0) timeout = static_cast<int>(kStopEvery / WEFT_MSEC);
        if (r == 0) r = ::poll(pf.data(), static_cast<nfds_t>(nfds), timeout);
        if (r > 0) P->reply_wait.store(monotonic_now() - t0, std::memory_order_relaxed);
        bool interrupted = r < 0 && errno == EINTR;
        if (interrupted && should_stop(true)) break;
        if (interrupted) continue;
        size_t at = 0;
        for (Lent &L : lent) {
            if (!L.w) continue;
            const struct pollfd &s = pf[at], &d = pf[at + 1];
            at += 2;
            bool ok = r >= 0;
            if (ok && (s.revents & POLLOUT) && !write_some(L)) {
                (void)read_some(L);  // it went: replies it sent first still count
                ok = false;
            }
            // data first: a reply sent before the worker died counts
            if (ok && (s.revents & (POLLIN | POLLHUP | POLLERR))) ok = read_some(L);
            if (ok && (d.revents & POLLIN)) {
                (void)read_some(L);  // it ended: what it sent before counts, then it is gone
                ok = false;
            }
            if (!ok) bury(L);
        }
        if (should_stop(false)) break;  // (asked at most every kStopEvery)
    }
    for (Lent &L : lent)
        if (L.w && stopped && !L.sent.empty()) {
            // Stopped with calls in it: killed (not a crash) and replaced; its calls end cancelled.
            kill_lent(L);
            for (size_t k : L.sent) set_stopped(units[k].first, units[k].count);
            L.sent.clear();
            P->busy.fetch_sub(1, std::memory_order_relaxed);
            P->hand_back(L.w, nullptr, "(its map was stopped)", End::cancel);
            L.w = nullptr;
        }
    for (Lent &L : lent)
        if (L.w) {
            P->busy.fetch_sub(1, std::memory_order_relaxed);
            P->hand_back(L.w, nullptr, nullptr);
        }
    if (stopped) {
        for (size_t k : todo) set_stopped(units[k].first, units[k].count);
        todo.clear();
    }
    if (!todo.empty()) {  // every borrowed worker died: the rest are queued, unless terminate killed them
        bool terminated;
        {
            std::lock_guard<std::mutex> g(P->mu);
            terminated = P->terminating;
        }
        for (size_t k : todo) {
            if (!terminated) {
                rest.push_back(units[k]);
                continue;
            }
            for (size_t i = units[k].first; i < units[k].first + units[k].count; i++)
                set(i, WEFT_ECANCELLED, "the pool was terminated before the call ran", nullptr);
        }
    }
    // The lost units' futures fail once the supervisor reaped their workers.
    for (size_t k : lost) {
        Unit &u = units[k];
        (void)weft_future_wait(u.f, WEFT_FOREVER);
        if (settle(u)) retry.push_back(u);  // (run_map cancels the retries of a stopped map)
        weft_future_destroy(u.f);
        u.f = nullptr;
    }
}

weft_status run_map(MapState &m, size_t chunksize, int64_t timeout_ns) {
    const char *F = m.func;
    if (m.n == 0) return WEFT_OK;
    if (chunksize == 0) {
        // One chunk per worker: every round trip costs wake-ups and system
        // calls (about 1 us each on the VMs we measure on), and the chunks
        // are handed out up front anyway (a second one per worker waits in
        // its socket, kDepth), so more of them balance nothing. Two per worker
        // won while a chunk's reply was 48 bytes per call (its reply was
        // settled while the worker ran the second); packed, one is 7% faster
        // (W7). Python picks 4 per worker; a smaller chunksize still spreads
        // calls of long or uneven times.
        weft_process_pool_stats st;
        weft_process_pool_stats_get(m.pool, &st);
        size_t per = static_cast<size_t>(std::max(1, st.workers));
        chunksize = std::max<size_t>(1, (m.n + per - 1) / per);
    }
    chunksize = std::min<size_t>(chunksize, UINT32_MAX);
    m.code.assign(m.n, WEFT_OK);
    if (m.on_result) m.reported.assign(m.n, 0);
    if (m.results)
        for (size_t i = 0; i < m.n; i++) m.results[i] = nullptr;
    Deadline d(timeout_ns);
    std::vector<Unit> units, retry;
    for (size_t i = 0; i < m.n; i += chunksize) units.push_back(Unit{i, std::min(chunksize, m.n - i)});
    weft_status s = m.round(units, d, retry);
    if (m.stopped) {
        for (const Unit &u : retry) m.set_stopped(u.first, u.count);
        retry.clear();
    }
    if (!retry.empty()) {
        std::vector<Unit> singles, none;
        for (const Unit &u : retry)
            for (size_t i = u.first; i < u.first + u.count; i++) singles.push_back(Unit{i, 1});
        weft_status s2 = m.round(singles, d, none);
        if (s == WEFT_OK) s = s2;
    }
    if (m.codes) std::memcpy(m.codes, m.code.data(), m.n * sizeof(weft_status));
    if (m.stopped) {
        size_t done = 0;
        for (size_t i = 0; i < m.n; i++) done += m.code[i] == WEFT_OK;
        return fail(WEFT_ECANCELLED, "%s: stopped by its stop function (%zu of %zu calls had finished)", F, done, m.n);
    }
    if (m.message.empty() && s != WEFT_ETIMEDOUT) return WEFT_OK;  // every call succeeded (each failure has a message)
    for (size_t i = 0; i < m.n; i++)
        if (m.code[i] != WEFT_OK && m.code[i] != WEFT_ECANCELLED)
            return fail(m.code[i], "%s: call %zu failed: %s", F, i, m.message[i].c_str());
    if (s == WEFT_ETIMEDOUT) return fail(WEFT_ETIMEDOUT, "%s: not every call finished in time", F);
    for (size_t i = 0; i < m.n; i++)
        if (m.code[i] != WEFT_OK) return fail(m.code[i], "%s: call %zu failed: %s", F, i, m.message[i].c_str());
    return WEFT_OK;
}

weft_status check_map(const char *func, weft_process_pool *pool, weft_ptask_fn fn, const weft_bytes *args, size_t n,
                      int64_t timeout_ns) {
    WEFT_CHECK_HANDLE(func, pool);
    if (weft_status s = check_pool(func, pool)) return s;
    if (!fn) return null_arg(func, "fn");
    if (n > 0 && !args) return null_arg(func, "args");
    for (size_t i = 0; i < n; i++)
        if (args[i].size && !args[i].data) return fail(WEFT_EINVAL, "%s: args[%zu].data is NULL with size %zu", func, i, args[i].size);
    WEFT_CHECK_TIMEOUT(func, timeout_ns);
    if (tl_supervisor && tl_supervisor == pool)
        return fail(WEFT_EDEADLK, "%s: called from the pool's own supervisor (a callback)", func);
    return WEFT_OK;
}

// weft_process_pool_map and _map_stoppable (stop may be null).
weft_status ordered_map(const char *F, weft_process_pool *pool, weft_ptask_fn fn, const weft_bytes *args, size_t n,
                        weft_bytes **results, weft_status *codes, size_t chunksize, int64_t timeout_ns,
                        weft_process_pool_stop_fn stop, void *stop_data) noexcept {
    if (weft_status s = check_map(F, pool, fn, args, n, timeout_ns)) return s;
    if (n > 0 && !results) return null_arg(F, "results");
    return guarded(F, [&] {
        MapState m{F, pool, fn, args, n, results, codes, nullptr, nullptr, {}, {}, {}};
        m.stop = stop;
        m.stop_data = stop_data;
        return run_map(m, chunksize, timeout_ns);
    });
}

}  // namespace

extern "C" {

WEFT_API weft_status weft_process_pool_map(weft_process_pool *pool, weft_ptask_fn fn, const weft_bytes *args, size_t n,
                                           weft_bytes **results, weft_status *codes, size_t chunksize,
                                           int64_t timeout_ns) noexcept {
    return ordered_map("weft_process_pool_map", pool, fn, args, n, results, codes, chunksize, timeout_ns, nullptr,
                       nullptr);
}

WEFT_API weft_status weft_process_pool_map_stoppable(weft_process_pool *pool, weft_ptask_fn fn,
                                                     const weft_bytes *args, size_t n, weft_bytes **results,
                                                     weft_status *codes, size_t chunksize, int64_t timeout_ns,
                                                     weft_process_pool_stop_fn stop, void *stop_data) noexcept {
    return ordered_map("weft_process_pool_map_stoppable", pool, fn, args, n, results, codes, chunksize, timeout_ns,
                       stop, stop_data);
}

WEFT_API weft_status weft_process_pool_map_unordered(weft_process_pool *pool, weft_ptask_fn fn,
                                                     const weft_bytes *args, size_t n, size_t chunksize,
                                                     int64_t timeout_ns, weft_process_pool_result_fn on_result,
                                                     void *user_data) noexcept {
    const char *F = "weft_process_pool_map_unordered";
    if (weft_status s = check_map(F, pool, fn, args, n, timeout_ns)) return s;
    if (!on_result) return null_arg(F, "on_result");
    return guarded(F, [&] {
        MapState m{F, pool, fn, args, n, nullptr, nullptr, on_result, user_data, {}, {}, {}};
        return run_map(m, chunksize, timeout_ns);
    });
}

WEFT_API weft_status weft_process_pool_shutdown(weft_process_pool *pool, int wait, int cancel_pending) noexcept {
    const char *F = "weft_process_pool_shutdown";
    WEFT_CHECK_HANDLE(F, pool);
    if (weft_status s = check_pool(F, pool)) return s;
    if (wait && tl_supervisor == pool)
        return fail(WEFT_EDEADLK, "%s: waiting from the pool's own supervisor (a callback) would deadlock", F);
    std::deque<PTask *> q;
    {
        std::lock_guard<std::mutex> g(pool->mu);
        pool->closed = true;
        if (cancel_pending) q = pool->take_queue_locked();
        pool->space_cv.notify_all();
        pool->wake();
    }
    for (PTask *t : q) {
        pool->cancelled.fetch_add(1, std::memory_order_relaxed);
        if (t->future) {
            (void)weft_future_cancel(t->future);  // PENDING: CANCELLED now, callbacks run here
            weft_future_destroy(t->future);
        }
        delete t;
    }
    if (!wait) return WEFT_OK;
    std::unique_lock<std::mutex> g(pool->mu);
    pool->state_cv.wait(g, [&] { return pool->finished; });
    return WEFT_OK;
}

WEFT_API weft_status weft_process_pool_close(weft_process_pool *pool) noexcept {
    WEFT_CHECK_HANDLE("weft_process_pool_close", pool);
    return weft_process_pool_shutdown(pool, 0, 0);
}

WEFT_API weft_status weft_process_pool_terminate(weft_process_pool *pool) noexcept {
    const char *F = "weft_process_pool_terminate";
    WEFT_CHECK_HANDLE(F, pool);
    if (weft_status s = check_pool(F, pool)) return s;
    {
        std::lock_guard<std::mutex> g(pool->mu);
        pool->terminating = true;
    }
    return weft_process_pool_shutdown(pool, 0, 1);
}

WEFT_API weft_status weft_process_pool_join(weft_process_pool *pool, int64_t timeout_ns) noexcept {
    const char *F = "weft_process_pool_join";
    WEFT_CHECK_HANDLE(F, pool);
    if (weft_status s = check_pool(F, pool)) return s;
    WEFT_CHECK_TIMEOUT(F, timeout_ns);
    if (tl_supervisor == pool)
        return fail(WEFT_EDEADLK, "%s: joining from the pool's own supervisor (a callback) would deadlock", F);
    std::unique_lock<std::mutex> g(pool->mu);
    if (!pool->closed) return fail(WEFT_ESTATE, "%s: the pool is still open; call weft_process_pool_close first", F);
    Deadline d(timeout_ns);
    auto done = [&] { return pool->finished; };
    if (d.infinite()) {
        pool->state_cv.wait(g, done);
    } else if (!pool->state_cv.wait_until(g, std::chrono::steady_clock::now() + std::chrono::nanoseconds(d.remaining()), done)) {
        return fail(WEFT_ETIMEDOUT, "%s: the pool's tasks and workers did not finish in time", F);
    }
    return WEFT_OK;
}

WEFT_API void weft_process_pool_destroy(weft_process_pool *pool) noexcept {
    if (!valid(pool)) return;
    if (pool->owner != ::getpid()) return;  // a forked child: the supervisor is not here
    if (tl_supervisor == pool) return;      // documented misuse: cannot free itself
    weft_process_pool_shutdown(pool, 1, 0);
    weft_thread_join(pool->thread, nullptr, WEFT_FOREVER);
    weft_thread_destroy(pool->thread);
    pool->poison();
    delete pool;
}

WEFT_API weft_status weft_process_pool_resize(weft_process_pool *pool, int workers) noexcept {
    const char *F = "weft_process_pool_resize";
    WEFT_CHECK_HANDLE(F, pool);
    if (weft_status s = check_pool(F, pool)) return s;
    if (workers < 1) return fail(WEFT_EINVAL, "%s: workers is %d; use 1 or more", F, workers);
    if (tl_supervisor == pool)
        return fail(WEFT_EDEADLK, "%s: called from the pool's own supervisor (a callback), which does the resizing", F);
    return guarded(F, [&]() -> weft_status {
        std::unique_lock<std::mutex> g(pool->mu);
        if (pool->broken) return fail(WEFT_EBROKEN, "%s: the pool is broken (its restart budget ran out)", F);
        if (pool->closed) return fail(WEFT_ECLOSED, "%s: the pool is closed", F);
        pool->resize_want = workers;
        std::uint64_t mine = ++pool->resize_asked;
        pool->wake();
        pool->state_cv.wait(g, [&] { return pool->resize_done >= mine || pool->finished; });
        if (pool->resize_done < mine) return fail(WEFT_ECLOSED, "%s: the pool ended first", F);
        if (pool->resize_done == mine && pool->resize_status != WEFT_OK)
            return fail(pool->resize_status, "%s: not every new worker started: %s", F, pool->resize_message.c_str());
        return WEFT_OK;
    });
}

WEFT_API weft_status weft_process_pool_stats_get(const weft_process_pool *pool, weft_process_pool_stats *stats) noexcept {
    WEFT_CHECK_HANDLE("weft_process_pool_stats_get", pool);
    if (!stats) return null_arg("weft_process_pool_stats_get", "stats");
    auto *p = const_cast<weft_process_pool *>(pool);
    std::lock_guard<std::mutex> g(p->mu);
    stats->workers = static_cast<int>(p->pids.size());
    stats->busy = p->busy.load(std::memory_order_relaxed);
    stats->queued = static_cast<int64_t>(p->queue.size());
    stats->completed = p->completed.load(std::memory_order_relaxed);
    stats->failed = p->failed.load(std::memory_order_relaxed);
    stats->cancelled = p->cancelled.load(std::memory_order_relaxed);
    stats->timed_out = p->timed_out.load(std::memory_order_relaxed);
    stats->crashed = p->crashed.load(std::memory_order_relaxed);
    stats->replaced = p->replaced.load(std::memory_order_relaxed);
    stats->broken = p->broken ? 1 : 0;
    return WEFT_OK;
}

WEFT_API weft_status weft_process_pool_pids(const weft_process_pool *pool, int64_t *pids, size_t capacity,
                                            size_t *n) noexcept {
    WEFT_CHECK_HANDLE("weft_process_pool_pids", pool);
    if (!n) return null_arg("weft_process_pool_pids", "n");
    if (capacity && !pids) return null_arg("weft_process_pool_pids", "pids");
    auto *p = const_cast<weft_process_pool *>(pool);
    std::lock_guard<std::mutex> g(p->mu);
    *n = p->pids.size();
    for (size_t i = 0; i < capacity && i < p->pids.size(); i++) pids[i] = p->pids[i];
    return WEFT_OK;
}

WEFT_API weft_status weft_process_pool_wake(weft_process_pool *pool, size_t n) noexcept {
    WEFT_CHECK_HANDLE("weft_process_pool_wake", pool);
    return guarded("weft_process_pool_wake", [&]() -> weft_status {
        // Borrow them all first: a worker handed back goes where borrow() takes the next from.
        std::vector<Worker *> woken;
        for (Worker *w; woken.size() < n && (w = pool->borrow());) woken.push_back(w);
        const TaskHdr h{kWake, 0, 0, 0, 0};
        for (Worker *w : woken) {
            const char *where = nullptr;
            for (size_t done = 0; done < sizeof h && !where;) {
                ssize_t r = send_part(w->sock, reinterpret_cast<const char *>(&h), sizeof h, nullptr, 0, done);
                if (r > 0) done += static_cast<size_t>(r);
                else if (r < 0 || wait_worker(*w, POLLOUT) == Ev::dead) where = "while being woken";
            }
            if (where) ::kill(w->pid, SIGKILL);  // (it is ending already, or it closed its socket)
            pool->hand_back(w, nullptr, where);
        }
        return WEFT_OK;
    });
}

}  // extern "C"
