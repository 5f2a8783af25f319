// Queues between threads: FIFO and LIFO over one ring buffer, priority over a
// binary heap, all under one WordLock. Blocking uses two sequence words
// (not-empty, not-full) that a waiter sleeps on after reading them under the
// lock; the other side bumps and wakes only when someone waits, so the
// uncontended put and get take no system call. Waiting getters spin briefly
// on a lock-free item count before they sleep.
#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <new>
#include <vector>

#include <weft/queue.h>

#include "internal/boundary.hpp"
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

constexpr int kGetSpins = 2000;
constexpr size_t kPrealloc = 1024;

}  // namespace
}  // namespace weft::detail

using namespace weft::detail;

struct weft_queue : Handle<Magic::queue> {
    WordLock lock;
    int kind = WEFT_QUEUE_FIFO;
    size_t capacity = 0;  // 0 = unbounded
    weft_free_fn item_free = nullptr;

    Ring ring;                    // FIFO, LIFO
    std::vector<PrioItem> heap;   // PRIORITY
    std::uint64_t prio_seq = 0;

    std::atomic<std::int64_t> count{0};  // mirror of the item count, read without the lock
    std::int64_t unfinished = 0;
    bool closed = false;
    std::uint32_t getters_waiting = 0, putters_waiting = 0, joiners_waiting = 0;
    std::atomic<std::uint32_t> not_empty{0}, not_full{0}, all_done{0};

    bool full_locked() const noexcept {
        return capacity != 0 && static_cast<size_t>(count.load(std::memory_order_relaxed)) >= capacity;
    }

    // Under the lock. False when memory ran out.
    bool push_locked(void *item, std::int64_t prio) noexcept {
        if (kind == WEFT_QUEUE_PRIORITY) {
            try {
                heap.push_back(PrioItem{prio, prio_seq++, item});
            } catch (...) {
                return false;
            }
            std::push_heap(heap.begin(), heap.end(), ComesOutLater{});
        } else if (!ring.push_back(item)) {
            return false;
        }
        count.store(count.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
        unfinished++;
        return true;
    }

    // Under the lock, count > 0.
    void *pop_locked() noexcept {
        void *item;
        if (kind == WEFT_QUEUE_PRIORITY) {
            std::pop_heap(heap.begin(), heap.end(), ComesOutLater{});
            item = heap.back().item;
            heap.pop_back();
        } else if (kind == WEFT_QUEUE_LIFO) {
            item = ring.pop_back();
        } else {
            item = ring.pop_front();
        }
        count.store(count.load(std::memory_order_relaxed) - 1, std::memory_order_relaxed);
        return item;
    }

    // Sleep on `seq` (read under the lock) with the lock released; returns with
    // the lock held again. `waiting` counts us while we are away.
    futex::WaitResult sleep_on(std::atomic<std::uint32_t> &seq, std::uint32_t &waiting, Deadline &d) noexcept {
        std::uint32_t s = seq.load(std::memory_order_relaxed);
        waiting++;
        lock.unlock();
        futex::WaitResult r = futex::wait(&seq, s, d.abs());
        lock.lock_forever();
        waiting--;
        return r;
    }

    static void bump_and_wake(std::atomic<std::uint32_t> &seq, int n) noexcept {
        seq.fetch_add(1, std::memory_order_release);
        futex::wake(&seq, n);
    }

    weft_status put(void *item, std::int64_t prio, Deadline &d) noexcept {
        lock.lock_forever();
        for (;;) {
            if (closed) {
                lock.unlock();
                return WEFT_ECLOSED;
            }
            if (!full_locked()) {
                if (!push_locked(item, prio)) {
                    lock.unlock();
                    return fail(WEFT_ENOMEM, "weft_queue_put: out of memory growing the queue");
                }
                bool wake = getters_waiting > 0;
                if (wake) not_empty.fetch_add(1, std::memory_order_release);
                lock.unlock();
                if (wake) futex::wake(&not_empty, 1);
                return WEFT_OK;
            }
            if (d.poll()) {
                lock.unlock();
                return WEFT_ETIMEDOUT;
            }
            futex::WaitResult r = sleep_on(not_full, putters_waiting, d);
            if ((r == futex::WaitResult::timed_out || d.expired()) && full_locked() && !closed) {
                lock.unlock();
                return WEFT_ETIMEDOUT;
            }
        }
    }

    weft_status get(void **item, Deadline &d) noexcept {
        int spins = 0;
        lock.lock_forever();
        for (;;) {
            if (count.load(std::memory_order_relaxed) > 0) {
                *item = pop_locked();
                bool wake = putters_waiting > 0;
                if (wake) not_full.fetch_add(1, std::memory_order_release);
                lock.unlock();
                if (wake) futex::wake(&not_full, 1);
                return WEFT_OK;
            }
            if (closed) {
                lock.unlock();
                return WEFT_ECLOSED;
            }
            if (d.poll()) {
                lock.unlock();
                return WEFT_ETIMEDOUT;
            }
            if (spins == 0) {
                // An item is often a moment away: spin without the lock first.
                lock.unlock();
                while (++spins < kGetSpins && count.load(std::memory_order_relaxed) == 0) futex::cpu_relax();
                lock.lock_forever();
                continue;
            }
            futex::WaitResult r = sleep_on(not_empty, getters_waiting, d);
            if ((r == futex::WaitResult::timed_out || d.expired()) && count.load(std::memory_order_relaxed) == 0 &&
                !closed) {
                lock.unlock();
                return WEFT_ETIMEDOUT;
            }
        }
    }

    // Under the lock: move every queued item out.
    void drain_locked(std::vector<void *> &out) {
        out.reserve(static_cast<size_t>(count.load(std::memory_order_relaxed)));
        while (count.load(std::memory_order_relaxed) > 0) out.push_back(pop_locked());
    }

    void free_items(const std::vector<void *> &items) const noexcept {
        if (item_free)
            for (void *x : items) item_free(x);
    }

    ~weft_queue() {
        if (item_free) {
            while (count.load(std::memory_order_relaxed) > 0) item_free(pop_locked());
        }
    }
};

extern "C" {

WEFT_API weft_status weft_queue_create(weft_queue **out, const weft_queue_options *opts) noexcept {
    if (!out) return null_arg("weft_queue_create", "out");
    *out = nullptr;
    weft_queue_options o = WEFT_QUEUE_OPTIONS_INIT;
    if (opts) {
        if (opts->version != WEFT_QUEUE_OPTIONS_VERSION)
            return fail(WEFT_EINVAL, "weft_queue_create: opts->version is %u; expected %u", opts->version,
                        WEFT_QUEUE_OPTIONS_VERSION);
        o = *opts;
    }
    if (o.kind != WEFT_QUEUE_FIFO && o.kind != WEFT_QUEUE_LIFO && o.kind != WEFT_QUEUE_PRIORITY)
        return fail(WEFT_EINVAL, "weft_queue_create: opts->kind is %d; use WEFT_QUEUE_FIFO, _LIFO or _PRIORITY",
                    o.kind);
    return guarded("weft_queue_create", [&]() -> weft_status {
        auto *q = new weft_queue;
        q->kind = o.kind;
        q->capacity = o.capacity;
        q->item_free = o.item_free;
        size_t pre = o.capacity && o.capacity < kPrealloc ? o.capacity : kPrealloc;
        if (q->kind == WEFT_QUEUE_PRIORITY)
            q->heap.reserve(pre);
        else if (!q->ring.reserve(pre)) {
            delete q;
            throw std::bad_alloc();
        }
        *out = q;
        return WEFT_OK;
    });
}

WEFT_API void weft_queue_destroy(weft_queue *q) noexcept {
    if (!valid(q)) return;
    q->poison();
    delete q;
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
    q->lock.lock_forever();
    if (q->unfinished == 0) {
        q->lock.unlock();
        return fail(WEFT_ESTATE, "weft_queue_task_done: called more times than items were put");
    }
    bool wake = --q->unfinished == 0 && q->joiners_waiting > 0;
    if (wake) q->all_done.fetch_add(1, std::memory_order_release);
    q->lock.unlock();
    if (wake) futex::wake_all(&q->all_done);
    return WEFT_OK;
}

WEFT_API weft_status weft_queue_join(weft_queue *q, int64_t timeout_ns) noexcept {
    WEFT_CHECK_HANDLE("weft_queue_join", q);
    WEFT_CHECK_TIMEOUT("weft_queue_join", timeout_ns);
    Deadline d(timeout_ns);
    q->lock.lock_forever();
    while (q->unfinished > 0) {
        if (d.poll()) break;
        futex::WaitResult r = q->sleep_on(q->all_done, q->joiners_waiting, d);
        if (r == futex::WaitResult::timed_out || d.expired()) break;
    }
    bool done = q->unfinished == 0;
    q->lock.unlock();
    return done ? WEFT_OK : WEFT_ETIMEDOUT;
}

WEFT_API weft_status weft_queue_shutdown(weft_queue *q, int immediate) noexcept {
    WEFT_CHECK_HANDLE("weft_queue_shutdown", q);
    return guarded("weft_queue_shutdown", [&]() -> weft_status {
        std::vector<void *> dropped;
        q->lock.lock_forever();
        q->closed = true;
        if (immediate) {
            try {
                q->drain_locked(dropped);
            } catch (...) {
                q->lock.unlock();
                throw;
            }
            q->unfinished -= std::min<std::int64_t>(q->unfinished, static_cast<std::int64_t>(dropped.size()));
        }
        q->lock.unlock();
        weft_queue::bump_and_wake(q->not_empty, INT32_MAX);
        weft_queue::bump_and_wake(q->not_full, INT32_MAX);
        weft_queue::bump_and_wake(q->all_done, INT32_MAX);
        q->free_items(dropped);
        return WEFT_OK;
    });
}

WEFT_API int64_t weft_queue_size(const weft_queue *q) noexcept {
    WEFT_CHECK_HANDLE("weft_queue_size", q);
    return q->count.load(std::memory_order_relaxed);
}

WEFT_API int weft_queue_empty(const weft_queue *q) noexcept {
    WEFT_CHECK_HANDLE("weft_queue_empty", q);
    return q->count.load(std::memory_order_relaxed) == 0;
}

WEFT_API int weft_queue_full(const weft_queue *q) noexcept {
    WEFT_CHECK_HANDLE("weft_queue_full", q);
    return q->full_locked() ? 1 : 0;
}

WEFT_API int weft_queue_is_shutdown(const weft_queue *q) noexcept {
    WEFT_CHECK_HANDLE("weft_queue_is_shutdown", q);
    const_cast<weft_queue *>(q)->lock.lock_forever();
    int c = q->closed ? 1 : 0;
    const_cast<weft_queue *>(q)->lock.unlock();
    return c;
}

}  // extern "C"
