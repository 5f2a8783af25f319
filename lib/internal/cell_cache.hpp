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
// - Blocks stay in the cache (it holds the peak number of cells alive at
//   once, like an allocator's cache) until trim() -- weft_memory_trim() --
//   gives back every block whose cells are all free: blocks are 64 KiB
//   mappings of their own, aligned to their size, so a cell finds its block
//   by masking its address and a free block is one munmap away. The cache
//   never trims by itself: a program that runs bursts keeps them fault-free,
//   one that is done with them (or is about to fork often) calls trim.
// - fork() is safe: handlers hold both depots' locks across it, so a child
//   never inherits a depot locked by a thread it does not have.
// - Under AddressSanitizer every cell is a plain allocation, so use after
//   free and leaks of futures and nodes are still reported.
#pragma once

#include <algorithm>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <new>
#include <unordered_map>
#include <vector>

#include <pthread.h>
#include <sys/mman.h>

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
inline std::size_t trim() noexcept { return 0; }  // nothing is cached

#else

struct Cell {
    Cell *next;        // in a magazine or a batch
    Cell *next_batch;  // first cell of a batch in the depot: the next batch
};

constexpr int kBatch = 64;            // cells moved between a thread and the depot at once
constexpr std::size_t kBlockCells = kBlockBytes / kCellSize;  // 1024 per block

// A fresh kBlockBytes mapping aligned to kBlockBytes (map twice the size,
// unmap the ends), or nullptr. Rare: one per 1024 cells at the peak.
inline void *map_block() noexcept {
    void *raw = mmap(nullptr, 2 * kBlockBytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (raw == MAP_FAILED) return nullptr;
    auto start = reinterpret_cast<std::uintptr_t>(raw);
    std::uintptr_t aligned = (start + kBlockBytes - 1) & ~static_cast<std::uintptr_t>(kBlockBytes - 1);
    if (aligned > start) munmap(raw, aligned - start);
    std::uintptr_t end = start + 2 * kBlockBytes, block_end = aligned + kBlockBytes;
    if (end > block_end) munmap(reinterpret_cast<void *>(block_end), end - block_end);
    return reinterpret_cast<void *>(aligned);
}

inline void unmap_block(void *b) noexcept { munmap(b, kBlockBytes); }

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

// Registered once, before the first block exists (nothing to guard before).
inline void hold_depots_across_fork() noexcept {
    static const bool registered = [] {
        (void)pthread_atfork(
            [] {
                depot().lock.lock_forever();
                block_depot().lock.lock_forever();
            },
            [] {
                block_depot().lock.unlock();
                depot().lock.unlock();
            },
            [] {  // fresh locks: waiters the parent had are not in the child
                new (&block_depot().lock) WordLock();
                new (&depot().lock) WordLock();
            });
        return true;
    }();
    (void)registered;
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
        hold_depots_across_fork();
        auto *block = static_cast<Cell *>(map_block());
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

inline void *block_alloc() noexcept {
    BlockDepot &d = block_depot();
    d.lock.lock_forever();
    void *b = d.top;
    if (b) d.top = *static_cast<void **>(b);
    d.lock.unlock();
    if (b) return b;
    hold_depots_across_fork();
    return map_block();
}

inline void block_release(void *b) noexcept {
    if (!b) return;
    BlockDepot &d = block_depot();
    d.lock.lock_forever();
    *static_cast<void **>(b) = d.top;
    d.top = b;
    d.lock.unlock();
}

// Give back to the system every cached node block and every block whose
// cells are all in the depot (the caller's own magazine is emptied into the
// depot first; other threads' magazines, at most 2 * kBatch cells each, keep
// their blocks). Walks every cached cell: milliseconds per million cells.
// Returns the bytes given back.
inline std::size_t trim() noexcept {
    Magazine &m = magazine();
    while (m.head && !m.dead) {
        Cell *first = m.head, *last = m.head;
        int k = 1;
        for (; k < kBatch && last->next; k++) last = last->next;
        m.head = last->next;
        last->next = nullptr;
        m.n -= k;
        depot_put(first, k);
    }
    std::size_t given = 0;
    BlockDepot &bd = block_depot();
    bd.lock.lock_forever();
    void *blocks = bd.top;
    bd.top = nullptr;
    bd.lock.unlock();
    while (blocks) {
        void *next = *static_cast<void **>(blocks);
        unmap_block(blocks);
        given += kBlockBytes;
        blocks = next;
    }

    auto block_of = [](const Cell *c) {
        return reinterpret_cast<std::uintptr_t>(c) & ~static_cast<std::uintptr_t>(kBlockBytes - 1);
    };
    Depot &d = depot();
    d.lock.lock_forever();
    Cell *all = nullptr;  // every depot cell, one chain through next
    for (Cell *b = d.batches; b;) {
        Cell *nb = b->next_batch, *last = b;
        while (last->next) last = last->next;
        last->next = all;
        all = b;
        b = nb;
    }
    if (d.partial) {
        Cell *last = d.partial;
        while (last->next) last = last->next;
        last->next = all;
        all = d.partial;
    }
    d.batches = d.partial = nullptr;
    d.partial_n = 0;
    std::unordered_map<std::uintptr_t, std::size_t> free_cells;
    bool counted = true;
    try {
        for (Cell *c = all; c; c = c->next) free_cells[block_of(c)]++;
    } catch (...) {  // no memory to count with: keep everything
        counted = false;
    }
    Cell *keep = nullptr;
    int keep_n = 0;
    for (Cell *c = all; c;) {
        Cell *next = c->next;
        if (!counted || free_cells.find(block_of(c))->second != kBlockCells) {
            c->next = keep;
            keep = c;
            if (++keep_n == kBatch) {
                keep->next_batch = d.batches;
                d.batches = keep;
                keep = nullptr;
                keep_n = 0;
            }
        }
        c = next;
    }
    d.partial = keep;
    d.partial_n = keep_n;
    d.lock.unlock();
    if (!counted) return given;
    // Unmap runs of neighbouring blocks at once: fewer calls, fewer splits.
    std::vector<std::uintptr_t> gone;
    try {
        for (const auto &[block, n] : free_cells)
            if (n == kBlockCells) gone.push_back(block);
    } catch (...) {  // one at a time, then
        gone.clear();
        for (const auto &[block, n] : free_cells) {
            if (n != kBlockCells) continue;
            unmap_block(reinterpret_cast<void *>(block));
            given += kBlockBytes;
        }
    }
    std::sort(gone.begin(), gone.end());
    for (std::size_t i = 0; i < gone.size();) {
        std::size_t j = i + 1;
        while (j < gone.size() && gone[j] == gone[j - 1] + kBlockBytes) j++;
        munmap(reinterpret_cast<void *>(gone[i]), (j - i) * kBlockBytes);
        given += (j - i) * kBlockBytes;
        i = j;
    }
    return given;
}

#endif

}  // namespace weft::detail::cells
