// Queues between threads, with two engines behind one blocking discipline:
// - a bounded FIFO (capacity >= 2), the common case, is a lock-free ring
//   (Vyukov's bounded MPMC queue: a sequence number per slot; producers and
//   consumers each claim a position with one CAS);
// - unbounded FIFOs and LIFOs use a growable ring buffer, priority queues a
//   binary heap, under one WordLock.
// Both block the same way (block_until): try, spin briefly, yield, then sleep
// on an EventCount (not-empty, not-full) that the other side notifies only
// when someone sleeps, so a put or get that need not wait makes no system
// call. On the lock-free ring a side used by one thread claims slots with
// plain stores, no CAS (SideOwner); the notify costs one plain load (ordered
// by the claim CAS, or by the sleeper's membarrier: EventCount::notify_all_after_sc_rmw,
// SideOwner); a waiter spins on the one slot it needs; and each side learns
// how long to spin (SideSpin): long while its spins catch the other side
// running on another CPU, briefly (then yield) while both share a CPU.
//
// A process-scope queue (byte messages) lives in a shared memory segment:
// a header (the producers' side and the consumers' side, each with its own
// robust mutex; the task counter; three process-shared EventCounts) and
// then a byte ring. A message is framed by an 8-byte length and copied
// straight between the caller's buffer and the ring, split in two where it
// wraps past the ring's end (no padding, no second copy). A producer and a
// consumer never take the same mutex: producers serialize among themselves,
// consumers among themselves, and each side publishes its work with one
// release store of its position (the tail, or the head).
// Kill safety: a put copies into free space and a get copies out while
// holding its side's mutex; only then does the side commit, by one store of
// its position. A process killed before that store leaves its half-written
// message invisible, or its half-read one still queued. The counters that
// follow the position (puts, gets, dropped) are made exact by a redo log
// written before the commit, which the next locker, told WEFT_EOWNERDEAD by
// the robust mutex, replays or forgets; callers never see EOWNERDEAD.
// Waiters re-check at least every kRecheckNs, so a peer killed between its
// commit and its wake-up delays the others by at most that.
#include <linux/membarrier.h>
#include <sched.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <new>
#include <vector>

#include <weft/queue.h>

#include "internal/boundary.hpp"
#include "internal/event_count.hpp"
#include "internal/handle.hpp"
#include "internal/robust_mutex.hpp"
#include "internal/shm.hpp"
#include "internal/word_lock.hpp"

namespace weft::detail {
namespace {

// A growable power-of-two ring of pointers: push at the back, pop at either end.
class Ring {
public:
    Ring() = default;
    Ring(const Ring &) = delete;
    Ring &operator=(const Ring &) = delete;
    ~Ring() { std::free(buf_); }

    size_t size() const noexcept { return n_; }

    bool reserve(size_t want) noexcept {
        if (want <= cap_) return true;
        size_t cap = cap_ ? cap_ : 16;
        while (cap < want) cap *= 2;
        void **nb = static_cast<void **>(std::malloc(cap * sizeof(void *)));
        if (!nb) return false;
        for (size_t i = 0; i < n_; i++) nb[i] = buf_[(head_ + i) & (cap_ - 1)];
        std::free(buf_);
        buf_ = nb;
        cap_ = cap;
        head_ = 0;
        return true;
    }

    bool push_back(void *x) noexcept {
        if (n_ == cap_ && !reserve(n_ + 1)) return false;
        buf_[(head_ + n_) & (cap_ - 1)] = x;
        n_++;
        return true;
    }
    void *pop_front() noexcept {
        void *x = buf_[head_];
        head_ = (head_ + 1) & (cap_ - 1);
        n_--;
        return x;
    }
    void *pop_back() noexcept {
        n_--;
        return buf_[(head_ + n_) & (cap_ - 1)];
    }

private:
    void **buf_ = nullptr;
    size_t cap_ = 0, head_ = 0, n_ = 0;
};

// Vyukov's bounded MPMC ring. Each slot's sequence number says whose turn it
// is: `pos` for the producer claiming position pos, `pos + 1` for the consumer
// of pos, and `pos + capacity` for the producer one lap later. Per-producer
// order is kept because a producer claims its positions in program order.
//
// Speed (bench row W3): a claim is one seq_cst CAS, so the wake-up check
// after it needs no fence (EventCount::notify_all_after_sc_rmw); a side with one thread skips the
// CAS (the _alone paths, see SideOwner); a waiter spins on the one slot it
// needs next, not on the other side's position. (Spreading consecutive
// positions over different cache lines was measured and lost: a consumer a
// few items behind reads 4 items per line miss in the plain layout.)
class MpmcRing {
public:
    struct Slot {
        std::atomic<std::uint64_t> seq;
        void *item;
    };

    explicit MpmcRing(size_t capacity)
        : cap_(capacity),
          mask_((capacity & (capacity - 1)) == 0 ? capacity - 1 : 0),
          slots_(new (std::align_val_t{64}) Slot[capacity]) {
        for (size_t i = 0; i < capacity; i++) {
            slots_[i].seq.store(i, std::memory_order_relaxed);
            slots_[i].item = nullptr;
        }
    }
    ~MpmcRing() { operator delete[](slots_, std::align_val_t{64}); }
    MpmcRing(const MpmcRing &) = delete;
    MpmcRing &operator=(const MpmcRing &) = delete;

    bool try_push(void *x) noexcept {
        std::uint64_t pos = tail_.load(std::memory_order_relaxed);
        for (;;) {
            Slot &s = slot(pos);
            std::uint64_t seq = s.seq.load(std::memory_order_acquire);
            auto dif = static_cast<std::int64_t>(seq - pos);
            if (dif == 0) {
                if (tail_.compare_exchange_weak(pos, pos + 1, std::memory_order_seq_cst, std::memory_order_relaxed)) {
                    s.item = x;
                    s.seq.store(pos + 1, std::memory_order_release);
                    return true;
                }
            } else if (dif < 0) {
                return false;  // full
            } else {
                pos = tail_.load(std::memory_order_relaxed);
            }
        }
    }

    bool try_pop(void **x) noexcept {
        std::uint64_t pos = head_.load(std::memory_order_relaxed);
        for (;;) {
            Slot &s = slot(pos);
            std::uint64_t seq = s.seq.load(std::memory_order_acquire);
            auto dif = static_cast<std::int64_t>(seq - (pos + 1));
            if (dif == 0) {
                if (head_.compare_exchange_weak(pos, pos + 1, std::memory_order_seq_cst, std::memory_order_relaxed)) {
                    *x = s.item;
                    s.seq.store(pos + cap_, std::memory_order_release);
                    return true;
                }
            } else if (dif < 0) {
                return false;  // empty
            } else {
                pos = head_.load(std::memory_order_relaxed);
            }
        }
    }

    // The same, for a caller that is the only thread on its side (see
    // SideOwner): its position moves by a plain store, no CAS. The position
    // is stored before the slot is published, as the CAS path does, so who
    // sees the slot also sees the position (puts() >= items got).
    bool try_push_alone(void *x) noexcept {
        std::uint64_t pos = tail_.load(std::memory_order_relaxed);
        Slot &s = slot(pos);
        if (s.seq.load(std::memory_order_acquire) != pos) return false;  // full: no other putter moves the tail
        tail_.store(pos + 1, std::memory_order_relaxed);
        s.item = x;
        s.seq.store(pos + 1, std::memory_order_release);
        return true;
    }
    bool try_pop_alone(void **x) noexcept {
        std::uint64_t pos = head_.load(std::memory_order_relaxed);
        Slot &s = slot(pos);
        if (s.seq.load(std::memory_order_acquire) != pos + 1) return false;  // empty
        head_.store(pos + 1, std::memory_order_relaxed);
        *x = s.item;
        s.seq.store(pos + cap_, std::memory_order_release);
        return true;
    }

    // Spin hints, cheap and local: the slot the next put (get) would use is
    // free (filled), or the position moved on. Reads the slot's line, which
    // that put (get) needs anyway, and not the other side's position.
    bool push_may_succeed() const noexcept {
        std::uint64_t pos = tail_.load(std::memory_order_relaxed);
        return static_cast<std::int64_t>(slot(pos).seq.load(std::memory_order_acquire) - pos) >= 0;
    }
    bool pop_may_succeed() const noexcept {
        std::uint64_t pos = head_.load(std::memory_order_relaxed);
        return static_cast<std::int64_t>(slot(pos).seq.load(std::memory_order_acquire) - (pos + 1)) >= 0;
    }

    // Checks after announcing a wait: seq_cst loads of the positions, which
    // pair with the claims' seq_cst CAS (see EventCount::notify_all_after_sc_rmw). A claimed but
    // not yet filled slot counts as ready: its filler is a moment away.
    bool has_items_sc() const noexcept {
        std::uint64_t h = head_.load(std::memory_order_seq_cst), t = tail_.load(std::memory_order_seq_cst);
        return static_cast<std::int64_t>(t - h) > 0;
    }
    bool has_room_sc() const noexcept {
        std::uint64_t t = tail_.load(std::memory_order_seq_cst), h = head_.load(std::memory_order_seq_cst);
        return static_cast<std::int64_t>(t - h) < static_cast<std::int64_t>(cap_);
    }

    // Items put so far (claimed positions), a snapshot.
    std::uint64_t puts() const noexcept { return tail_.load(std::memory_order_acquire); }

    std::int64_t size() const noexcept {
        std::uint64_t h = head_.load(std::memory_order_acquire), t = tail_.load(std::memory_order_acquire);
        auto n = static_cast<std::int64_t>(t - h);
        return n < 0 ? 0 : (n > static_cast<std::int64_t>(cap_) ? static_cast<std::int64_t>(cap_) : n);
    }

private:
    Slot &slot(std::uint64_t pos) const noexcept { return slots_[mask_ ? (pos & mask_) : (pos % cap_)]; }

    const size_t cap_;
    const std::uint64_t mask_;  // capacity - 1 for a power of two, else 0 (use %)
    Slot *const slots_;
    alignas(64) std::atomic<std::uint64_t> tail_{0};
    alignas(64) std::atomic<std::uint64_t> head_{0};
};

struct PrioItem {
    std::int64_t prio;
    std::uint64_t seq;  // FIFO among equal priorities
    void *item;
};
// std heap functions build a max-heap; "less" = comes out later.
struct ComesOutLater {
    bool operator()(const PrioItem &a, const PrioItem &b) const noexcept {
        return a.prio != b.prio ? a.prio > b.prio : a.seq > b.seq;
    }
};

constexpr int kSpins = 200, kYields = 4;  // before a waiter sleeps
constexpr std::int64_t kUnsettledNs = 1000000;  // see block_fast
// How long one side of the lock-free ring (its putters, or its getters)
// spins before it yields, learned from whether its recent spins caught the
// other side. A spin pays when the other side runs on another CPU: the slot
// turns within a microsecond. When both share a CPU (a loaded machine), every
// spin only delays the other side, which runs once we yield: then spin
// briefly, and every kProbeEvery-th wait spin long again to notice the
// threads moved apart. Relaxed loads and stores, a lost update only shifts
// one decision; touched only by waiters.
class SideSpin {
public:
    template <class Ready>
    bool spin(Ready &&ready) noexcept {
        std::uint32_t st = state_.load(std::memory_order_relaxed);
        std::uint32_t score = st & kScoreMask, tick = (st >> kTickShift) + 1;
        int n = (score > 0 || tick % kProbeEvery == 0) ? kSpins : kShortSpins;
        for (int i = 0; i < n; i++) {
            if (ready()) {
                if (score != kMaxScore) state_.store((tick << kTickShift) | kMaxScore, std::memory_order_relaxed);
                return true;
            }
            futex::cpu_relax();
        }
        state_.store((tick << kTickShift) | (score > 0 ? score - 1 : 0), std::memory_order_relaxed);
        for (int i = 0; i < kYields; i++) {
            sched_yield();
            if (ready()) return true;
        }
        return false;
    }

private:
    static constexpr int kShortSpins = 16;  // measured: 0, 4 and 16 alike on 1P1C; 16 best on 2P2C
    static constexpr std::uint32_t kProbeEvery = 16, kMaxScore = 8, kScoreMask = 15;
    static constexpr int kTickShift = 4;
    alignas(64) std::atomic<std::uint32_t> state_{kMaxScore};
};

// ---- one thread per side: no CAS --------------------------------------------
//
// Most bounded queues have one producer thread, or one consumer thread, or
// both. The ring's claim CAS is then most of a put's or get's cost (a locked
// instruction drains the store buffer), so a side used by one thread only
// moves its position with plain stores. The first thread to use a side owns
// it; when a second thread arrives, the side turns shared for good: the
// newcomer announces it, waits out the owner's operation in flight, and from
// then on everyone claims with the CAS.
//
// The announcement and the owner's "in flight" flag form a Dekker pair, made
// asymmetric with membarrier(2): the owner's side (every operation) needs
// only a compiler barrier; the newcomer's side (once per queue side) makes
// every running thread of the process execute a full barrier. The same trick
// replaces the fence the wake-up protocol needs: a waiter about to sleep
// issues the heavy barrier (only while the other side may use plain stores),
// so the notifier's check for sleepers stays one plain load.
// Without membarrier (old kernels, filters) every side starts shared.

// Registers the process for expedited private barriers, once.
bool membarrier_ok() noexcept {
    static const bool ok = syscall(__NR_membarrier, MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED, 0, 0) == 0;
    return ok;
}

// A full memory barrier on every running thread of this process.
bool heavy_fence() noexcept { return syscall(__NR_membarrier, MEMBARRIER_CMD_PRIVATE_EXPEDITED, 0, 0) == 0; }

thread_local char tl_side_key [[gnu::tls_model("initial-exec")]] = 0;

class SideOwner {
public:
    static constexpr std::uint32_t kAlone = 0, kSwitching = 1, kShared = 2;

    void init(bool may_be_alone) noexcept {
        state_.store(may_be_alone ? kAlone : kShared, std::memory_order_relaxed);
    }

    // True: the caller is the side's one thread and may use the plain path
    // until leave(). False: use the CAS path (the side is, or now turns, shared).
    bool enter() noexcept {
        // Acquire: pairs with the store of kShared, made after the owner's
        // last plain operation ended, so the CAS path sees its positions.
        if (state_.load(std::memory_order_acquire) == kShared) return false;
        const std::uintptr_t me = reinterpret_cast<std::uintptr_t>(&tl_side_key);
        std::uintptr_t o = owner_.load(std::memory_order_relaxed);
        if (__builtin_expect(o == me, 1)) {
            busy_.store(1, std::memory_order_relaxed);
            std::atomic_signal_fence(std::memory_order_seq_cst);  // the light half; see heavy_fence()
            if (__builtin_expect(state_.load(std::memory_order_relaxed) == kAlone, 1)) return true;
            busy_.store(0, std::memory_order_release);
            return false;
        }
        return enter_slow(o, me);
    }
    void leave() noexcept { busy_.store(0, std::memory_order_release); }

    // Before a waiter of the *other* side checks its condition and sleeps:
    // false when a plain-path publication could still be missed and the
    // heavy barrier failed (then the caller must not sleep long).
    bool settle_for_sleep() const noexcept {
        if (state_.load(std::memory_order_acquire) == kShared) return true;
        return heavy_fence();
    }

private:
    [[gnu::noinline]] bool enter_slow(std::uintptr_t o, std::uintptr_t me) noexcept {
        std::uint32_t st = state_.load(std::memory_order_acquire);
        if (st == kShared) return false;
        if (st == kAlone && o == 0 && owner_.compare_exchange_strong(o, me, std::memory_order_acq_rel))
            return enter();  // the first thread: the side is ours
        // A second thread: turn the side shared (or wait for whoever does).
        if (st == kAlone && state_.compare_exchange_strong(st, kSwitching, std::memory_order_seq_cst)) {
            // After the barrier the owner sees kSwitching at its next enter();
            // an operation it began before is seen as busy_ until it ends.
            if (!heavy_fence()) {
                // Cannot fail once registered. Were it to, an owner that read
                // kAlone before our store shows busy_ within the time its
                // store buffer takes to drain (nanoseconds; a context switch
                // drains it too): wait that out a million times over.
                wait_while([&] { return busy_.load(std::memory_order_acquire) != 0; });
                struct timespec ms = {0, 1000000};
                nanosleep(&ms, nullptr);
            }
            wait_while([&] { return busy_.load(std::memory_order_acquire) != 0; });
            state_.store(kShared, std::memory_order_release);
            return false;
        }
        wait_while([&] { return state_.load(std::memory_order_acquire) != kShared; });
        return false;
    }

    template <class Cond>
    static void wait_while(Cond &&cond) noexcept {
        for (int i = 0; cond(); i++) {
            if (i < 64) futex::cpu_relax();
            else sched_yield();  // the owner was preempted mid-operation: let it run
        }
    }

    std::atomic<std::uintptr_t> owner_{0};  // the thread that uses the plain path; 0 = none yet
    std::atomic<std::uint32_t> state_{kShared};
    std::atomic<std::uint32_t> busy_{0};    // the owner is inside a plain-path operation
};

constexpr size_t kPrealloc = 1024;
// Bounded FIFOs of capacity 2 up to this get the lock-free ring (its slots
// are allocated up front: 16 bytes each). Capacity 1 cannot use it: a slot's
// "ready to read pos" and "ready to write pos + 1" numbers would be equal.
constexpr size_t kMaxFastCapacity = size_t{1} << 20;

// ---- process scope: the layout of the shared segment ----------------------

constexpr std::uint32_t kSharedLayout = 1;   // kind_version of Kind::queue payloads
constexpr std::uint64_t kFrame = WEFT_QUEUE_MESSAGE_OVERHEAD;  // the length before each message
static_assert(kFrame == sizeof(std::uint64_t), "a frame is one 64-bit length");
constexpr std::uint64_t kMaxRing = std::uint64_t{1} << 40;
constexpr std::int64_t kRecheckNs = 100 * 1000 * 1000;  // longest sleep without a re-check
constexpr int kLockSpins = 100;  // trylocks before sleeping on a held mutex

constexpr std::uint32_t kOpen = 0, kClosed = 1, kDropped = 2;  // SharedHeader::closed

// One side of the queue: the producers, or the consumers. Each side has its
// own robust mutex, so a producer and a consumer never wait for each other;
// each commits with one store to `pos` (the tail, or the head). The counters
// that follow it are made exact again after a death by a redo log written
// before the commit.
struct alignas(64) Side {
    // Private to the side (only its lockers touch it):
    RobustMutex mutex;                    // serializes this side
    std::atomic<std::uint64_t> log_pos, log_count, log_dropped;  // the commit in progress
    std::atomic<std::uint32_t> log_valid;
    // The other side's position and count as last read (they only grow, so
    // stale values only understate what is there): saves reading the
    // other side's cache line on every operation.
    std::atomic<std::uint64_t> seen_pos, seen_count;
    // Published, read by the other side (a cache line of its own):
    alignas(64) std::atomic<std::uint64_t> pos;  // tail or head: byte position, grows forever; the commit word
    std::atomic<std::uint64_t> count;     // messages put, or got
    std::atomic<std::uint64_t> dropped;   // consumers: messages dropped by an immediate shutdown

    // Under the mutex. Everything before the store to `pos` is invisible.
    void commit(std::uint64_t p, std::uint64_t c, std::uint64_t d) noexcept {
        log_pos.store(p, std::memory_order_relaxed);
        log_count.store(c, std::memory_order_relaxed);
        log_dropped.store(d, std::memory_order_relaxed);
        log_valid.store(1, std::memory_order_release);
        pos.store(p, std::memory_order_release);  // the commit point
        count.store(c, std::memory_order_release);
        dropped.store(d, std::memory_order_release);
        log_valid.store(0, std::memory_order_release);
    }

    // Under the mutex, after the holder died: finish its commit if it got
    // past the commit point, else forget it.
    void repair() noexcept {
        if (log_valid.load(std::memory_order_acquire) &&
            pos.load(std::memory_order_relaxed) == log_pos.load(std::memory_order_relaxed)) {
            count.store(log_count.load(std::memory_order_relaxed), std::memory_order_release);
            dropped.store(log_dropped.load(std::memory_order_relaxed), std::memory_order_release);
        }
        log_valid.store(0, std::memory_order_release);
    }
};

struct alignas(64) SharedHeader {
    std::uint64_t ring_bytes;   // constant after set-up
    std::uint64_t capacity;     // messages; 0 = no count bound
    std::uint64_t max_message;  // largest message accepted
    std::atomic<std::uint32_t> closed;  // kOpen, kClosed, kDropped; set under the producers' mutex
    Side prod;                  // pos = tail, count = puts
    Side cons;                  // pos = head, count = gets
    alignas(64) std::atomic<std::uint64_t> done;  // task_done calls in all processes
    alignas(64) EventCount not_empty;
    alignas(64) EventCount not_full;
    alignas(64) EventCount all_done;

    unsigned char *ring() noexcept { return reinterpret_cast<unsigned char *>(this) + sizeof(SharedHeader); }

    std::uint32_t state() const noexcept { return closed.load(std::memory_order_acquire); }

    // Messages queued (a snapshot; exact under both mutexes).
    std::uint64_t queued() const noexcept {
        if (state() == kDropped) return 0;
        std::uint64_t got = cons.count.load(std::memory_order_acquire) + cons.dropped.load(std::memory_order_acquire);
        std::uint64_t put = prod.count.load(std::memory_order_acquire);
        return put > got ? put - got : 0;
    }

    // Room for a frame of `need` bytes, given the tail and the put count
    // and what the consumers have freed (head, got + dropped).
    bool room_for(std::uint64_t tail, std::uint64_t puts, std::uint64_t head, std::uint64_t freed,
                  std::uint64_t need) const noexcept {
        return ring_bytes - (tail - head) >= need && (capacity == 0 || puts - freed < capacity);
    }
    std::uint64_t freed_now() const noexcept {
        return cons.count.load(std::memory_order_acquire) + cons.dropped.load(std::memory_order_acquire);
    }
    bool room_now(std::uint64_t need) const noexcept {
        return room_for(prod.pos.load(std::memory_order_acquire), prod.count.load(std::memory_order_acquire),
                        cons.pos.load(std::memory_order_acquire), freed_now(), need);
    }

    // Puts not yet finished by task_done or dropped (read in an order that
    // can only overstate it).
    std::int64_t pending_tasks() const noexcept {
        std::uint64_t d = done.load(std::memory_order_acquire);
        std::uint64_t dr = cons.dropped.load(std::memory_order_acquire);
        std::uint64_t p = prod.count.load(std::memory_order_acquire);
        return static_cast<std::int64_t>(p - dr - d);
    }

    // Copy between a buffer and the ring at byte position `pos`, in two
    // pieces where it wraps past the end.
    void copy_in(std::uint64_t pos, const void *src, std::uint64_t n) noexcept {
        if (n == 0) return;
        std::uint64_t off = pos % ring_bytes, first = n < ring_bytes - off ? n : ring_bytes - off;
        std::memcpy(ring() + off, src, first);
        if (first < n) std::memcpy(ring(), static_cast<const unsigned char *>(src) + first, n - first);
    }
    void copy_out(std::uint64_t pos, void *dst, std::uint64_t n) noexcept {
        if (n == 0) return;
        std::uint64_t off = pos % ring_bytes, first = n < ring_bytes - off ? n : ring_bytes - off;
        std::memcpy(dst, ring() + off, first);
        if (first < n) std::memcpy(static_cast<unsigned char *>(dst) + first, ring(), n - first);
    }
};
static_assert(std::atomic<std::uint64_t>::is_always_lock_free, "shared atomics must be address free");

constexpr shm::Spec shared_spec(const char *func, std::size_t ring_bytes) noexcept {
    return shm::Spec{func, shm::Kind::queue, kSharedLayout, sizeof(SharedHeader) + ring_bytes};
}

}  // namespace
}  // namespace weft::detail

using namespace weft::detail;

struct weft_queue : Handle<Magic::queue> {
    int kind = WEFT_QUEUE_FIFO;
    size_t capacity = 0;  // 0 = unbounded
    weft_free_fn item_free = nullptr;

    std::atomic<bool> closed{false};   // shutdown called: puts fail, gets drain
    std::atomic<bool> dropped{false};  // immediate shutdown: gets fail at once
    // Each on a line of its own: a waiter writes its word, the other side
    // only reads it on every put or get.
    alignas(64) EventCount not_empty;
    alignas(64) EventCount not_full;
    alignas(64) EventCount all_done;

    // Engine 1: the lock-free bounded FIFO.
    MpmcRing *fast = nullptr;
    SideSpin put_spin, get_spin;  // each on a line of its own
    alignas(64) SideOwner putters;
    alignas(64) SideOwner getters;
    std::atomic<std::uint64_t> done{0};  // task_done calls plus items dropped by an immediate shutdown

    // Engine 2: everything else, under `lock`.
    WordLock lock;
    Ring ring;                           // FIFO, LIFO
    std::vector<PrioItem> heap;          // PRIORITY
    std::uint64_t prio_seq = 0;
    std::atomic<std::int64_t> count{0};  // items queued; written under the lock, read anywhere
    std::atomic<std::int64_t> unfinished{0};

    // Process scope: the segment and its header (NULL for thread scope).
    shm::Segment seg;
    SharedHeader *shared = nullptr;

    ~weft_queue() {
        void *x;
        if (!shared)
            while (take(&x))
                if (item_free) item_free(x);
        delete fast;
    }

    std::int64_t size() const noexcept { return fast ? fast->size() : count.load(std::memory_order_relaxed); }
    bool full() const noexcept { return capacity != 0 && size() >= static_cast<std::int64_t>(capacity); }
    std::int64_t pending_tasks() const noexcept {
        return fast ? static_cast<std::int64_t>(fast->puts() - done.load(std::memory_order_acquire))
                    : unfinished.load(std::memory_order_acquire);
    }

    // One attempt to put without waiting: WEFT_OK, WEFT_ENOMEM, or 1 (full).
    int offer(void *item, std::int64_t prio) noexcept {
        if (fast) return fast->try_push(item) ? WEFT_OK : 1;
        lock.lock_forever();
        if (full()) {
            lock.unlock();
            return 1;
        }
        bool pushed;
        if (kind == WEFT_QUEUE_PRIORITY) {
            try {
                heap.push_back(PrioItem{prio, prio_seq++, item});
                std::push_heap(heap.begin(), heap.end(), ComesOutLater{});
                pushed = true;
            } catch (...) {
                pushed = false;
            }
        } else {
            pushed = ring.push_back(item);
        }
        if (pushed) {
            count.store(count.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
            unfinished.fetch_add(1, std::memory_order_relaxed);
        }
        lock.unlock();
        return pushed ? WEFT_OK : WEFT_ENOMEM;
    }

    // One attempt to take an item without waiting.
    bool take(void **item) noexcept {
        if (fast) return pop_once(item);
        lock.lock_forever();
        bool got = count.load(std::memory_order_relaxed) > 0;
        if (got) {
            if (kind == WEFT_QUEUE_PRIORITY) {
                std::pop_heap(heap.begin(), heap.end(), ComesOutLater{});
                *item = heap.back().item;
                heap.pop_back();
            } else {
                *item = kind == WEFT_QUEUE_LIFO ? ring.pop_back() : ring.pop_front();
            }
            count.store(count.load(std::memory_order_relaxed) - 1, std::memory_order_relaxed);
        }
        lock.unlock();
        return got;
    }

    // Spin briefly on `ready` before sleeping: the other side is often a
    // moment away, and a futex round trip costs microseconds. Then yield a
    // few times, which lets the other side run when both share one CPU.
    template <class Ready>
    static bool spin_until(Ready &&ready) noexcept {
        for (int i = 0; i < kSpins; i++) {
            if (ready()) return true;
            futex::cpu_relax();
        }
        for (int i = 0; i < kYields; i++) {
            sched_yield();
            if (ready()) return true;
        }
        return false;
    }

    // The one blocking discipline: `attempt` returns WEFT_OK or a failure
    // (done) or 1 (not yet); `ready` says cheaply whether another attempt may
    // succeed. Sleeps on `ec` until notified or the deadline passes; a last
    // attempt is made at the deadline.
    // `ready_sc` is the check made after announcing the wait, which must see
    // whatever the notifier published before its notify (EventCount::notify_all_after_sc_rmw).
    template <class Attempt, class Spin, class ReadySc>
    static weft_status block_until(EventCount &ec, Deadline &d, Attempt &&attempt, Spin &&spin,
                                   ReadySc &&ready_sc) noexcept {
        for (;;) {
            int r = attempt();
            if (r <= 0) return r;
            if (d.poll()) return WEFT_ETIMEDOUT;
            if (spin()) continue;
            std::uint32_t key = ec.prepare_wait();
            if (ready_sc()) {
                ec.cancel_wait(key);
                continue;
            }
            futex::WaitResult w = ec.wait(key, d.abs());
            if (w == futex::WaitResult::timed_out || d.expired()) {
                r = attempt();
                return r <= 0 ? r : WEFT_ETIMEDOUT;
            }
        }
    }

    // One attempt on the lock-free ring, by the side's one thread (plain
    // stores) or by any of several (CAS).
    bool push_once(void *item) noexcept {
        if (putters.enter()) {
            bool ok = fast->try_push_alone(item);
            putters.leave();
            return ok;
        }
        return fast->try_push(item);
    }
    bool pop_once(void **item) noexcept {
        if (getters.enter()) {
            bool ok = fast->try_pop_alone(item);
            getters.leave();
            return ok;
        }
        return fast->try_pop(item);
    }

    // The blocking discipline of the lock-free ring: as block_until, but a
    // waiter about to sleep first settles the other side (SideOwner), whose
    // publications pair with its check only then; if that fails it sleeps
    // at most kUnsettledNs at a time.
    template <class Attempt, class Spin, class ReadySc>
    static weft_status block_fast(EventCount &ec, SideOwner &other, Deadline &d, Attempt &&attempt, Spin &&spin,
                                  ReadySc &&ready_sc) noexcept {
        for (;;) {
            int r = attempt();
            if (r <= 0) return r;
            if (d.poll()) return WEFT_ETIMEDOUT;
            if (spin()) continue;
            std::uint32_t key = ec.prepare_wait();
            bool settled = other.settle_for_sleep();
            if (ready_sc()) {
                ec.cancel_wait(key);
                continue;
            }
            std::int64_t abs = d.abs();
            if (!settled) {
                std::int64_t soon = monotonic_now() + kUnsettledNs;
                if (soon < abs) abs = soon;
            }
            futex::WaitResult w = ec.wait(key, abs);
            if ((w == futex::WaitResult::timed_out && settled) || d.expired()) {
                r = attempt();
                return r <= 0 ? r : WEFT_ETIMEDOUT;
            }
        }
    }

    // The lock-free ring: the notify after a claim needs no fence (the claim
    // was a seq_cst CAS, or the sleeper issued the heavy barrier); a waiter
    // spins on the slot it needs next.
    weft_status put_fast(void *item, Deadline &d) noexcept {
        MpmcRing &r = *fast;
        weft_status s = block_fast(
            not_full, getters, d,
            [&]() -> int {
                if (closed.load(std::memory_order_acquire)) return WEFT_ECLOSED;
                return push_once(item) ? WEFT_OK : 1;
            },
            [&] { return put_spin.spin([&] { return r.push_may_succeed() || closed.load(std::memory_order_relaxed); }); },
            [&] { return r.has_room_sc() || closed.load(std::memory_order_relaxed); });
        if (s == WEFT_OK) not_empty.notify_all_after_sc_rmw();
        return s;
    }

    weft_status get_fast(void **item, Deadline &d) noexcept {
        MpmcRing &r = *fast;
        weft_status s = block_fast(
            not_empty, putters, d,
            [&]() -> int {
                if (dropped.load(std::memory_order_acquire)) return WEFT_ECLOSED;
                bool was_closed = closed.load(std::memory_order_acquire);
                if (pop_once(item)) return WEFT_OK;
                return was_closed ? WEFT_ECLOSED : 1;  // closed and drained
            },
            [&] { return get_spin.spin([&] { return r.pop_may_succeed() || closed.load(std::memory_order_relaxed); }); },
            [&] { return r.has_items_sc() || closed.load(std::memory_order_relaxed); });
        if (s == WEFT_OK) not_full.notify_all_after_sc_rmw();
        return s;
    }

    weft_status put(void *item, std::int64_t prio, Deadline &d) noexcept {
        if (fast) return put_fast(item, d);
        auto ready = [&] { return !full() || closed.load(std::memory_order_relaxed); };
        weft_status s = block_until(
            not_full, d,
            [&]() -> int {
                if (closed.load(std::memory_order_acquire)) return WEFT_ECLOSED;
                return offer(item, prio);
            },
            [&] { return spin_until(ready); }, ready);
        if (s == WEFT_OK) not_empty.notify_all();
        else if (s == WEFT_ENOMEM) return fail(WEFT_ENOMEM, "weft_queue_put: out of memory growing the queue");
        return s;
    }

    weft_status get(void **item, Deadline &d) noexcept {
        if (fast) return get_fast(item, d);
        auto ready = [&] { return size() > 0 || closed.load(std::memory_order_relaxed); };
        weft_status s = block_until(
            not_empty, d,
            [&]() -> int {
                if (dropped.load(std::memory_order_acquire)) return WEFT_ECLOSED;
                bool was_closed = closed.load(std::memory_order_acquire);
                if (take(item)) return WEFT_OK;
                return was_closed ? WEFT_ECLOSED : 1;  // closed and drained
            },
            [&] { return spin_until(ready); }, ready);
        if (s == WEFT_OK) not_full.notify_all();
        return s;
    }

    weft_status task_done() noexcept {
        std::int64_t left;
        if (fast) {
            std::uint64_t n = done.fetch_add(1, std::memory_order_acq_rel) + 1;
            left = static_cast<std::int64_t>(fast->puts() - n);
            if (left < 0) done.fetch_sub(1, std::memory_order_acq_rel);
        } else {
            left = unfinished.fetch_sub(1, std::memory_order_acq_rel) - 1;
            if (left < 0) unfinished.fetch_add(1, std::memory_order_acq_rel);
        }
        if (left < 0) return fail(WEFT_ESTATE, "weft_queue_task_done: called more times than items were put");
        if (left == 0) all_done.notify_all();
        return WEFT_OK;
    }

    weft_status join(Deadline &d) noexcept {
        auto ready = [&] { return pending_tasks() <= 0; };
        return block_until(
            all_done, d, [&]() -> int { return pending_tasks() <= 0 ? WEFT_OK : 1; },
            [&] { return spin_until(ready); }, ready);
    }

    // ---- process scope ------------------------------------------------------

    // Lock one side's mutex within `d` (a poll still waits briefly for a
    // holder that is copying). A holder that died left the committed state
    // whole: finish or forget its commit, wake everyone in case it died
    // between its commit and its wake-up, and go on; callers never see
    // EOWNERDEAD.
    weft_status lock_side(const char *func, Side &side, Deadline &d) noexcept {
        SharedHeader &h = *shared;
        Deadline now(0);
        weft_status s = side.mutex.lock(now);
        if (__builtin_expect(s == WEFT_OK, 1)) return WEFT_OK;
        // Held: the holder is copying a message and will be done in a
        // moment; retrying briefly beats sleeping in the kernel and being
        // woken (two system calls on each side).
        for (int i = 0; i < kLockSpins && s == WEFT_ETIMEDOUT; i++) {
            futex::cpu_relax();
            s = side.mutex.lock(now);
        }
        if (s == WEFT_ETIMEDOUT) {
            if (__builtin_expect(d.poll(), 0)) {
                Deadline brief(kRecheckNs / 10);
                s = side.mutex.lock(brief);
            } else {
                s = side.mutex.lock(d);
            }
        }
        if (__builtin_expect(s == WEFT_OK, 1)) return WEFT_OK;
        if (s == WEFT_EOWNERDEAD) {
            side.repair();
            if (side.mutex.make_consistent() != WEFT_OK) {
                (void)side.mutex.unlock();
                return fail(WEFT_ENOTRECOVERABLE, "%s: the queue's mutex cannot be made consistent", func);
            }
            h.not_empty.notify_all(true);
            h.not_full.notify_all(true);
            h.all_done.notify_all(true);
            return WEFT_OK;
        }
        if (s == WEFT_ETIMEDOUT) return s;
        if (s == WEFT_ENOTRECOVERABLE)
            return fail(WEFT_ENOTRECOVERABLE, "%s: the queue's mutex is not recoverable", func);
        return fail(s, "%s: cannot lock the queue's mutex (%s)", func, weft_status_name(s));
    }

    // The blocking discipline of process scope: as block_until, with
    // process-shared wake-ups and a re-check at least every kRecheckNs.
    template <class Attempt, class Ready>
    static weft_status shared_block(EventCount &ec, Deadline &d, Attempt &&attempt, Ready &&ready) noexcept {
        for (;;) {
            int r = attempt();
            if (r <= 0) return r;
            if (d.poll() || d.expired()) return WEFT_ETIMEDOUT;
            if (spin_until(ready)) continue;
            std::uint32_t key = ec.prepare_wait();
            if (ready()) {
                ec.cancel_wait(key);
                continue;
            }
            std::int64_t until = monotonic_now() + kRecheckNs, abs = d.abs();
            (void)ec.wait(key, abs < until ? abs : until, true);
        }
    }

    weft_status put_bytes(const void *data, std::uint64_t len, Deadline &d) noexcept {
        constexpr const char *func = "weft_queue_put_bytes";
        SharedHeader &h = *shared;
        if (len > h.max_message)
            return fail(WEFT_EMSGSIZE, "%s: a message of %llu bytes; this queue takes at most %llu", func,
                        static_cast<unsigned long long>(len), static_cast<unsigned long long>(h.max_message));
        const std::uint64_t need = kFrame + len;
        Side &side = h.prod;
        weft_status s = shared_block(
            h.not_full, d,
            [&]() -> int {
                if (weft_status ls = lock_side(func, side, d)) return ls;
                if (h.state() != kOpen) {
                    (void)side.mutex.unlock();
                    return WEFT_ECLOSED;
                }
                std::uint64_t tail = side.pos.load(std::memory_order_relaxed);
                std::uint64_t puts = side.count.load(std::memory_order_relaxed);
                if (!h.room_for(tail, puts, side.seen_pos.load(std::memory_order_relaxed),
                                side.seen_count.load(std::memory_order_relaxed), need)) {
                    // The cached view is stale: look at the consumers' side.
                    std::uint64_t freed = h.freed_now();
                    std::uint64_t head = h.cons.pos.load(std::memory_order_acquire);
                    side.seen_count.store(freed, std::memory_order_relaxed);
                    side.seen_pos.store(head, std::memory_order_relaxed);
                    if (!h.room_for(tail, puts, head, freed, need)) {
                        (void)side.mutex.unlock();
                        return 1;
                    }
                }
                std::uint64_t frame = len;
                h.copy_in(tail, &frame, kFrame);
                h.copy_in(tail + kFrame, data, len);
                side.commit(tail + need, puts + 1, 0);
                (void)side.mutex.unlock();
                return WEFT_OK;
            },
            [&] { return h.state() != kOpen || h.room_now(need); });
        if (s == WEFT_OK) h.not_empty.notify_all(true);
        return s;
    }

    // Take the oldest message: `sink(len, &dst)` says where its bytes go
    // (WEFT_OK) or refuses (a status; the message stays queued).
    template <class Sink>
    weft_status get_bytes(const char *func, Deadline &d, Sink &&sink) noexcept {
        SharedHeader &h = *shared;
        Side &side = h.cons;
        weft_status s = shared_block(
            h.not_empty, d,
            [&]() -> int {
                if (weft_status ls = lock_side(func, side, d)) return ls;
                // `closed` before the tail: once it reads closed, the tail
                // read after it is the last one.
                std::uint32_t st = h.state();
                std::uint64_t head = side.pos.load(std::memory_order_relaxed);
                std::uint64_t tail = side.seen_pos.load(std::memory_order_relaxed);
                if (head == tail && st != kDropped) {
                    tail = h.prod.pos.load(std::memory_order_acquire);
                    side.seen_pos.store(tail, std::memory_order_relaxed);
                }
                if (st == kDropped || head == tail) {
                    (void)side.mutex.unlock();
                    return st != kOpen ? WEFT_ECLOSED : 1;
                }
                std::uint64_t len;
                h.copy_out(head, &len, kFrame);
                if (len > h.max_message || len > tail - head - kFrame) {
                    (void)side.mutex.unlock();
                    return fail(WEFT_ENOTRECOVERABLE, "%s: the queue's memory is damaged (a frame of %llu bytes)",
                                func, static_cast<unsigned long long>(len));
                }
                void *dst = nullptr;
                if (weft_status ss = sink(len, &dst)) {
                    (void)side.mutex.unlock();
                    return ss;
                }
                h.copy_out(head + kFrame, dst, len);
                side.commit(head + kFrame + len, side.count.load(std::memory_order_relaxed) + 1,
                            side.dropped.load(std::memory_order_relaxed));
                (void)side.mutex.unlock();
                return WEFT_OK;
            },
            [&] {
                return h.state() != kOpen ||
                       h.prod.pos.load(std::memory_order_acquire) != h.cons.pos.load(std::memory_order_acquire);
            });
        if (s == WEFT_OK) h.not_full.notify_all(true);
        return s;
    }

    // One CAS: a task can be done only once it was got.
    weft_status shared_task_done() noexcept {
        SharedHeader &h = *shared;
        std::uint64_t d = h.done.load(std::memory_order_acquire);
        do {
            if (d >= h.cons.count.load(std::memory_order_acquire))
                return fail(WEFT_ESTATE, "weft_queue_task_done: called more times than items were got");
        } while (!h.done.compare_exchange_weak(d, d + 1, std::memory_order_acq_rel, std::memory_order_acquire));
        if (h.pending_tasks() <= 0) h.all_done.notify_all(true);
        return WEFT_OK;
    }

    weft_status shared_join(Deadline &d) noexcept {
        SharedHeader &h = *shared;
        return shared_block(
            h.all_done, d, [&]() -> int { return h.pending_tasks() <= 0 ? WEFT_OK : 1; },
            [&] { return h.pending_tasks() <= 0; });
    }

    weft_status shared_shutdown(bool immediate) noexcept {
        constexpr const char *func = "weft_queue_shutdown";
        SharedHeader &h = *shared;
        Deadline d = Deadline::forever();
        // Under the producers' mutex, so no put commits after it.
        if (weft_status ls = lock_side(func, h.prod, d)) return ls;
        if (!immediate) {
            if (h.state() == kOpen) h.closed.store(kClosed, std::memory_order_release);
        } else {
            if (weft_status ls = lock_side(func, h.cons, d)) {
                (void)h.prod.mutex.unlock();
                return ls;
            }
            // The flag drops the queued messages (one store); the
            // consumers' commit then frees their room and finishes their tasks.
            h.closed.store(kDropped, std::memory_order_release);
            std::uint64_t tail = h.prod.pos.load(std::memory_order_relaxed);
            std::uint64_t puts = h.prod.count.load(std::memory_order_relaxed);
            std::uint64_t gets = h.cons.count.load(std::memory_order_relaxed);
            std::uint64_t before = h.cons.dropped.load(std::memory_order_relaxed);
            std::uint64_t gone = puts - gets - before;  // queued, not yet dropped
            h.cons.seen_pos.store(tail, std::memory_order_relaxed);
            h.cons.commit(tail, gets, before + gone);
            (void)h.cons.mutex.unlock();
        }
        (void)h.prod.mutex.unlock();
        h.not_empty.notify_all(true);
        h.not_full.notify_all(true);
        h.all_done.notify_all(true);
        return WEFT_OK;
    }

    void shutdown(bool immediate, std::vector<void *> &out) {
        closed.store(true, std::memory_order_release);
        if (immediate) {
            dropped.store(true, std::memory_order_release);
            out.reserve(static_cast<size_t>(size()));
            void *x;
            while (take(&x)) {
                out.push_back(x);  // reserved: a racing put may add more, which can throw
                if (fast)
                    done.fetch_add(1, std::memory_order_acq_rel);
                else
                    unfinished.fetch_sub(1, std::memory_order_acq_rel);
            }
            if (!fast && unfinished.load(std::memory_order_relaxed) < 0) unfinished.store(0);
        }
        not_empty.notify_all();
        not_full.notify_all();
        all_done.notify_all();
    }
};

namespace {

[[gnu::cold]] weft_status pointers_stay(const char *func) noexcept {
    return fail(WEFT_ENOTSUP, "%s: a process-scope queue carries bytes (pointers do not cross processes); "
                "use weft_queue_put_bytes/get_bytes", func);
}

[[gnu::cold]] weft_status bytes_need_process_scope(const char *func) noexcept {
    return fail(WEFT_ENOTSUP, "%s: byte messages need a process-scope queue; a thread-scope queue carries void *",
                func);
}

// Point a handle whose segment is mapped at its header, checking a header
// made by another process before trusting its numbers.
weft_status attach_shared(const char *func, weft_queue *q) noexcept {
    auto *h = static_cast<SharedHeader *>(q->seg.data());
    std::uint64_t room = q->seg.payload_size() - sizeof(SharedHeader);
    if (h->ring_bytes <= kFrame || h->ring_bytes > room || h->max_message > h->ring_bytes - kFrame)
        return fail(WEFT_EINVAL, "%s: \"%s\" is a damaged queue (ring of %llu bytes)", func,
                    q->seg.name() ? q->seg.name() : "(anonymous)", static_cast<unsigned long long>(h->ring_bytes));
    q->shared = h;
    q->kind = WEFT_QUEUE_FIFO;
    q->capacity = static_cast<size_t>(h->capacity);
    return WEFT_OK;
}

weft_status create_shared(weft_queue **out, const weft_queue_options &o) {
    constexpr const char *func = "weft_queue_create";
    if (o.kind != WEFT_QUEUE_FIFO)
        return fail(WEFT_ENOTSUP, "%s: a process-scope queue is FIFO only (opts->kind is %d)", func, o.kind);
    if (o.item_free)
        return fail(WEFT_EINVAL, "%s: opts->item_free is set; a process-scope queue holds bytes, not pointers", func);
    std::uint64_t ring = o.max_bytes ? o.max_bytes : WEFT_QUEUE_DEFAULT_MAX_BYTES;
    if (ring <= kFrame || ring > kMaxRing)
        return fail(WEFT_EINVAL, "%s: opts->max_bytes is %zu; use %llu..2^40 (0 = %u)", func, o.max_bytes,
                    static_cast<unsigned long long>(kFrame + 1), WEFT_QUEUE_DEFAULT_MAX_BYTES);
    std::uint64_t max_message = o.max_message ? o.max_message : ring - kFrame;
    if (max_message > ring - kFrame)
        return fail(WEFT_EINVAL, "%s: opts->max_message is %zu; at most max_bytes - %llu = %llu fit", func,
                    o.max_message, static_cast<unsigned long long>(kFrame),
                    static_cast<unsigned long long>(ring - kFrame));
    auto *q = new weft_queue;
    const std::uint64_t capacity = o.capacity;
    auto init = [&](void *p, std::size_t) noexcept -> weft_status {
        auto *h = new (p) SharedHeader;
        if (int e = h->prod.mutex.init()) return fail_sys(WEFT_ESYS, e, "%s: cannot set up the queue's mutex", func);
        if (int e = h->cons.mutex.init()) return fail_sys(WEFT_ESYS, e, "%s: cannot set up the queue's mutex", func);
        h->ring_bytes = ring;
        h->capacity = capacity;
        h->max_message = max_message;
        return WEFT_OK;
    };
    // With OPEN_EXISTING, an existing name is opened as it is (its bounds,
    // not ours), so the size we ask for must not be checked against it.
    weft_sharing sh = o.share;
    bool open_existing = (sh.flags & WEFT_SHARE_OPEN_EXISTING) != 0 && sh.name;
    sh.flags &= ~WEFT_SHARE_OPEN_EXISTING;
    weft_status st = WEFT_OK;
    for (int attempt = 0; attempt < 8; attempt++) {
        st = q->seg.create_with(shared_spec(func, static_cast<std::size_t>(ring)), sh,
                                [&init](void *p, std::size_t n) noexcept { return init(p, n); });
        if (st != WEFT_EEXIST || !open_existing) break;
        st = q->seg.open(shared_spec(func, 0), sh.name);
        if (st != WEFT_ENOENT) break;  // else the winner removed it in between: create again
    }
    if (st == WEFT_OK) st = attach_shared(func, q);
    if (st != WEFT_OK) {
        delete q;
        return st;
    }
    *out = q;
    return WEFT_OK;
}

}  // namespace

extern "C" {

WEFT_API weft_status weft_queue_create(weft_queue **out, const weft_queue_options *opts) noexcept {
    constexpr const char *func = "weft_queue_create";
    if (!out) return null_arg(func, "out");
    *out = nullptr;
    if (weft_status s = check_version_range(func, opts, 1, WEFT_QUEUE_OPTIONS_VERSION)) return s;
    weft_queue_options o = WEFT_QUEUE_OPTIONS_INIT;
    if (opts) {
        o.kind = opts->kind;
        o.capacity = opts->capacity;
        o.item_free = opts->item_free;
        if (opts->version >= 2) {  // a version 1 struct ends before these
            o.share = opts->share;
            o.max_bytes = opts->max_bytes;
            o.max_message = opts->max_message;
        }
    }
    if (o.kind != WEFT_QUEUE_FIFO && o.kind != WEFT_QUEUE_LIFO && o.kind != WEFT_QUEUE_PRIORITY)
        return fail(WEFT_EINVAL, "%s: opts->kind is %d; use WEFT_QUEUE_FIFO, _LIFO or _PRIORITY", func, o.kind);
    if (weft_status s = shm::check_sharing(func, o.share)) return s;
    if (o.share.scope == WEFT_SCOPE_PROCESS) return guarded(func, [&] { return create_shared(out, o); });
    if (o.max_bytes || o.max_message)
        return fail(WEFT_EINVAL, "%s: opts->max_bytes and max_message apply to process-scope queues only", func);
    return guarded(func, [&]() -> weft_status {
        auto *q = new weft_queue;
        q->kind = o.kind;
        q->capacity = o.capacity;
        q->item_free = o.item_free;
        size_t pre = o.capacity && o.capacity < kPrealloc ? o.capacity : kPrealloc;
        try {
            if (q->kind == WEFT_QUEUE_FIFO && q->capacity >= 2 && q->capacity <= kMaxFastCapacity) {
                q->fast = new MpmcRing(q->capacity);
                bool may_be_alone = membarrier_ok();
                q->putters.init(may_be_alone);
                q->getters.init(may_be_alone);
            } else if (q->kind == WEFT_QUEUE_PRIORITY) {
                q->heap.reserve(pre);
            } else if (!q->ring.reserve(pre)) {
                throw std::bad_alloc();
            }
        } catch (...) {
            delete q;
            throw;
        }
        *out = q;
        return WEFT_OK;
    });
}

WEFT_API weft_status weft_queue_open(weft_queue **out, const char *name) noexcept {
    constexpr const char *func = "weft_queue_open";
    if (!out) return null_arg(func, "out");
    *out = nullptr;
    if (!name) return null_arg(func, "name");
    return guarded(func, [&]() -> weft_status {
        auto *q = new weft_queue;
        weft_status st = q->seg.open(shared_spec(func, 0), name);
        if (st == WEFT_OK) st = attach_shared(func, q);
        if (st != WEFT_OK) {
            delete q;
            return st;
        }
        *out = q;
        return WEFT_OK;
    });
}

WEFT_API void weft_queue_destroy(weft_queue *q) noexcept {
    destroy_handle(q);
}

WEFT_API weft_status weft_queue_put(weft_queue *q, void *item, int64_t timeout_ns) noexcept {
    WEFT_CHECK_HANDLE("weft_queue_put", q);
    WEFT_CHECK_TIMEOUT("weft_queue_put", timeout_ns);
    if (__builtin_expect(q->shared != nullptr, 0)) return pointers_stay("weft_queue_put");
    Deadline d(timeout_ns);
    return q->put(item, 0, d);
}

WEFT_API weft_status weft_queue_put_priority(weft_queue *q, void *item, int64_t priority,
                                             int64_t timeout_ns) noexcept {
    WEFT_CHECK_HANDLE("weft_queue_put_priority", q);
    WEFT_CHECK_TIMEOUT("weft_queue_put_priority", timeout_ns);
    if (q->shared) return pointers_stay("weft_queue_put_priority");
    if (q->kind != WEFT_QUEUE_PRIORITY)
        return fail(WEFT_EINVAL, "weft_queue_put_priority: queue %p is not a priority queue", static_cast<void *>(q));
    Deadline d(timeout_ns);
    return q->put(item, priority, d);
}

WEFT_API weft_status weft_queue_get(weft_queue *q, void **item, int64_t timeout_ns) noexcept {
    WEFT_CHECK_HANDLE("weft_queue_get", q);
    if (!item) return null_arg("weft_queue_get", "item");
    WEFT_CHECK_TIMEOUT("weft_queue_get", timeout_ns);
    if (__builtin_expect(q->shared != nullptr, 0)) return pointers_stay("weft_queue_get");
    Deadline d(timeout_ns);
    return q->get(item, d);
}

WEFT_API weft_status weft_queue_put_bytes(weft_queue *q, const void *data, size_t len, int64_t timeout_ns) noexcept {
    constexpr const char *func = "weft_queue_put_bytes";
    WEFT_CHECK_HANDLE(func, q);
    if (!data && len) return null_arg(func, "data");
    WEFT_CHECK_TIMEOUT(func, timeout_ns);
    if (!q->shared) return bytes_need_process_scope(func);
    Deadline d(timeout_ns);
    return q->put_bytes(data, len, d);
}

WEFT_API weft_status weft_queue_get_bytes(weft_queue *q, void *buf, size_t cap, size_t *len,
                                          int64_t timeout_ns) noexcept {
    constexpr const char *func = "weft_queue_get_bytes";
    WEFT_CHECK_HANDLE(func, q);
    if (!len) return null_arg(func, "len");
    if (!buf && cap) return null_arg(func, "buf");
    WEFT_CHECK_TIMEOUT(func, timeout_ns);
    if (!q->shared) return bytes_need_process_scope(func);
    Deadline d(timeout_ns);
    return q->get_bytes(func, d, [&](std::uint64_t n, void **dst) noexcept -> weft_status {
        *len = static_cast<size_t>(n);
        if (n > cap)
            return fail(WEFT_EMSGSIZE, "%s: the message has %llu bytes, the buffer %zu; it stays queued", func,
                        static_cast<unsigned long long>(n), cap);
        *dst = buf;
        return WEFT_OK;
    });
}

WEFT_API weft_status weft_queue_get_bytes_alloc(weft_queue *q, void **data, size_t *len, int64_t timeout_ns) noexcept {
    constexpr const char *func = "weft_queue_get_bytes_alloc";
    WEFT_CHECK_HANDLE(func, q);
    if (!data) return null_arg(func, "data");
    *data = nullptr;
    if (!len) return null_arg(func, "len");
    WEFT_CHECK_TIMEOUT(func, timeout_ns);
    if (!q->shared) return bytes_need_process_scope(func);
    Deadline d(timeout_ns);
    return q->get_bytes(func, d, [&](std::uint64_t n, void **dst) noexcept -> weft_status {
        auto *p = static_cast<unsigned char *>(std::malloc(static_cast<size_t>(n) + 1));
        if (!p)
            return fail(WEFT_ENOMEM, "%s: cannot allocate %llu bytes; the message stays queued", func,
                        static_cast<unsigned long long>(n) + 1);
        p[n] = 0;
        *data = p;
        *len = static_cast<size_t>(n);
        *dst = p;
        return WEFT_OK;
    });
}

WEFT_API void weft_queue_bytes_free(void *data) noexcept { std::free(data); }

WEFT_API int64_t weft_queue_max_message(const weft_queue *q) noexcept {
    WEFT_CHECK_HANDLE("weft_queue_max_message", q);
    if (!q->shared) return bytes_need_process_scope("weft_queue_max_message");
    return static_cast<int64_t>(q->shared->max_message);
}

WEFT_API weft_status weft_queue_task_done(weft_queue *q) noexcept {
    WEFT_CHECK_HANDLE("weft_queue_task_done", q);
    if (q->shared) return q->shared_task_done();
    return q->task_done();
}

WEFT_API weft_status weft_queue_join(weft_queue *q, int64_t timeout_ns) noexcept {
    WEFT_CHECK_HANDLE("weft_queue_join", q);
    WEFT_CHECK_TIMEOUT("weft_queue_join", timeout_ns);
    Deadline d(timeout_ns);
    if (q->shared) return q->shared_join(d);
    return q->join(d);
}

WEFT_API weft_status weft_queue_shutdown(weft_queue *q, int immediate) noexcept {
    WEFT_CHECK_HANDLE("weft_queue_shutdown", q);
    if (q->shared) return q->shared_shutdown(immediate != 0);
    return guarded("weft_queue_shutdown", [&]() -> weft_status {
        std::vector<void *> dropped;
        q->shutdown(immediate != 0, dropped);
        if (q->item_free)
            for (void *x : dropped) q->item_free(x);
        return WEFT_OK;
    });
}

WEFT_API int64_t weft_queue_size(const weft_queue *q) noexcept {
    WEFT_CHECK_HANDLE("weft_queue_size", q);
    if (q->shared) return static_cast<int64_t>(q->shared->queued());
    return q->size();
}

WEFT_API int weft_queue_empty(const weft_queue *q) noexcept {
    WEFT_CHECK_HANDLE("weft_queue_empty", q);
    if (q->shared) return q->shared->queued() == 0 ? 1 : 0;
    return q->size() == 0 ? 1 : 0;
}

WEFT_API int weft_queue_full(const weft_queue *q) noexcept {
    WEFT_CHECK_HANDLE("weft_queue_full", q);
    if (q->shared) return q->shared->state() != kDropped && !q->shared->room_now(kFrame) ? 1 : 0;
    return q->full() ? 1 : 0;
}

WEFT_API int weft_queue_is_shutdown(const weft_queue *q) noexcept {
    WEFT_CHECK_HANDLE("weft_queue_is_shutdown", q);
    if (q->shared) return q->shared->state() != kOpen ? 1 : 0;
    return q->closed.load(std::memory_order_acquire) ? 1 : 0;
}

}  // extern "C"
