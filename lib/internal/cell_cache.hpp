// CellCache: 64-byte, 64-byte-aligned cells for the objects made per task
// (futures), and 64 KiB blocks of them (the pool's queue nodes), kept for
// reuse in a process-wide cache.
//
// Why: a pool that queues a million futures touches 64 MB of fresh memory,
// and on virtual machines a first touch costs a page fault of tens of
// microseconds per 4 KiB page -- more than everything else a task costs. The
// C library gives such memory back to the system when it is freed and faults
// it in again for the next burst; this cache keeps it, so a second burst of
// the same size costs no page fault at all.
//
// - alloc() takes a cell from the calling thread's magazine (no atomic, no
//   lock); an empty magazine refills with one batch of kBatch cells from the
//   global depot (one lock), or from a new block of kBlockCells cells.
// - release() pushes onto the calling thread's magazine; a full one hands one
//   batch back to the depot (one lock). A thread's magazine goes back to the
//   depot when the thread exits.
// - Blocks are never freed: the cache holds the peak number of cells alive at
//   once, like an allocator's cache. Cells are the only thing in it.
// - Under AddressSanitizer every cell is a plain allocation, so use after
//   free and leaks of futures and nodes are still reported.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdlib>
#include <new>

#include "word_lock.hpp"

#if defined(__SANITIZE_ADDRESS__)
#define WEFT_CELLS_PLAIN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define WEFT_CELLS_PLAIN 1
#endif
#endif

namespace weft::detail::cells {

constexpr std::size_t kCellSize = 64;

constexpr std::size_t kBlockBytes = 64 * 1024;  // a block of cells; see block_alloc()

#ifdef WEFT_CELLS_PLAIN

inline void *alloc() noexcept { return std::aligned_alloc(kCellSize, kCellSize); }
inline void release(void *p) noexcept { std::free(p); }
inline void *block_alloc() noexcept { return std::aligned_alloc(kCellSize, kBlockBytes); }
inline void block_release(void *p) noexcept { std::free(p); }

#else

struct Cell {
    Cell *next;        // in a magazine or a batch
    Cell *next_batch;  // first cell of a batch in the depot: the next batch
};

constexpr int kBatch = 64;            // cells moved between a thread and the depot at once
constexpr std::size_t kBlockCells = 1024;  // 64 KiB per block

struct Depot {
    WordLock lock;
    Cell *batches = nullptr;  // full batches of kBatch cells
    Cell *partial = nullptr;  // loose cells (thread exits), fewer than kBatch
    int partial_n = 0;
};

inline Depot &depot() noexcept {
    static Depot d;  // trivial destructor: nothing runs at exit
    return d;
}

// Give `n` cells (a chain from head) to the depot.
inline void depot_put(Cell *head, int n) noexcept {
    Depot &d = depot();
    d.lock.lock_forever();
    while (head) {
        Cell *next = head->next;
        if (n == kBatch) {  // a whole batch: link it as one
            head->next_batch = d.batches;
            d.batches = head;
            break;
        }
        head->next = d.partial;
        d.partial = head;
        if (++d.partial_n == kBatch) {
            d.partial->next_batch = d.batches;
            d.batches = d.partial;
            d.partial = nullptr;
            d.partial_n = 0;
        }
        head = next;
        n--;
    }
    d.lock.unlock();
}

struct Magazine {
    Cell *head = nullptr;
    int n = 0;
    bool dead = false;  // the thread is exiting: go straight to the depot

    ~Magazine() {
        dead = true;
        while (head) {  // in batches, so the depot can hand them out again
            Cell *first = head;
            int k = 0;
            Cell *last = nullptr;
            for (Cell *c = head; c && k < kBatch; c = c->next, k++) last = c;
            head = last->next;
            last->next = nullptr;
            n -= k;
            depot_put(first, k);
        }
    }
};

inline Magazine &magazine() noexcept {
    static thread_local Magazine m;
    return m;
}

[[gnu::noinline]] inline void *alloc_slow(Magazine &m) noexcept {
    Depot &d = depot();
    d.lock.lock_forever();
    Cell *b = d.batches;
    if (b) d.batches = b->next_batch;
    d.lock.unlock();
    if (!b) {
        auto *block = static_cast<Cell *>(std::aligned_alloc(kCellSize, kCellSize * kBlockCells));
        if (!block) return nullptr;
        auto *base = reinterpret_cast<unsigned char *>(block);
        // Cell 0 is the caller's; the others form the magazine.
        Cell *chain = nullptr;
        for (std::size_t i = kBlockCells - 1; i >= 1; i--) {
            auto *c = reinterpret_cast<Cell *>(base + i * kCellSize);
            c->next = chain;
            chain = c;
        }
        if (m.dead) {
            depot_put(chain, static_cast<int>(kBlockCells - 1));
        } else {
            m.head = chain;
            m.n = static_cast<int>(kBlockCells - 1);
        }
        return block;
    }
    Cell *rest = b->next;
    if (m.dead) {
        if (rest) depot_put(rest, kBatch - 1);
    } else {
        m.head = rest;
        m.n = kBatch - 1;
    }
    return b;
}

// A 64-byte, 64-aligned cell, or nullptr when out of memory.
inline void *alloc() noexcept {
    Magazine &m = magazine();
    if (Cell *c = m.head) {
        m.head = c->next;
        m.n--;
        return c;
    }
    return alloc_slow(m);
}

// Give back a cell from alloc(), on any thread.
inline void release(void *p) noexcept {
    if (!p) return;
    auto *c = static_cast<Cell *>(p);
    Magazine &m = magazine();
    if (m.dead) {
        c->next = nullptr;
        depot_put(c, 1);
        return;
    }
    c->next = m.head;
    m.head = c;
    if (++m.n >= 2 * kBatch) {  // hand one batch back
        Cell *first = m.head;
        Cell *last = first;
        for (int i = 1; i < kBatch; i++) last = last->next;
        m.head = last->next;
        last->next = nullptr;
        m.n -= kBatch;
        depot_put(first, kBatch);
    }
}

// Whole blocks (kBlockBytes, 64-aligned) for an owner that carves them
// itself, in order (the pool's queue nodes: sequential cells prefetch well,
// cells from the magazines come back in any order). Cached like cells.
struct BlockDepot {
    WordLock lock;
    void *top = nullptr;  // free blocks, linked through their first word
};

inline BlockDepot &block_depot() noexcept {
    static BlockDepot d;
    return d;
}

inline void *block_alloc() noexcept {
    BlockDepot &d = block_depot();
    d.lock.lock_forever();
    void *b = d.top;
    if (b) d.top = *static_cast<void **>(b);
    d.lock.unlock();
    return b ? b : std::aligned_alloc(kCellSize, kBlockBytes);
}

inline void block_release(void *b) noexcept {
    if (!b) return;
    BlockDepot &d = block_depot();
    d.lock.lock_forever();
    *static_cast<void **>(b) = d.top;
    d.top = b;
    d.lock.unlock();
}

#endif

}  // namespace weft::detail::cells
