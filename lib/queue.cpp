// Queues between threads, with two engines behind one blocking discipline:
// - a bounded FIFO (capacity >= 2), the common case, is a lock-free ring
//   (Vyukov's bounded MPMC queue: a sequence number per slot; producers and
//   consumers each claim a position with one CAS);
// - unbounded FIFOs and LIFOs use a growable ring buffer, priority queues a
//   binary heap, under one WordLock.
// Both block the same way (block_until): try, spin briefly, yield, then sleep
// on an EventCount that the other side notifies only when someone sleeps, so
// a put or get that need not wait makes no system call. Blocking uses two sequence words
// (not-empty, not-full) that a waiter sleeps on after reading them under the
// lock; the other side bumps and wakes only when someone waits, so the
// uncontended put and get take no system call. Waiting getters spin briefly
// on a lock-free item count before they sleep.
#include <sched.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <new>
#include <vector>

#include <weft/queue.h>

#include "internal/boundary.hpp"
#include "internal/event_count.hpp"
#include "internal/handle.hpp"
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
class MpmcRing {
public:
    struct Slot {
        std::atomic<std::uint64_t> seq;
        void *item;
    };

    explicit MpmcRing(size_t capacity)
        : cap_(capacity), mask_((capacity & (capacity - 1)) == 0 ? capacity - 1 : 0), slots_(new Slot[capacity]) {
        for (size_t i = 0; i < capacity; i++) {
            slots_[i].seq.store(i, std::memory_order_relaxed);
            slots_[i].item = nullptr;
        }
    }
    ~MpmcRing() { delete[] slots_; }
    MpmcRing(const MpmcRing &) = delete;
    MpmcRing &operator=(const MpmcRing &) = delete;

    bool try_push(void *x) noexcept {
        std::uint64_t pos = tail_.load(std::memory_order_relaxed);
        for (;;) {
            Slot &s = slot(pos);
            std::uint64_t seq = s.seq.load(std::memory_order_acquire);
            auto dif = static_cast<std::int64_t>(seq - pos);
            if (dif == 0) {
                if (tail_.compare_exchange_weak(pos, pos + 1, std::memory_order_relaxed)) {
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
                if (head_.compare_exchange_weak(pos, pos + 1, std::memory_order_relaxed)) {
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
constexpr size_t kPrealloc = 1024;
// Bounded FIFOs of capacity 2 up to this get the lock-free ring (its slots
// are allocated up front: 16 bytes each). Capacity 1 cannot use it: a slot's
// "ready to read pos" and "ready to write pos + 1" numbers would be equal.
constexpr size_t kMaxFastCapacity = size_t{1} << 20;

}  // namespace
}  // namespace weft::detail

using namespace weft::detail;

struct weft_queue : Handle<Magic::queue> {
    int kind = WEFT_QUEUE_FIFO;
    size_t capacity = 0;  // 0 = unbounded
    weft_free_fn item_free = nullptr;

    std::atomic<bool> closed{false};   // shutdown called: puts fail, gets drain
    std::atomic<bool> dropped{false};  // immediate shutdown: gets fail at once
    EventCount not_empty, not_full, all_done;

    // Engine 1: the lock-free bounded FIFO.
    MpmcRing *fast = nullptr;
    std::atomic<std::uint64_t> done{0};  // task_done calls plus items dropped by an immediate shutdown

    // Engine 2: everything else, under `lock`.
    WordLock lock;
    Ring ring;                           // FIFO, LIFO
    std::vector<PrioItem> heap;          // PRIORITY
    std::uint64_t prio_seq = 0;
    std::atomic<std::int64_t> count{0};  // items queued; written under the lock, read anywhere
    std::atomic<std::int64_t> unfinished{0};

    ~weft_queue() {
        void *x;
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
        if (fast) return fast->try_pop(item);
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
    template <class Attempt, class Ready>
    static weft_status block_until(EventCount &ec, Deadline &d, Attempt &&attempt, Ready &&ready) noexcept {
        for (;;) {
            int r = attempt();
            if (r <= 0) return r;
            if (d.poll()) return WEFT_ETIMEDOUT;
            if (spin_until(ready)) continue;
            std::uint32_t key = ec.prepare_wait();
            if (ready()) {
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

    weft_status put(void *item, std::int64_t prio, Deadline &d) noexcept {
        weft_status s = block_until(
            not_full, d,
            [&]() -> int {
                if (closed.load(std::memory_order_acquire)) return WEFT_ECLOSED;
                return offer(item, prio);
            },
            [&] { return !full() || closed.load(std::memory_order_relaxed); });
        if (s == WEFT_OK) not_empty.notify_all();
        else if (s == WEFT_ENOMEM) return fail(WEFT_ENOMEM, "weft_queue_put: out of memory growing the queue");
        return s;
    }

    weft_status get(void **item, Deadline &d) noexcept {
        weft_status s = block_until(
            not_empty, d,
            [&]() -> int {
                if (dropped.load(std::memory_order_acquire)) return WEFT_ECLOSED;
                bool was_closed = closed.load(std::memory_order_acquire);
                if (take(item)) return WEFT_OK;
                return was_closed ? WEFT_ECLOSED : 1;  // closed and drained
            },
            [&] { return size() > 0 || closed.load(std::memory_order_relaxed); });
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
        return block_until(
            all_done, d, [&]() -> int { return pending_tasks() <= 0 ? WEFT_OK : 1; },
            [&] { return pending_tasks() <= 0; });
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

extern "C" {

WEFT_API weft_status weft_queue_create(weft_queue **out, const weft_queue_options *opts) noexcept {
    if (!out) return null_arg("weft_queue_create", "out");
    *out = nullptr;
    weft_queue_options o = WEFT_QUEUE_OPTIONS_INIT;
    if (weft_status s = check_version("weft_queue_create", opts, WEFT_QUEUE_OPTIONS_VERSION)) return s;
    if (opts) o = *opts;
    if (o.kind != WEFT_QUEUE_FIFO && o.kind != WEFT_QUEUE_LIFO && o.kind != WEFT_QUEUE_PRIORITY)
        return fail(WEFT_EINVAL, "weft_queue_create: opts->kind is %d; use WEFT_QUEUE_FIFO, _LIFO or _PRIORITY",
                    o.kind);
    return guarded("weft_queue_create", [&]() -> weft_status {
        auto *q = new weft_queue;
        q->kind = o.kind;
        q->capacity = o.capacity;
        q->item_free = o.item_free;
        size_t pre = o.capacity && o.capacity < kPrealloc ? o.capacity : kPrealloc;
        try {
            if (q->kind == WEFT_QUEUE_FIFO && q->capacity >= 2 && q->capacity <= kMaxFastCapacity)
                q->fast = new MpmcRing(q->capacity);
            else if (q->kind == WEFT_QUEUE_PRIORITY)
                q->heap.reserve(pre);
            else if (!q->ring.reserve(pre))
                throw std::bad_alloc();
        } catch (...) {
            delete q;
            throw;
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
    Deadline d(timeout_ns);
    return q->put(item, 0, d);
}

WEFT_API weft_status weft_queue_put_priority(weft_queue *q, void *item, int64_t priority,
                                             int64_t timeout_ns) noexcept {
    WEFT_CHECK_HANDLE("weft_queue_put_priority", q);
    WEFT_CHECK_TIMEOUT("weft_queue_put_priority", timeout_ns);
    if (q->kind != WEFT_QUEUE_PRIORITY)
        return fail(WEFT_EINVAL, "weft_queue_put_priority: queue %p is not a priority queue", static_cast<void *>(q));
    Deadline d(timeout_ns);
    return q->put(item, priority, d);
}

WEFT_API weft_status weft_queue_get(weft_queue *q, void **item, int64_t timeout_ns) noexcept {
    WEFT_CHECK_HANDLE("weft_queue_get", q);
    if (!item) return null_arg("weft_queue_get", "item");
    WEFT_CHECK_TIMEOUT("weft_queue_get", timeout_ns);
    Deadline d(timeout_ns);
    return q->get(item, d);
}

WEFT_API weft_status weft_queue_task_done(weft_queue *q) noexcept {
    WEFT_CHECK_HANDLE("weft_queue_task_done", q);
    return q->task_done();
}

WEFT_API weft_status weft_queue_join(weft_queue *q, int64_t timeout_ns) noexcept {
    WEFT_CHECK_HANDLE("weft_queue_join", q);
    WEFT_CHECK_TIMEOUT("weft_queue_join", timeout_ns);
    Deadline d(timeout_ns);
    return q->join(d);
}

WEFT_API weft_status weft_queue_shutdown(weft_queue *q, int immediate) noexcept {
    WEFT_CHECK_HANDLE("weft_queue_shutdown", q);
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
    return q->size();
}

WEFT_API int weft_queue_empty(const weft_queue *q) noexcept {
    WEFT_CHECK_HANDLE("weft_queue_empty", q);
    return q->size() == 0 ? 1 : 0;
}

WEFT_API int weft_queue_full(const weft_queue *q) noexcept {
    WEFT_CHECK_HANDLE("weft_queue_full", q);
    return q->full() ? 1 : 0;
}

WEFT_API int weft_queue_is_shutdown(const weft_queue *q) noexcept {
    WEFT_CHECK_HANDLE("weft_queue_is_shutdown", q);
    return q->closed.load(std::memory_order_acquire) ? 1 : 0;
}

}  // extern "C"
